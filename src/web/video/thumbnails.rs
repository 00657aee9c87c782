//! The thumbnail store: seek thumbnails and posters kept in the Cache Storage API
//! (in memory where it is missing or full), bounded in count and bytes (those the
//! prefetch plan wants last go first), under keys without secrets, and found again
//! exactly, by the nearest time, or as the poster. Each stored response carries its
//! media id, offset and size in headers, so a page loaded later rebuilds the index
//! from Cache Storage.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, Cache, Headers, Request, Response, ResponseInit};

use crate::engine::prefetch::{Image, Wanted};
use crate::engine::redact::redact_url;
use crate::engine::Millis;

/// Headers of a stored image: its media id (URI-encoded), its offset in ms or
/// `poster`, and its size in bytes.
const MEDIA_HEADER: &str = "x-player-resilience-media";
const OFFSET_HEADER: &str = "x-player-resilience-offset";
const SIZE_HEADER: &str = "x-player-resilience-size";

/// Where a shown frame came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The thumbnail for the session time.
    Cache,
    /// The cached thumbnail nearest to it.
    Nearest,
    /// The media's poster.
    Poster,
    /// Nothing cached: a neutral placeholder with the session time.
    Placeholder,
}

impl Source {
    /// The name used in `fallback` events.
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Nearest => "nearest",
            Source::Poster => "poster",
            Source::Placeholder => "placeholder",
        }
    }
}

/// One stored image: a thumbnail (`offset_ms`) or a poster (`None`).
struct Entry {
    media: String,
    offset_ms: Option<Millis>,
    key: String,
    size: f64,
    /// The image itself when Cache Storage could not keep it.
    in_memory: Option<Blob>,
}

/// The store; shared as `Rc<RefCell<_>>`, never borrowed across an `await`.
pub struct Thumbnails {
    cache_name: String,
    /// Opening the cache and rebuilding the index: resolves with the cache, or
    /// `undefined` where there is none.
    opening: Option<Promise>,
    secrets: Vec<String>,
    entries: Vec<Entry>,
    bytes: f64,
    max_entries: usize,
    max_bytes: f64,
}

/// A store shared by the watcher's tasks.
pub type Shared = Rc<RefCell<Thumbnails>>;

async fn wait(promise: Result<Promise, JsValue>) -> Option<JsValue> {
    JsFuture::from(promise.ok()?).await.ok()
}

impl Thumbnails {
    /// An empty store over the cache named `cache_name`.
    pub fn new(cache_name: String, secrets: Vec<String>, max_entries: u32, max_bytes: u32) -> Shared {
        Rc::new(RefCell::new(Self {
            cache_name,
            opening: None,
            secrets,
            entries: Vec::new(),
            bytes: 0.0,
            max_entries: max_entries as usize,
            max_bytes: f64::from(max_bytes),
        }))
    }

    /// The cache key for an image URL: the URL with its secrets redacted.
    pub fn key(&self, url: &str) -> String {
        redact_url(url, &self.secrets)
    }

    /// The images held, oldest first.
    pub fn held(&self) -> Vec<(&str, Image)> {
        self.entries.iter().map(|e| (e.media.as_str(), e.offset_ms)).collect()
    }

    /// Whether an image of `media` (the poster with `None`) is held.
    fn holds(&self, media: &str, offset_ms: Image) -> bool {
        self.entries.iter().any(|e| e.media == media && e.offset_ms == offset_ms)
    }

    /// Whether one more image (of the mean size held) would not fit: a new one
    /// means dropping one.
    pub fn is_full(&self) -> bool {
        let mean = if self.entries.is_empty() { 0.0 } else { self.bytes / self.entries.len() as f64 };
        self.entries.len() >= self.max_entries || self.bytes + mean > self.max_bytes
    }

    /// The most images it keeps.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The stored entry to show for `offset_ms`: exact, else nearest, else poster.
    fn pick(&self, media: &str, offset_ms: Millis) -> Option<(&Entry, Source)> {
        let mine = || self.entries.iter().filter(move |e| e.media == media);
        if let Some(e) = mine().find(|e| e.offset_ms == Some(offset_ms)) {
            return Some((e, Source::Cache));
        }
        let nearest = mine().filter_map(|e| Some((e, e.offset_ms?.abs_diff(offset_ms)))).min_by_key(|(_, d)| *d);
        if let Some((e, _)) = nearest {
            return Some((e, Source::Nearest));
        }
        mine().find(|e| e.offset_ms.is_none()).map(|e| (e, Source::Poster))
    }

