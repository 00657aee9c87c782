//! `attachVideo`'s options and media items, read from JS with clear errors.

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::HtmlElement;

use super::player::Adapter;
use crate::engine::config::ResumeAt;

/// One item of the queue.
#[derive(Clone, Debug, PartialEq)]
pub struct Media {
    /// Passed to `thumbnailAt`.
    pub id: String,
    /// The video URL, or the page's function that makes one for each load.
    pub src: Src,
    /// Shown when no thumbnail is cached.
    pub poster: Option<String>,
}

/// Where a media item's video is.
#[derive(Clone, Debug, PartialEq)]
pub enum Src {
    /// One URL for every load.
    Url(String),
    /// `(reason) => url | Promise<url>`, called for each load (`load`), reload
    /// (`reload`) and resume (`resume`): the page can mint a fresh transcode session.
    Fresh(Function),
}

impl Src {
    /// The URL, when it is one.
    pub fn url(&self) -> Option<&str> {
        match self {
            Src::Url(url) => Some(url),
            Src::Fresh(_) => None,
        }
    }
}

/// How many thumbnails to prefetch and keep (the plan: `engine::prefetch`).
#[derive(Clone, Copy, Debug)]
pub struct Prefetch {
    /// Thumbnails fetched first from the session time (and of a preloaded item);
    /// the rest of the item follows once its duration is known.
    pub ahead: u32,
    /// Most images kept (those wanted last go first).
    pub max_entries: u32,
    /// Most bytes kept.
    pub max_bytes: u32,
}

impl Default for Prefetch {
    fn default() -> Self {
        Self { ahead: 12, max_entries: 1_000, max_bytes: 8 * 1024 * 1024 }
    }
}

/// What the caller gave `attachVideo`.
pub struct Options {
    pub media: Option<Media>,
    pub player: Option<Adapter>,
    pub thumbnail_at: Function,
    pub session_clock: Function,
    pub resume: Option<ResumeAt>,
    pub overlay: Option<HtmlElement>,
    pub prefetch: Prefetch,
    pub cache_name: String,
}

/// Cache Storage name used unless `cacheName` says otherwise.
pub const DEFAULT_CACHE_NAME: &str = "player-resilience-thumbnails";

/// A `TypeError` with `code: "CONFIG"`, `field` and `rule`, like a config error.
pub(super) fn invalid(field: &str, rule: &str) -> JsValue {
    let error = js_sys::TypeError::new(&format!("{field} {rule}"));
    for (key, value) in [("code", "CONFIG"), ("field", field), ("rule", rule)] {
        let _ = Reflect::set(&error, &key.into(), &value.into());
    }
    error.into()
}

fn field(object: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(object, &name.into()).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

fn function(object: &JsValue, name: &str) -> Result<Function, JsValue> {
    field(object, name)
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| invalid(&format!("options.{name}"), "must be a function"))
}

fn string(object: &JsValue, path: &str, name: &str, required: bool) -> Result<Option<String>, JsValue> {
    match field(object, name) {
        None if !required => Ok(None),
        value => match value.and_then(|v| v.as_string()).filter(|s| !s.is_empty()) {
            Some(s) => Ok(Some(s)),
            None => Err(invalid(&format!("{path}.{name}"), "must be a non-empty string")),
        },
    }
}

fn whole(object: &JsValue, path: &str, name: &str, min: u32, max: u32, into: &mut u32) -> Result<(), JsValue> {
    let Some(value) = field(object, name) else { return Ok(()) };
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && n >= f64::from(min) && n <= f64::from(max) => {
            *into = n as u32;
            Ok(())
        }
        _ => Err(invalid(&format!("{path}.{name}"), &format!("must be a whole number between {min} and {max}"))),
    }
}

/// Reads the item `preload` warms `{ id, poster? }` (a media item's other fields
/// are ignored): its id and poster URL.
pub fn read_preload(value: &JsValue) -> Result<(String, Option<String>), JsValue> {
    if !value.is_object() {
        return Err(invalid("item", "must be an object { id, poster? }"));
    }
    Ok((string(value, "item", "id", true)?.unwrap_or_default(), string(value, "item", "poster", false)?))
}

/// Reads a media item `{ id, src, poster? }`; `path` names it in errors.
pub fn read_media(value: &JsValue, path: &str) -> Result<Media, JsValue> {
    if !value.is_object() {
        return Err(invalid(path, "must be an object { id, src, poster? }"));
    }
    let id = string(value, path, "id", true)?.unwrap_or_default();
    let src = match field(value, "src").and_then(|f| f.dyn_into::<Function>().ok()) {
        Some(make) => Src::Fresh(make),
        None => string(value, path, "src", true)
            .map_err(|_| invalid(&format!("{path}.src"), "must be a non-empty string or a function"))?
            .map_or(Src::Url(String::new()), Src::Url),
    };
    let poster = string(value, path, "poster", false)?;
    Ok(Media { id, src, poster })
}

impl Options {
    /// Reads and checks the options object.
    pub fn read(options: &JsValue) -> Result<Self, JsValue> {
        if !options.is_object() {
            return Err(invalid("options", "must be an object"));
        }
        let media = field(options, "media").map(|m| read_media(&m, "options.media")).transpose()?;
        let resume = match field(options, "resume") {
            None => None,
            Some(v) => Some(
                v.as_string()
                    .as_deref()
                    .and_then(ResumeAt::parse)
                    .ok_or_else(|| invalid("options.resume", "must be one of session, stopped"))?,
            ),
        };
        let overlay = match field(options, "overlay") {
            None => None,
            Some(v) => Some(v.dyn_into::<HtmlElement>().map_err(|_| invalid("options.overlay", "must be an element"))?),
        };
        let mut prefetch = Prefetch::default();
        if let Some(p) = field(options, "prefetch") {
            whole(&p, "options.prefetch", "ahead", 0, 360, &mut prefetch.ahead)?;
            whole(&p, "options.prefetch", "maxEntries", 1, 10_000, &mut prefetch.max_entries)?;
            whole(&p, "options.prefetch", "maxBytes", 0, 64 * 1024 * 1024, &mut prefetch.max_bytes)?;
            if prefetch.ahead > prefetch.max_entries {
                return Err(invalid("options.prefetch.ahead", "must not exceed options.prefetch.maxEntries"));
            }
        }
        let player = field(options, "player").map(Adapter::read).transpose()?;
        Ok(Self {
            media,
            player,
            thumbnail_at: function(options, "thumbnailAt")?,
            session_clock: function(options, "sessionClock")?,
            resume,
            overlay,
            prefetch,
            cache_name: string(options, "options", "cacheName", false)?.unwrap_or_else(|| DEFAULT_CACHE_NAME.into()),
        })
    }
}
