//! The thumbnail store: seek thumbnails and posters kept in the Cache Storage API
//! (in memory where it is missing or full), bounded in count and bytes, under keys
//! without secrets, and found again exactly, by the nearest time, or as the poster.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, Cache, Response};

use crate::engine::redact::redact_url;
use crate::engine::Millis;

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
    cache: Option<Cache>,
    /// Whether opening the cache was already tried.
    opened: bool,
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
            cache: None,
            opened: false,
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

    /// Whether a thumbnail (or, with `None`, the poster) of `media` is stored.
    pub fn has(&self, media: &str, offset_ms: Option<Millis>) -> bool {
        self.entries.iter().any(|e| e.media == media && e.offset_ms == offset_ms)
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

    /// Drops the oldest entries until the bounds hold; returns their cache keys.
    fn evict(&mut self) -> Vec<String> {
        let mut gone = Vec::new();
        while !self.entries.is_empty() && (self.entries.len() > self.max_entries || self.bytes > self.max_bytes) {
            let e = self.entries.remove(0);
            self.bytes -= e.size;
            if e.in_memory.is_none() {
                gone.push(e.key);
            }
        }
        gone
    }
}

/// The Cache Storage cache, opened on first use; `None` where there is none
/// (insecure origins, some private modes).
async fn cache(store: &Shared) -> Option<Cache> {
    let name = {
        let s = store.try_borrow().ok()?;
        if s.opened {
            return s.cache.clone();
        }
        s.cache_name.clone()
    };
    let caches = web_sys::window().and_then(|w| w.caches().ok());
    let opened = match caches {
        Some(caches) => wait(Ok(caches.open(&name))).await.and_then(|c| c.dyn_into::<Cache>().ok()),
        None => None,
    };
    let mut s = store.try_borrow_mut().ok()?;
    s.opened = true;
    if s.cache.is_none() {
        s.cache = opened;
    }
    s.cache.clone()
}

/// Keeps an image response under `url`'s key. Only `200` responses with an
/// `image/*` type are kept; returns whether it was.
pub async fn keep(store: &Shared, media: &str, offset_ms: Option<Millis>, url: &str, response: &Response) -> bool {
    let is_image = response.headers().get("content-type").ok().flatten().is_some_and(|t| t.starts_with("image/"));
    if response.status() != 200 || !is_image {
        return false;
    }
    let Some(blob) = wait(response.clone().and_then(|r| r.blob())).await.and_then(|b| b.dyn_into::<Blob>().ok()) else {
        return false;
    };
    let Ok(key) = store.try_borrow().map(|s| s.key(url)) else { return false };
    let cache = cache(store).await;
    let cached = match &cache {
        Some(cache) => wait(Ok(cache.put_with_str(&key, response))).await.is_some(),
        None => false,
    };
    let gone = {
        let Ok(mut s) = store.try_borrow_mut() else { return false };
        s.entries.retain(|e| !(e.media == media && e.offset_ms == offset_ms));
        let size = blob.size();
        s.bytes += size;
        let in_memory = (!cached).then_some(blob);
        s.entries.push(Entry { media: media.to_owned(), offset_ms, key, size, in_memory });
        s.evict()
    };
    if let Some(cache) = cache {
        for key in gone {
            let _ = wait(Ok(cache.delete_with_str(&key))).await;
        }
    }
    true
}

/// The image to show for `media` at `offset_ms`, whose exact thumbnail URL is
/// `exact_url`: that thumbnail (also from an earlier page load), else the
/// nearest stored one, else the poster; `None` means show the placeholder.
pub async fn find(store: &Shared, media: &str, offset_ms: Millis, exact_url: Option<&str>) -> Option<(Blob, Source)> {
    let (picked, exact_key) = {
        let s = store.try_borrow().ok()?;
        let picked = s.pick(media, offset_ms).map(|(e, source)| (e.key.clone(), e.in_memory.clone(), source));
        (picked, exact_url.map(|u| s.key(u)))
    };
    let cache = cache(store).await;
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
