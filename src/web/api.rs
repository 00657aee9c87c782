//! The package's JS API: `createResilience(config)` and the `Resilience` it returns.

use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{HtmlElement, HtmlVideoElement};

use super::browser::{global_fetch, wall_clock};
use super::convert::{to_js, to_value};
use super::errors;
use super::fetch;
use super::listeners::EVENT_NAMES;
use super::runtime::Runtime;
use super::toasts;
use super::video::{read_media, read_preload, Options, Watch};
use crate::engine::config::Config;
use crate::engine::resilience::{EngineSnapshot, SNAPSHOT_VERSION};

/// Reads and validates a player config (`undefined` or `null` = all defaults).
fn read_config(config: &JsValue) -> Result<Config, JsValue> {
    Config::from_value(&to_value(config)).map_err(|e| errors::config(&e))
}

/// Creates the module for a player. Throws an `Error` with `code: "CONFIG"` and
/// `field` when the config is invalid. With `enabled: false` (the default) it is a
/// pure pass-through: no timers, storage or listeners.
#[wasm_bindgen(js_name = createResilience, skip_typescript)]
pub fn create_resilience(config: JsValue) -> Result<Resilience, JsValue> {
    let config = read_config(&config)?;
    let runtime = if config.enabled { Some(Runtime::start(config)?) } else { None };
    Ok(Resilience { runtime })
}

/// Validates a player config without starting anything; throws like
/// `createResilience`.
#[wasm_bindgen(js_name = validateConfig, skip_typescript)]
pub fn validate_config(config: JsValue) -> Result<(), JsValue> {
    read_config(&config).map(drop)
}

/// One player's resilience: a resilient `fetch`, events, and breaker controls.
#[wasm_bindgen(skip_typescript)]
pub struct Resilience {
    runtime: Option<Rc<Runtime>>,
}

#[wasm_bindgen]
impl Resilience {
    /// The running instance, unless disabled or disposed.
    fn live(&self) -> Option<Rc<Runtime>> {
        self.runtime.clone().filter(|rt| !rt.is_disposed())
    }

    /// Whether the module is on (enabled and not disposed).
    #[wasm_bindgen(getter)]
    pub fn enabled(&self) -> bool {
        self.live().is_some()
    }

    /// `fetch(input, init)` with timeouts, retries and the breakers; the browser's
    /// own fetch when disabled or disposed.
    pub fn fetch(&self, input: JsValue, init: JsValue) -> Promise {
        match self.live() {
            Some(runtime) => future_to_promise(fetch::run(runtime, input, init)),
            None => global_fetch(&input, &init),
        }
    }

    /// Listens to `notice`, `state`, `retry`, `probe`, `metrics` or `fallback` events; returns
    /// a function that unsubscribes. Throws for an unknown event name.
    pub fn on(&self, name: &str, listener: Function) -> Result<Function, JsValue> {
        if !EVENT_NAMES.contains(&name) {
            let known = EVENT_NAMES.join(", ");
            return Err(js_sys::TypeError::new(&format!("unknown event '{name}'; expected one of {known}")).into());
        }
        let Some(runtime) = self.live() else {
            return Ok(Closure::<dyn FnMut()>::new(|| {}).into_js_value().unchecked_into());
        };
        let id = runtime.add_listener(name, listener);
        let weak = Rc::downgrade(&runtime);
        let off = move || {
            if let (Some(runtime), Some(id)) = (weak.upgrade(), id) {
                runtime.remove_listener(id);
            }
        };
        Ok(Closure::<dyn FnMut()>::new(off).into_js_value().unchecked_into())
    }

    /// The breakers' state: what is persisted and shared across tabs.
    pub fn snapshot(&self) -> JsValue {
        let empty = || EngineSnapshot { version: SNAPSHOT_VERSION, saved_at: wall_clock(), services: Vec::new() };
        let snapshot = self.live().and_then(|rt| rt.read(|e, now| e.snapshot(now, wall_clock())));
        to_js(&snapshot.unwrap_or_else(empty).to_value())
    }

    /// Counters, error rates, latency histograms and time in state per service.
    pub fn metrics(&self) -> JsValue {
        self.live().and_then(|rt| rt.read(|e, now| to_js(&e.metrics(now).to_value()))).unwrap_or(JsValue::NULL)
    }

    /// Closes a service's breaker by hand; false for an unknown service.
    pub fn reset(&self, service: &str) -> bool {
        self.live().and_then(|rt| rt.engine(|e, now| e.reset(now, service))).unwrap_or(false)
    }

    /// Holds a service's breaker open until `reset`; false for an unknown service.
    pub fn isolate(&self, service: &str) -> bool {
        self.live().and_then(|rt| rt.engine(|e, now| e.isolate(now, service))).unwrap_or(false)
    }