    /// Drops the images `wanted` needs least until the bounds hold; returns
    /// their cache keys.
    fn evict(&mut self, wanted: &Wanted) -> Vec<String> {
        let mut gone = Vec::new();
        while self.entries.len() > self.max_entries || self.bytes > self.max_bytes {
            let Some(victim) = wanted.victim(&self.held()) else { break };
            if victim >= self.entries.len() {
                break;
            }
            let e = self.entries.remove(victim);
            self.bytes -= e.size;
            if e.in_memory.is_none() {
                gone.push(e.key);
            }
        }
        gone
    }

    /// Adds an image to the index (replacing one of the same media and offset).
    fn insert(&mut self, entry: Entry) {
        self.entries.retain(|e| !(e.media == entry.media && e.offset_ms == entry.offset_ms));
        self.bytes += entry.size;
        self.entries.push(entry);
    }
}

/// The Cache Storage cache, opened on first use (then its index is rebuilt
/// from what earlier pages stored; every caller waits for that); `None` where
/// there is none (insecure origins, some private modes).
async fn cache(store: &Shared) -> Option<Cache> {
    let opening = store.try_borrow().ok()?.opening.clone();
    if let Some(opening) = opening {
        return wait(Ok(opening)).await.and_then(|c| c.dyn_into::<Cache>().ok());
    }
    // The first caller opens and restores; the others wait for its promise.
    let mut done = None;
    let opening = Promise::new(&mut |resolve, _| done = Some(resolve));
    let name = {
        let mut s = store.try_borrow_mut().ok()?;
        s.opening = Some(opening);
        s.cache_name.clone()
    };
    let caches = web_sys::window().and_then(|w| w.caches().ok());
    let opened = match caches {
        Some(caches) => wait(Ok(caches.open(&name))).await.and_then(|c| c.dyn_into::<Cache>().ok()),
        None => None,
    };
    if let Some(cache) = &opened {
        restore(store, cache).await;
    }
    if let Some(done) = done {
        let _ = done.call1(&JsValue::UNDEFINED, opened.as_ref().map_or(&JsValue::UNDEFINED, |c| c.as_ref()));
    }
    opened
}

/// Adds what earlier pages stored to the index, and deletes what it cannot
/// place or hold within its bounds.
async fn restore(store: &Shared, cache: &Cache) {
    let Some(keys) = wait(Ok(cache.keys())).await else { return };
    for request in js_sys::Array::from(&keys).iter() {
        let Ok(request) = request.dyn_into::<Request>() else { continue };
        let key = request.url();
        let stored = wait(Ok(cache.match_with_request(&request))).await.and_then(|r| r.dyn_into::<Response>().ok());
        let entry = stored.and_then(|r| described(&r.headers(), &key));
        let placed = {
            let Ok(mut s) = store.try_borrow_mut() else { return };
            match entry {
                Some(entry) if s.holds(&entry.media, entry.offset_ms) => true,
                Some(entry) if s.entries.len() < s.max_entries && s.bytes + entry.size <= s.max_bytes => {
                    s.insert(entry);
                    true
                }
                _ => false,
            }
        };
        // Over the bounds, or not placeable: gone, so the cache stays bounded.
        if !placed {
            let _ = wait(Ok(cache.delete_with_request(&request))).await;
        }
    }
}

/// The index entry a stored response's headers describe.
fn described(headers: &Headers, key: &str) -> Option<Entry> {
    let get = |name| headers.get(name).ok().flatten();
    let media = js_sys::decode_uri_component(&get(MEDIA_HEADER)?).ok()?.as_string()?;
    let offset_ms = match get(OFFSET_HEADER)?.as_str() {
        "poster" => None,
        ms => Some(ms.parse().ok()?),
    };
    // Whole bytes: integers, so no float parsing or formatting is linked in.
    let size = get(SIZE_HEADER)?.parse::<u64>().ok()? as f64;
    Some(Entry { media, offset_ms, key: key.to_owned(), size, in_memory: None })
}