    /// The person asked to retry: probe every open breaker now.
    #[wasm_bindgen(js_name = retryNow)]
    pub fn retry_now(&self) {
        if let Some(rt) = self.live() {
            rt.engine(|e, now| e.retry_now(now));
        }
    }

    /// Watches a `<video>`: stalls and errors reload the source, then fall back to
    /// cached thumbnails that follow the session clock; the video resumes when the
    /// server is back. Throws a `TypeError` with `code: "CONFIG"` and `field` for
    /// bad options.
    #[wasm_bindgen(js_name = attachVideo)]
    pub fn attach_video(&self, video: JsValue, options: JsValue) -> Result<VideoHandle, JsValue> {
        let video = video
            .dyn_into::<HtmlVideoElement>()
            .map_err(|_| js_sys::TypeError::new("attachVideo: the first argument must be a <video> element"))?;
        let options = Options::read(&options)?;
        let Some(runtime) = self.live() else {
            // Disabled: the media is loaded as the page would, and nothing is watched.
            let media_id = options.media.map(|m| {
                if let Some(url) = m.src.url() {
                    video.set_src(url);
                }
                m.id
            });
            return Ok(VideoHandle { watch: None, video, media_id });
        };
        Ok(VideoHandle { watch: Some(Watch::start(runtime, video.clone(), options)), video, media_id: None })
    }

    /// Shows notices as toasts in `container` (default: a stack at the bottom of
    /// the page); returns a function that stops and removes them.
    #[wasm_bindgen(js_name = renderToasts)]
    pub fn render_toasts(&self, container: JsValue) -> Result<Function, JsValue> {
        let container = match container.is_undefined() || container.is_null() {
            true => None,
            false => Some(
                container
                    .dyn_into::<HtmlElement>()
                    .map_err(|_| js_sys::TypeError::new("renderToasts: the container must be an element"))?,
            ),
        };
        let rendered = self.live().and_then(|rt| Some((Rc::downgrade(&rt), toasts::render(&rt, container)?)));
        let mut rendered = rendered.map(|(weak, (id, clear))| (weak, id, clear));
        let stop = move || {
            if let Some((weak, id, clear)) = rendered.take() {
                if let Some(rt) = weak.upgrade() {
                    rt.remove_hook(id);
                }
                clear();
            }
        };
        Ok(Closure::<dyn FnMut()>::new(stop).into_js_value().unchecked_into())
    }

    /// Stops everything: requests in flight reject with `ABORTED`, and no timer,
    /// listener, channel or lock is left. Breaker state stays stored.
    pub fn dispose(&self) {
        if let Some(rt) = &self.runtime {
            rt.dispose();
        }
    }
}

impl Drop for Resilience {
    fn drop(&mut self) {
        self.dispose();
    }
}

/// The handle `attachVideo` returns.
#[wasm_bindgen(skip_typescript)]
pub struct VideoHandle {
    watch: Option<Rc<Watch>>,
    video: HtmlVideoElement,
    /// The media id when disabled (nothing is watched).
    media_id: Option<String>,
}

#[wasm_bindgen]
impl VideoHandle {
    /// Switches to another media item `{ id, src, poster? }`: every timer and
    /// request of the previous one stops first.
    pub fn load(&mut self, media: JsValue) -> Result<(), JsValue> {
        let media = read_media(&media, "media")?;
        match &self.watch {
            Some(watch) => watch.load(media),
            None => {
                if let Some(url) = media.src.url() {
                    self.video.set_src(url);
                }
                self.media_id = Some(media.id);
            }
        }
        Ok(())
    }

    /// Warms the fallback for the item the page will play next `{ id, poster? }`:
    /// its poster and first thumbnails are prefetched while the video is healthy.
    pub fn preload(&self, item: JsValue) -> Result<(), JsValue> {
        let (id, poster) = read_preload(&item)?;
        if let Some(watch) = &self.watch {
            watch.preload(id, poster);
        }
        Ok(())
    }

    /// `healthy`, `stalled`, `fallback` or `resuming`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        self.watch.as_ref().map_or("healthy", |w| w.health()).into()
    }

    /// The current media item's id.
    #[wasm_bindgen(getter, js_name = mediaId)]
    pub fn media_id(&self) -> Option<String> {
        match &self.watch {
            Some(watch) => watch.media_id(),
            None => self.media_id.clone(),
        }
    }

    /// Stops watching; the element keeps its current source. (Dropping the handle
    /// does not: the watch lasts until this or the instance's `dispose`.)
    pub fn dispose(&self) {
        if let Some(watch) = &self.watch {
            watch.dispose();
        }
    }
}