/// The response to store for an image: its bytes and type, and what the index
/// needs to find it again.
fn stored(blob: &Blob, media: &str, offset_ms: Option<Millis>) -> Option<Response> {
    let headers = Headers::new().ok()?;
    headers.set("content-type", &blob.type_()).ok()?;
    headers.set(MEDIA_HEADER, &String::from(js_sys::encode_uri_component(media))).ok()?;
    let offset = offset_ms.map_or_else(|| "poster".to_owned(), |ms| ms.to_string());
    headers.set(OFFSET_HEADER, &offset).ok()?;
    headers.set(SIZE_HEADER, &(blob.size() as u32).to_string()).ok()?;
    let init = ResponseInit::new();
    init.set_headers(&headers);
    Response::new_with_opt_blob_and_init(Some(blob), &init).ok()
}

/// Keeps an image response under `url`'s key, then drops what `wanted` needs
/// least while over the bounds. Only `200` responses with an `image/*` type are
/// kept; returns whether it was (and was not the one dropped).
pub async fn keep(
    store: &Shared,
    wanted: &Wanted,
    media: &str,
    offset_ms: Option<Millis>,
    url: &str,
    response: &Response,
) -> bool {
    let is_image = response.headers().get("content-type").ok().flatten().is_some_and(|t| t.starts_with("image/"));
    if response.status() != 200 || !is_image {
        return false;
    }
    let Some(blob) = wait(response.blob()).await.and_then(|b| b.dyn_into::<Blob>().ok()) else {
        return false;
    };
    let Ok(key) = store.try_borrow().map(|s| s.key(url)) else { return false };
    let cache = cache(store).await;
    let cached = match (&cache, stored(&blob, media, offset_ms)) {
        (Some(cache), Some(response)) => wait(Ok(cache.put_with_str(&key, &response))).await.is_some(),
        _ => false,
    };
    let (gone, held) = {
        let Ok(mut s) = store.try_borrow_mut() else { return false };
        let size = blob.size();
        let in_memory = (!cached).then_some(blob);
        s.insert(Entry { media: media.to_owned(), offset_ms, key, size, in_memory });
        (s.evict(wanted), s.holds(media, offset_ms))
    };
    if let Some(cache) = cache {
        for key in gone {
            let _ = wait(Ok(cache.delete_with_str(&key))).await;
        }
    }
    held
}

/// Opens the cache (and rebuilds the index from it) ahead of the first need.
pub async fn open(store: &Shared) {
    let _ = cache(store).await;
}

/// The image to show for `media` at `offset_ms`, whose exact thumbnail URL is
/// `exact_url`: that thumbnail (also from an earlier page load), else the
/// nearest stored one, else the poster; `None` means show the placeholder.
pub async fn find(store: &Shared, media: &str, offset_ms: Millis, exact_url: Option<&str>) -> Option<(Blob, Source)> {
    // Opened first: the index is rebuilt from an earlier page's images then.
    let cache = cache(store).await;
    let (picked, exact_key) = {
        let s = store.try_borrow().ok()?;
        let picked = s.pick(media, offset_ms).map(|(e, source)| (e.key.clone(), e.in_memory.clone(), source));
        (picked, exact_url.map(|u| s.key(u)))
    };
    let matched = |key: String| {
        let cache = cache.clone();
        async move {
            let response = wait(Ok(cache?.match_with_str(&key))).await?.dyn_into::<Response>().ok()?;
            wait(response.blob()).await?.dyn_into::<Blob>().ok()
        }
    };
    match picked {
        Some((_, Some(blob), source)) => Some((blob, source)),
        Some((key, None, Source::Cache)) => Some((matched(key).await?, Source::Cache)),
        picked => {
            // Not stored in this page's index: an earlier page may have cached it.
            if let Some(blob) = match exact_key {
                Some(key) => matched(key).await,
                None => None,
            } {
                return Some((blob, Source::Cache));
            }
            let (key, _, source) = picked?;
            Some((matched(key).await?, source))
        }
    }
}
