//! `attachVideo`: the video watchdog, the cached-thumbnail fallback and the resume.
//!
//! The pure session model ([`Playback`]) decides; this module carries its actions
//! out on the element. Every task of a media item (source checks, reload waits,
//! prefetches, fallback frames) carries the item's *generation* and gives up when
//! it changed, so nothing started for one media item can act on the next. No
//! borrow of the state is held while calling into JS or into the runtime.

mod options;
mod overlay;
mod player;
mod thumbnails;

use std::cell::{Cell, RefCell, RefMut};
use std::rc::{Rc, Weak};

use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{AbortController, AbortSignal, Headers, HtmlElement, HtmlVideoElement, Response, Url};

use super::attempt::read_text;
use super::browser::{is_visible, now};
use super::convert::to_js;
use super::fetch;
use super::runtime::{Attachment, Runtime};
use crate::engine::breaker::BreakerState;
use crate::engine::classify::says_unreadable;
use crate::engine::config::PlaybackConfig;
use crate::engine::notify::{NoticeKind, Signal};
use crate::engine::playback::{
    clock_text, Playback, PlaybackAction, VideoHealth, VideoSample, MAX_TRIALS, PREFETCH_IDLE_MS, PREFETCH_PAUSE_MS,
};
use crate::engine::prefetch::{Image, Item, Wanted};
use crate::engine::resilience::Event;
use crate::engine::value::Value;
use crate::engine::Millis;
pub use options::{read_media, read_preload, Media, Options, Src};
use overlay::{placeholder, Overlay};
use player::{Adapter, PlayerError};
use thumbnails::{Shared, Source, Thumbnails};

/// How often the element's `currentTime` is sampled.
const SAMPLE_MS: u32 = 250;
/// How often the fallback view follows the session clock.
const FRAME_MS: u32 = 1_000;

/// The player's error listener and the unsubscribe function `onError` gave.
type ErrorSubscription = (Closure<dyn FnMut(JsValue)>, Option<Function>);

/// What a source check found.
enum Check {
    /// The server answered the range request.
    Ok,
    /// The service's breaker is open.
    Open,
    /// The server failed.
    Failed,
    /// The server refuses to read the file (404, 403, 410): not a dead server.
    Unreadable,
    /// Aborted or offline: not the server's fault, nothing to do.
    Ignored,
}

/// The fallback session while it lasts.
struct Fallback {
    overlay: Option<Overlay>,
    _ticker: Interval,
    /// The frame shown: its thumbnail offset and source.
    shown: Option<(Millis, Source)>,
    /// The object URL shown (revoked when replaced).
    url: Option<String>,
    /// A frame is being looked up.
    busy: bool,
    /// When to try the source again if the breaker is closed.
    retry_at: Millis,
}

struct State {
    media: Option<Media>,
    service: Option<usize>,
    playback: Playback,
    generation: u32,
    /// The latest source check; results of older ones are ignored.
    check: u32,
    /// Aborts the current media's checks and prefetches.
    requests: Option<AbortController>,
    reload: Option<Timeout>,
    /// One-shot listeners of the load under way (seek, play, loaded).
    loading: Vec<EventListener>,
    /// The page's gesture listeners while a refused play awaits one.
    gesture: Vec<EventListener>,
    fallback: Option<Fallback>,
    /// The generation whose prefetch loop is running.
    prefetching: Option<u32>,
    prefetch_not_before: Millis,
    /// The item the page will play next (`preload`): its id and poster.
    preload: Option<(String, Option<String>)>,
    trials: bool,
    /// The element's `src` as this module last set it (with a player: the URL
    /// the player loaded, while loaded).
    own_src: Option<String>,
    /// The source URL of the latest load (a fresh one for each with `src()`).
    src_url: Option<String>,
    /// The check whose load the player's errors were last acted on (once per load).
    reacted: Option<u32>,
    player_errors: Option<ErrorSubscription>,
    hook: Option<u32>,
    sampler: Option<Interval>,
    listeners: Vec<EventListener>,
    disposed: bool,
}

/// One watched video element.
pub struct Watch {
    runtime: Rc<Runtime>,
    video: HtmlVideoElement,
    thumbnail_at: Function,
    session_clock: Function,
    overlay: Option<HtmlElement>,
    /// The streaming library's adapter; `None`: the element's own `src`.
    player: Option<Adapter>,
    prefetch: options::Prefetch,
    playback_config: PlaybackConfig,
    thumbs: Shared,
    state: RefCell<State>,
}

fn with(weak: &Weak<Watch>, act: impl FnOnce(&Rc<Watch>)) {
    if let Some(watch) = weak.upgrade() {
        act(&watch);
    }
}

impl Watch {
    /// Starts watching `video`, and loads `options.media` if given.
    pub fn start(runtime: Rc<Runtime>, video: HtmlVideoElement, options: Options) -> Rc<Self> {
        let mut playback_config = runtime.read(|e, _| e.config().playback.clone()).unwrap_or_default();
        if let Some(resume) = options.resume {
            playback_config.resume = resume;
        }
        let p = options.prefetch;
        let thumbs = Thumbnails::new(options.cache_name, runtime.secrets(), p.max_entries, p.max_bytes);
        let watch = Rc::new(Self {
            runtime,
            video,
            thumbnail_at: options.thumbnail_at,
            session_clock: options.session_clock,
            overlay: options.overlay,
            player: options.player,
            prefetch: p,
            thumbs,
            state: RefCell::new(State {
                media: None,
                service: None,
                playback: Playback::new(&playback_config),
                generation: 0,
                check: 0,
                requests: None,
                reload: None,
                loading: Vec::new(),
                gesture: Vec::new(),
                fallback: None,
                prefetching: None,
                prefetch_not_before: 0,
                preload: None,
                trials: false,
                own_src: None,
                src_url: None,
                reacted: None,
                player_errors: None,
                hook: None,
                sampler: None,
                listeners: Vec::new(),
                disposed: false,
            }),
            playback_config,
        });
        let weak = Rc::downgrade(&watch);
        let hook = {
            let weak = weak.clone();
            watch.runtime.add_hook(Rc::new(move |event: &Event| {
                if let Event::State { service, to, .. } = event {
                    with(&weak, |w| w.on_state(service, *to));
                }
            }))
        };
        let listeners = watch.listen(&weak);
        let sampler = {
            let weak = weak.clone();
            Interval::new(SAMPLE_MS, move || with(&weak, |w| w.sample()))
        };
        let player_errors = watch.player.as_ref().map(|player| {
            let weak = weak.clone();
            let listener = Closure::<dyn FnMut(JsValue)>::new(move |error: JsValue| {
                with(&weak, |w| w.on_player_error(&PlayerError::read(&error)));
            });
            let unsubscribe = player.on_error(listener.as_ref());
            (listener, unsubscribe)
        });
        if let Some(mut st) = watch.st() {
            st.hook = hook;
            st.listeners = listeners;
            st.sampler = Some(sampler);
            st.player_errors = player_errors;
        }
        // The cached images of earlier pages, indexed before the fallback needs them.
        let thumbs = watch.thumbs.clone();
        spawn_local(async move { thumbnails::open(&thumbs).await });
        // Watched until disposed, even if the page drops the handle.
        watch.runtime.attach(watch.clone());
        if let Some(media) = options.media {
            watch.load(media);
        }
        watch
    }

    fn st(&self) -> Option<RefMut<'_, State>> {
        self.state.try_borrow_mut().ok()
    }

    /// The element's events the watchdog follows.
    fn listen(&self, weak: &Weak<Self>) -> Vec<EventListener> {
        let on = |name: &'static str, act: fn(&Rc<Self>)| {
            let weak = weak.clone();
            EventListener::new(&self.video, name, move |_| with(&weak, act))
        };
        vec![
            on("playing", |w| {
                let action = w.st().and_then(|mut st| st.playback.on_playing(now()));
                w.act(action);
            }),
            on("error", Self::on_media_error),
            // Pauses and seeks are sampled at once, so trouble right after one
            // knows whether the video was playing.
            on("pause", Self::sample),
            on("play", Self::sample),
            on("seeking", Self::sample),
            on("waiting", Self::sample),
            on("stalled", Self::sample),
            on("emptied", Self::on_emptied),
            on("progress", |w| {
                if let Some(mut st) = w.st() {
                    st.playback.on_data(now());
                }
            }),
        ]
    }

    /// The workout clock, seconds (NaN if the caller's function fails).
    fn session_s(&self) -> f64 {
        self.session_clock.call0(&JsValue::NULL).ok().and_then(|v| v.as_f64()).unwrap_or(f64::NAN)
    }

    /// The caller's URL for `media`'s thumbnail at `offset_ms`.
    fn thumbnail_url(&self, media: &str, offset_ms: Millis) -> Option<String> {
        let seconds = JsValue::from_f64(offset_ms as f64 / 1_000.0);
        self.thumbnail_at.call2(&JsValue::NULL, &media.into(), &seconds).ok()?.as_string()
    }

    fn generation(&self) -> Option<u32> {
        self.state.try_borrow().ok().filter(|st| !st.disposed).map(|st| st.generation)
    }

    fn signal(&self, signal: Signal) {
        let service = self.state.try_borrow().ok().and_then(|st| st.service);
        if let Some(service) = service {
            self.runtime.engine(|e, now| e.playback_signal(now, service, signal));
        }
    }

    /// Loads a media item: everything of the previous one stops first.
    pub fn load(self: &Rc<Self>, media: Media) {
        let service = media.src.url().and_then(|url| self.service_of(url));
        // Play once loaded if the page wants it playing (autoplay, or play() called),
        // or the item it replaces was playing when its trouble began (a switch
        // during an outage: the element has no source, so it is paused).
        let in_trouble = self.state.try_borrow().is_ok_and(|st| {
            st.playback.health() != VideoHealth::Healthy && st.playback.was_playing() && !st.playback.is_blocked()
        });
        let play = self.video.autoplay() || !self.video.paused() || in_trouble;
        self.leave_fallback();
        let (previous, generation) = {
            let Some(mut st) = self.st() else { return };
            if st.disposed {
                return;
            }
            st.generation = st.generation.wrapping_add(1);
            st.check = st.check.wrapping_add(1);
            st.reload = None;
            st.loading.clear();
            st.gesture.clear();
            if let Some(requests) = st.requests.take() {
                requests.abort();
            }
            st.requests = AbortController::new().ok();
            st.prefetching = None;
            st.prefetch_not_before = 0;
            if st.preload.as_ref().is_some_and(|(id, _)| *id == media.id) {
                st.preload = None;
            }
            st.trials = false;
            st.playback = Playback::new(&self.playback_config);
            st.playback.expect_playing(play);
            st.media = Some(media);
            st.src_url = None;
            (std::mem::replace(&mut st.service, service), st.generation)
        };
        self.watch_service(previous, service);
        self.detach_source();
        self.check_source(generation, 0.0, play, "load");
    }

    /// The service whose breaker guards `url`.
    fn service_of(&self, url: &str) -> Option<usize> {
        self.runtime.read(|e, _| e.route(url).map(|r| r.service)).flatten()
    }

    /// Tells the engine the video moved from service `previous` to `service`.
    fn watch_service(&self, previous: Option<usize>, service: Option<usize>) {
        if previous == service {
            return;
        }
        self.runtime.engine(|e, _| {
            if let Some(s) = previous {
                e.watch_video(s, false);
            }
            if let Some(s) = service {
                e.watch_video(s, true);
            }
        });
    }

    /// Warms the fallback for the item the page will play next: its poster and
    /// first `prefetch.ahead` thumbnails are prefetched after the playing item's
    /// first ones, so a switch during an outage still has frames.
    pub fn preload(&self, id: String, poster: Option<String>) {
        if let Some(mut st) = self.st() {
            st.preload = Some((id, poster));
            st.prefetch_not_before = 0;
        }
    }

    /// Stops watching: timers, listeners, requests and the overlay go; the
    /// element is left as it is.
    pub fn dispose(&self) {
        let (hook, service, fallback) = {
            let Some(mut st) = self.st() else { return };
            if st.disposed {
                return;
            }
            st.disposed = true;
            st.sampler = None;
            st.listeners.clear();
            st.reload = None;
            st.loading.clear();
            st.gesture.clear();
            if let Some(requests) = st.requests.take() {
                requests.abort();
            }
            if let Some((_listener, Some(unsubscribe))) = st.player_errors.take() {
                let _ = unsubscribe.call0(&JsValue::NULL);
            }
            (st.hook.take(), st.service.take(), st.fallback.take())
        };
        if let Some(player) = &self.player {
            player.detach();
        }
        if let Some(fallback) = fallback {
            self.drop_fallback(fallback, service);
        }
        if let Some(id) = hook {
            self.runtime.remove_hook(id);
        }
        if let Some(s) = service {
            self.runtime.engine(|e, _| e.watch_video(s, false));
        }
        self.runtime.detach((self as *const Self).cast());
    }

    /// The video's health: `healthy`, `stalled`, `fallback` or `resuming`.
    pub fn health(&self) -> &'static str {
        match self.state.try_borrow().map(|st| st.playback.health()) {
            Ok(VideoHealth::Stalled) => "stalled",
            Ok(VideoHealth::Fallback) => "fallback",
            Ok(VideoHealth::Resuming) => "resuming",
            _ => "healthy",
        }
    }

    /// The current media item's id.
    pub fn media_id(&self) -> Option<String> {
        self.state.try_borrow().ok()?.media.as_ref().map(|m| m.id.clone())
    }

    /// One poll of the element (none while it has no source: nothing to watch,
    /// and its `paused` says nothing about the page's intent).
    fn sample(self: &Rc<Self>) {
        let v = &self.video;
        if !self.has_source() {
            return;
        }
        let sample = VideoSample {
            current_time_s: v.current_time(),
            paused: v.paused(),
            ended: v.ended(),
            seeking: v.seeking(),
            duration_s: v.duration(),
            hidden: !is_visible(),
            buffered_end_s: buffered_end(v),
        };
        let action = self.st().and_then(|mut st| if st.disposed { None } else { st.playback.sample(now(), sample) });
        self.act(action);
        self.prefetch();
    }

    /// Whether a source is loaded (the element's `src`, or the player's item).
    fn has_source(&self) -> bool {
        match self.player {
            None => self.video.get_attribute("src").is_some(),
            Some(_) => self.state.try_borrow().is_ok_and(|st| st.own_src.is_some()),
        }
    }

    /// A `MediaError`: network and unsupported-source errors count against the
    /// breaker; a decode error only reloads; an abort is ignored. With a player,
    /// the player reports its element's errors itself ([`Watch::on_player_error`]).
    fn on_media_error(self: &Rc<Self>) {
        if self.player.is_some() {
            return;
        }
        let code = self.video.error().map_or(0, |e| e.code());
        if !matches!(code, 2..=4) {
            return;
        }
        if code != 3 {
            self.record_failure();
        }
        let action = self.st().and_then(|mut st| st.playback.on_network_error(now()));
        self.act(action);
    }

    /// The element was emptied. If the caller set another source itself, watch
    /// that one from scratch (same media id).
    fn on_emptied(self: &Rc<Self>) {
        if self.player.is_some() {
            return;
        }
        let src = self.video.src();
        let foreign = self.st().is_some_and(|st| !src.is_empty() && st.own_src.as_deref() != Some(src.as_str()));
        let media = self.state.try_borrow().ok().and_then(|st| st.media.clone());
        if foreign {
            let media =
                media.unwrap_or_else(|| Media { id: String::new(), src: Src::Url(String::new()), poster: None });
            self.load(Media { src: Src::Url(src), ..media });
        }
    }

    fn record_failure(&self) {
        let service = self.state.try_borrow().ok().and_then(|st| st.service);
        if let Some(s) = service {
            self.runtime.engine(|e, now| e.record_video_failure(now, s));
        }
    }

    /// A breaker changed state.
    fn on_state(self: &Rc<Self>, service: &str, to: BreakerState) {
        let ours = self.state.try_borrow().ok().and_then(|st| st.service);
        if ours.map(|s| self.runtime.service_name(s)).as_deref() != Some(service) {
            return;
        }
        match to {
            BreakerState::Open | BreakerState::Isolated => {
                let action = self.st().and_then(|mut st| st.playback.on_breaker_open(now()));
                self.act(action);
            }
            BreakerState::HalfOpen => self.send_trials(),
            BreakerState::Closed => {
                let session = self.session_s();
                let action = self.st().and_then(|mut st| st.playback.on_breaker_closed(now(), session));
                if action.is_none() {
                    // The video was fine: the episode ends with the breaker.
                    self.signal(Signal::Recovered);
                }
                self.act(action);
            }
        }
    }

    /// Carries out what the session model decided.
    fn act(self: &Rc<Self>, action: Option<PlaybackAction>) {
        let Some(action) = action else { return };
        let Some(generation) = self.generation() else { return };
        match action {
            PlaybackAction::Stalled => {
                self.signal(Signal::Slow);
                self.record_failure();
                // The breaker may have opened meanwhile, and the video fallen back.
                let next = self.st().and_then(|mut st| st.playback.on_network_error(now()));
                self.act(next);
            }
            PlaybackAction::ReloadSource { seek_to_s, delay_ms, .. } => {
                self.signal(Signal::Retrying);
                let delay = u32::try_from(delay_ms).unwrap_or(u32::MAX);
                let weak = Rc::downgrade(self);
                if let Some(mut st) = self.st() {
                    let play = st.playback.was_playing();
                    st.reload = Some(Timeout::new(delay, move || {
                        with(&weak, |w| w.check_source(generation, seek_to_s, play, "reload"));
                    }));
                }
            }
            PlaybackAction::EnterFallback => {
                if let Some(mut st) = self.st() {
                    st.reload = None;
                    st.loading.clear();
                    st.gesture.clear();
                    st.check = st.check.wrapping_add(1);
                    if let Some(requests) = std::mem::replace(&mut st.requests, AbortController::new().ok()) {
                        requests.abort();
                    }
                }
                self.detach_source();
                self.enter_fallback();
                // An unreadable file has its own notice.
                if self.st().is_some_and(|st| st.playback.unreadable_checks() == 0) {
                    self.signal(Signal::Fallback);
                }
            }
            PlaybackAction::Resume { at_s, play } => self.check_source(generation, at_s, play, "resume"),
            PlaybackAction::Recovered => {
                self.leave_fallback();
                // It plays without the gesture awaited (the browser let it): stop waiting.
                let awaited = self.st().is_some_and(|mut st| !std::mem::take(&mut st.gesture).is_empty());
                if awaited {
                    self.emit("unblocked", None);
                }
                self.signal(Signal::Recovered);
            }
            // Data still arrives: the stream is slow, not the server dead. No failure.
            PlaybackAction::SlowStream => self.signal(Signal::Slow),
            PlaybackAction::AwaitGesture => self.await_gesture(),
            PlaybackAction::PlayAt { at_s } => {
                if (self.video.current_time() - at_s).abs() > 1.0 {
                    self.video.set_current_time(at_s);
                }
                self.play_or_await_gesture();
                self.emit("unblocked", None);
            }
            PlaybackAction::Ended => {
                // The element will not say it: the page's own `ended` listener hears it.
                if let Ok(event) = web_sys::Event::new("ended") {
                    let _ = self.video.dispatch_event(&event);
                }
            }
        }
    }

    /// The request signal of the current media.
    fn requests(&self) -> Option<AbortSignal> {
        self.state.try_borrow().ok()?.requests.as_ref().map(AbortController::signal)
    }

    /// Asks for the source (the page's `src(reason)` when it is a function), checks
    /// it through the breaker and loads it at `at_s`, playing if `play`. The
    /// element's own `src` is checked with a small range request first; a
    /// player's check is its load (its manifest request, through the breaker).
    fn check_source(self: &Rc<Self>, generation: u32, at_s: f64, play: bool, reason: &'static str) {
        let (src, token) = {
            let Some(mut st) = self.st() else { return };
            let Some(src) = st.media.as_ref().map(|m| m.src.clone()) else { return };
            if st.generation != generation || st.disposed {
                return;
            }
            st.check = st.check.wrapping_add(1);
            (src, st.check)
        };
        let signal = self.requests();
        let weak = Rc::downgrade(self);
        let runtime = self.runtime.clone();
        let current = move |weak: &Weak<Self>| {
            let w = weak.upgrade()?;
            let current = w.state.try_borrow().is_ok_and(|st| st.generation == generation && st.check == token);
            current.then_some(w)
        };
        spawn_local(async move {
            let url = resolve(&src, reason).await;
            let Some(w) = current(&weak) else { return };
            let Some(url) = url.map(|url| absolute(&url, &w.video)) else { return w.on_check(Check::Unreadable) };
            w.use_source(&url);
            let result = match &w.player {
                None => {
                    drop(w);
                    check(runtime, &url, signal, true).await
                }
                Some(player) => {
                    let (play, loading, page_played) = w.prepare_load(play);
                    let promise = player.load(&url, at_s);
                    drop(w);
                    let result = verdict(wasm_bindgen_futures::JsFuture::from(promise).await.err());
                    let Some(w) = current(&weak) else { return };
                    if let (Check::Ok, Some(mut st)) = (&result, w.st()) {
                        st.own_src = Some(url.clone());
                        st.loading = loading;
                    }
                    if matches!(result, Check::Ok) {
                        w.player_loaded(play || page_played.get());
                    }
                    result
                }
            };
            let Some(w) = current(&weak) else { return };
            match result {
                Check::Ok if w.player.is_none() => w.set_source(&url, at_s, play),
                Check::Ok => {}
                other => w.on_check(other),
            }
        });
    }

    /// The source URL of this load: kept for trials, and its service watched.
    fn use_source(&self, url: &str) {
        let service = self.service_of(url);
        let previous = self.st().map(|mut st| {
            st.src_url = Some(url.to_owned());
            std::mem::replace(&mut st.service, service)
        });
        if let Some(previous) = previous {
            self.watch_service(previous, service);
        }
    }

    /// What a failed source check means for the session.
    fn on_check(self: &Rc<Self>, result: Check) {
        let action = match result {
            Check::Ok | Check::Ignored => None,
            Check::Open => self.st().and_then(|mut st| st.playback.on_breaker_open(now())),
            Check::Failed => self.st().and_then(|mut st| st.playback.on_network_error(now())),
            Check::Unreadable => {
                let (action, first) = self
                    .st()
                    .map(|mut st| (st.playback.on_source_unreadable(now()), st.playback.unreadable_checks() == 1))
                    .unwrap_or((None, false));
                if first {
                    self.signal(Signal::Unreadable);
                }
                action
            }
        };
        self.act(action);
    }

    /// Before a player loads: whether to play once loaded (the session's wish, the
    /// page's `play()` or `autoplay`), and a `canplay` listener for the session model.
    fn prepare_load(self: &Rc<Self>, play: bool) -> (bool, Vec<EventListener>, Rc<Cell<bool>>) {
        let play = play || !self.video.paused() || self.video.autoplay();
        if let Some(mut st) = self.st() {
            st.playback.expect_playing(play);
        }
        let weak = Rc::downgrade(self);
        let loaded = EventListener::once(&self.video, "canplay", move |_| {
            with(&weak, |w| {
                let action = w.st().and_then(|mut st| st.playback.on_loaded(now()));
                w.act(action);
            });
        });
        // A `play()` the page makes while the player loads is its wish, even if the
        // player's new source then resets the element (and rejects that promise).
        let page_played = Rc::new(Cell::new(false));
        let played = EventListener::new(&self.video, "play", {
            let page_played = page_played.clone();
            move |_| page_played.set(true)
        });
        (play, vec![loaded, played], page_played)
    }

    /// A player loaded the item (at its position): play it, or keep it paused.
    fn player_loaded(self: &Rc<Self>, play: bool) {
        if play {
            if let Some(mut st) = self.st() {
                st.playback.expect_playing(true);
            }
            if self.video.paused() {
                self.play_or_await_gesture();
            }
        } else {
            let _ = self.video.pause();
        }
        if self.video.ready_state() >= web_sys::HtmlMediaElement::HAVE_FUTURE_DATA {
            let action = self.st().and_then(|mut st| st.playback.on_loaded(now()));
            self.act(action);
        }
    }

    /// The player's error: a segment gone (404/410) of an item that played is a
    /// dead transcode session (a reload with a fresh source); a fatal one reloads
    /// like a media error. Acted on once per load; errors the breaker already
    /// knows, or of no loaded item, are not.
    fn on_player_error(self: &Rc<Self>, error: &PlayerError) {
        if error.ignored() || !(error.fatal || error.gone()) {
            return;
        }
        let Some((action, first_unreadable)) = self.st().and_then(|mut st| {
            if st.disposed || st.own_src.is_none() || st.reacted == Some(st.check) {
                return None;
            }
            st.reacted = Some(st.check);
            let before = st.playback.unreadable_checks();
            let action = match error.gone() {
                true => st.playback.on_segment_gone(now()),
                false => st.playback.on_network_error(now()),
            };
            Some((action, before == 0 && st.playback.unreadable_checks() == 1))
        }) else {
            return;
        };
        if first_unreadable {
            self.signal(Signal::Unreadable);
        }
        self.act(action);
    }

    /// Sets the element's source; once its metadata is in, seeks to `at_s` and
    /// plays if `play`; once it can play, tells the session model. A `play()` the
    /// page made meanwhile (during the source check) is its own: never paused (that
    /// would reject its promise), and left to the page, so a `pause()` it makes
    /// before the metadata is in is honoured too.
    fn set_source(self: &Rc<Self>, src: &str, at_s: f64, play: bool) {
        let page_plays = !self.video.paused();
        let play = play || page_plays;
        if play {
            if let Some(mut st) = self.st() {
                st.playback.expect_playing(true);
            }
        }
        let weak = Rc::downgrade(self);
        let seek = EventListener::once(&self.video, "loadedmetadata", move |_| {
            with(&weak, |w| {
                let duration = w.video.duration();
                let at = match (duration.is_finite() && duration > 0.0, w.video.loop_()) {
                    (true, true) => at_s % duration,
                    (true, false) => at_s.min(duration - 0.25),
                    (false, _) => at_s,
                };
                if at > 0.0 {
                    w.video.set_current_time(at);
                }
                if play && !page_plays {
                    w.play_or_await_gesture();
                }
            });
        });
        let weak = Rc::downgrade(self);
        let loaded = EventListener::once(&self.video, "canplay", move |_| {
            with(&weak, |w| {
                let action = w.st().and_then(|mut st| st.playback.on_loaded(now()));
                w.act(action);
            });
        });
        if let Some(mut st) = self.st() {
            st.loading = vec![seek, loaded];
        }
        self.video.set_src(src);
        if !play {
            // Also stops an `autoplay` attribute from playing a video the user paused.
            let _ = self.video.pause();
        }
        let own = self.video.src();
        if let Some(mut st) = self.st() {
            st.own_src = Some(own);
        }
    }

    /// Takes the source away so the element (or the player) stops asking the server.
    fn detach_source(&self) {
        if let Some(player) = &self.player {
            if let Some(mut st) = self.st() {
                st.own_src = None;
            }
            return player.unload();
        }
        if self.video.get_attribute("src").is_none() {
            return;
        }
        if let Some(mut st) = self.st() {
            st.own_src = None;
        }
        let _ = self.video.remove_attribute("src");
        self.video.load();
    }

    /// Breaker half-open: send trial source checks while the video waits for it.
    fn send_trials(self: &Rc<Self>) {
        let go = self.st().is_some_and(|mut st| {
            let waiting = matches!(st.playback.health(), VideoHealth::Fallback | VideoHealth::Stalled);
            let go = waiting && !st.trials && st.media.is_some();
            st.trials |= go;
            go
        });
        if !go {
            return;
        }
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            for _ in 0..MAX_TRIALS {
                let Some((runtime, src, service, signal, range)) = weak.upgrade().and_then(|w| {
                    let st = w.state.try_borrow().ok()?;
                    let src = st.src_url.clone()?;
                    let signal = st.requests.as_ref().map(AbortController::signal);
                    Some((w.runtime.clone(), src, st.service?, signal, w.player.is_none()))
                }) else {
                    return;
                };
                if runtime.read(|e, _| e.state(service)).flatten() != Some(BreakerState::HalfOpen) {
                    break;
                }
                if !matches!(check(runtime, &src, signal, range).await, Check::Ok) {
                    break;
                }
            }
            with(&weak, |w| {
                if let Some(mut st) = w.st() {
                    st.trials = false;
                }
            });
        });
    }

    /// Plays; if the browser refuses (`NotAllowedError`: its autoplay policy, e.g.
    /// on a kiosk after an automatic reload), the session model awaits a gesture.
    fn play_or_await_gesture(self: &Rc<Self>) {
        let Ok(promise) = self.video.play() else { return };
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            let Err(error) = wasm_bindgen_futures::JsFuture::from(promise).await else { return };
            let refused = Reflect::get(&error, &"name".into()).ok().and_then(|n| n.as_string());
            if refused.as_deref() == Some("NotAllowedError") {
                with(&weak, |w| {
                    let action = w.st().and_then(|mut st| st.playback.on_play_refused());
                    w.act(action);
                });
            }
        });
    }

    /// A refused play: "Tap to resume" (a notice, a button over the fallback, a
    /// `blocked` event), and the page's next gesture plays it.
    fn await_gesture(self: &Rc<Self>) {
        self.signal(Signal::PlayBlocked);
        let text = self.catalogue_text(NoticeKind::TapToResume);
        let Some(document) = self.video.owner_document() else { return };
        let mut listeners = Vec::new();
        for name in ["pointerdown", "keydown", "touchstart"] {
            let weak = Rc::downgrade(self);
            let options = gloo_events::EventListenerOptions::run_in_capture_phase();
            listeners.push(EventListener::new_with_options(&document, name, options, move |_| {
                with(&weak, |w| {
                    let session = w.session_s();
                    let action = w.st().and_then(|mut st| {
                        st.gesture.clear();
                        st.fallback.as_ref().and_then(|f| f.overlay.as_ref()).map(Overlay::hide_tap);
                        st.playback.on_gesture(session)
                    });
                    w.act(action);
                });
            }));
        }
        if let Some(mut st) = self.st() {
            st.gesture = listeners;
            if let Some(overlay) = st.fallback.as_ref().and_then(|f| f.overlay.as_ref()) {
                overlay.show_tap(&text);
            }
        }
        self.emit("blocked", None);
    }

    /// A notice's text, as configured (`notices.messages`) or by default.
    fn catalogue_text(&self, kind: NoticeKind) -> String {
        let text = self.runtime.read(|e, _| e.config().notices.message(kind.key()).map(str::to_owned)).flatten();
        text.unwrap_or_else(|| kind.default_text().to_owned())
    }

    /// Shows the fallback (once) and its first frame.
    fn enter_fallback(self: &Rc<Self>) {
        {
            let Some(mut st) = self.st() else { return };
            if st.fallback.is_some() || st.disposed {
                return;
            }
            let weak = Rc::downgrade(self);
            let ticker = Interval::new(FRAME_MS, move || {
                with(&weak, |w| {
                    w.show_frame();
                    w.retry_source();
                });
            });
            let overlay = self.overlay.as_ref().and_then(Overlay::show);
            let retry_at = now().saturating_add(st.playback.retry_delay_ms());
            st.fallback = Some(Fallback { overlay, _ticker: ticker, shown: None, url: None, busy: false, retry_at });
        }
        self.emit("enter", None);
        let service = self.state.try_borrow().ok().and_then(|st| st.service);
        self.report(service, true);
        self.show_frame();
    }

    /// Hides the fallback, if shown.
    fn leave_fallback(&self) {
        let taken = self.st().and_then(|mut st| Some((st.fallback.take()?, st.service)));
        if let Some((fallback, service)) = taken {
            self.drop_fallback(fallback, service);
        }
    }

    fn drop_fallback(&self, fallback: Fallback, service: Option<usize>) {
        if let Some(url) = &fallback.url {
            let _ = Url::revoke_object_url(url);
        }
        drop(fallback);
        self.emit("exit", None);
        self.report(service, false);
    }

    /// Tells the engine the video entered or left the fallback (for `report`).
    fn report(&self, service: Option<usize>, entered: bool) {
        let media = self.media_id().unwrap_or_default();
        if let Some(service) = service {
            self.runtime.engine(|e, now| e.video_fallback(now, service, &media, entered));
        }
    }

    /// In the fallback with the breaker closed, nothing else would bring the video
    /// back: try the source again now and then, as if the breaker had just closed.
    fn retry_source(self: &Rc<Self>) {
        let closed = |s: usize| self.runtime.read(|e, _| e.state(s)).flatten() == Some(BreakerState::Closed);
        let due = self.st().is_some_and(|mut st| {
            let now = now();
            let service = st.service;
            let delay = st.playback.retry_delay_ms();
            match st.fallback.as_mut() {
                Some(f) if now >= f.retry_at && service.map_or(true, closed) => {
                    f.retry_at = now.saturating_add(delay);
                    true
                }
                _ => false,
            }
        });
        if due {
            let session = self.session_s();
            let action = self.st().and_then(|mut st| st.playback.on_breaker_closed(now(), session));
            self.act(action);
        }
    }

    /// Follows the session clock: the frame for the session time, from the cache.
    fn show_frame(self: &Rc<Self>) {
        let session = self.session_s();
        let unreadable = self.catalogue_text(NoticeKind::Unreadable);
        let Some((generation, media, offset)) = self.st().and_then(|mut st| {
            let offset = st.playback.thumbnail_offset_ms(session);
            let (generation, media) = (st.generation, st.media.as_ref().map(|m| m.id.clone()).unwrap_or_default());
            let unreadable = (st.playback.unreadable_checks() > 0).then_some(unreadable);
            let fallback = st.fallback.as_mut()?;
            if let Some(overlay) = &fallback.overlay {
                overlay.set_time(session);
                // "Video file unavailable — retrying · m:ss": the time to the next try.
                let next_try_s = fallback.retry_at.saturating_sub(now()) as f64 / 1_000.0;
                overlay.set_status(unreadable.map(|text| format!("{text} · {}", clock_text(next_try_s))).as_deref());
            }
            let unchanged = fallback.shown.is_some_and(|(o, s)| o == offset && s != Source::Placeholder);
            if fallback.busy || unchanged {
                return None;
            }
            fallback.busy = true;
            Some((generation, media, offset))
        }) else {
            return;
        };
        let exact = self.thumbnail_url(&media, offset);
        let weak = Rc::downgrade(self);
        let thumbs = self.thumbs.clone();
        spawn_local(async move {
            let found = thumbnails::find(&thumbs, &media, offset, exact.as_deref()).await;
            let (blob, source) = match found {
                Some(found) => Some(found),
                None => placeholder(session).map(|b| (b, Source::Placeholder)),
            }
            .unzip();
            let url = blob.and_then(|b| Url::create_object_url_with_blob(&b).ok());
            let Some(w) = weak.upgrade() else { return };
            let shown = w.st().and_then(|mut st| {
                if st.generation != generation {
                    // The lookup of another item's frame: this fallback's is not busy with it.
                    return None;
                }
                let fallback = st.fallback.as_mut()?;
                fallback.busy = false;
                let (url, source) = (url.clone()?, source?);
                if let Some(overlay) = &fallback.overlay {
                    overlay.set_frame(&url, source.as_str());
                }
                fallback.shown = Some((offset, source));
                Some((fallback.url.replace(url.clone()), url, source))
            });
            match shown {
                Some((old, url, source)) => {
                    if let Some(old) = old {
                        let _ = Url::revoke_object_url(&old);
                    }
                    w.emit("frame", Some((&url, source, offset)));
                }
                None => {
                    if let Some(url) = url {
                        let _ = Url::revoke_object_url(&url);
                    }
                }
            }
        });
    }

    /// A `fallback` event: `enter`, `frame` (with the frame) or `exit`.
    fn emit(&self, kind: &str, frame: Option<(&str, Source, Millis)>) {
        let media = self.media_id().map_or(Value::Null, Value::String);
        let frame = frame.map_or(Value::Null, |(url, source, offset)| {
            Value::Object(vec![
                ("url".into(), url.into()),
                ("source".into(), source.as_str().into()),
                ("offsetMs".into(), offset.into()),
            ])
        });
        let session = self.session_s();
        let event = Value::Object(vec![
            ("type".into(), kind.into()),
            ("mediaId".into(), media),
            ("sessionSeconds".into(), Value::Number(if session.is_finite() { session } else { 0.0 })),
            ("frame".into(), frame),
        ]);
        self.runtime.emit("fallback", &to_js(&event));
    }

    /// Whether thumbnails may be fetched now: the video healthy and not starving
    /// (engine's `Playback::may_prefetch`), no fallback, the breaker closed.
    fn may_prefetch(&self) -> bool {
        let Ok(st) = self.state.try_borrow() else { return false };
        let closed = |s: usize| self.runtime.read(|e, _| e.state(s)).flatten() == Some(BreakerState::Closed);
        !st.disposed && st.fallback.is_none() && st.playback.may_prefetch() && st.service.map_or(true, closed)
    }

    /// While the video may spare the bandwidth, fetches the images the fallback
    /// could need soonest (the prefetch plan, `engine::prefetch`) into the cache,
    /// one at a time.
    fn prefetch(self: &Rc<Self>) {
        let idle = self
            .state
            .try_borrow()
            .map_or(true, |st| st.media.is_none() || st.prefetching.is_some() || now() < st.prefetch_not_before);
        if idle || !self.may_prefetch() {
            return;
        }
        let Some(generation) = self.generation() else { return };
        if let Some(mut st) = self.st() {
            st.prefetching = Some(generation);
        }
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            let mut pause = 0;
            while let Some(w) = weak.upgrade() {
                if w.generation() != Some(generation) {
                    return;
                }
                // Trouble or a starving video: the next sample starts again.
                if !w.may_prefetch() {
                    break;
                }
                let Some((wanted, media, image, url)) = w.next_prefetch() else {
                    pause = PREFETCH_IDLE_MS;
                    break;
                };
                let (runtime, thumbs, signal) = (w.runtime.clone(), w.thumbs.clone(), w.requests());
                drop(w);
                let init = Object::new();
                if let Some(signal) = signal {
                    let _ = Reflect::set(&init, &"signal".into(), &signal);
                }
                let kept = match fetch::run(runtime, url.as_str().into(), init.into()).await {
                    Ok(response) => {
                        let response: Response = response.unchecked_into();
                        thumbnails::keep(&thumbs, &wanted, &media, image, &url, &response).await
                    }
                    Err(_) => false,
                };
                if !kept {
                    pause = PREFETCH_PAUSE_MS;
                    break;
                }
            }
            with(&weak, |w| {
                if let Some(mut st) = w.st() {
                    if st.prefetching == Some(generation) {
                        st.prefetching = None;
                        st.prefetch_not_before = now().saturating_add(pause);
                    }
                }
            });
        });
    }

    /// What the fallback may need: the playing item from the session time (to
    /// its end once known), and the item the page preloads.
    fn wanted(&self) -> Option<Wanted> {
        let session = self.session_s();
        let st = self.state.try_borrow().ok()?;
        let current = st.media.as_ref().map(|m| Item {
            id: m.id.clone(),
            poster: m.poster.is_some(),
            at_ms: st.playback.thumbnail_offset_ms(session),
            end_ms: st.playback.duration_ms(),
        });
        let next = st.preload.as_ref().map(|(id, poster)| Item {
            id: id.clone(),
            poster: poster.is_some(),
            at_ms: 0,
            end_ms: None,
        });
        Some(Wanted { current, next, step_ms: st.playback.thumbnail_step_ms(), ahead: self.prefetch.ahead })
    }

    /// The next image to prefetch (by the plan), with its media, offset and URL.
    fn next_prefetch(&self) -> Option<(Wanted, String, Image, String)> {
        let wanted = self.wanted()?;
        let (media, image) = {
            let thumbs = self.thumbs.try_borrow().ok()?;
            let limit = u32::try_from(thumbs.max_entries()).unwrap_or(u32::MAX);
            let (media, image) = wanted.next(&thumbs.held(), thumbs.is_full(), limit)?;
            (media.to_owned(), image)
        };
        let url = match image {
            Some(offset) => self.thumbnail_url(&media, offset)?,
            None => self.state.try_borrow().ok().and_then(|st| {
                let current = st.media.as_ref().filter(|m| m.id == media).map(|m| m.poster.clone());
                let next = st.preload.as_ref().filter(|(id, _)| *id == media).map(|(_, poster)| poster.clone());
                current.or(next).flatten()
            })?,
        };
        Some((wanted, media, image, url))
    }
}

/// The page's source for this load: `src(reason)` when it is a function (its
/// failure is logged, and the item is taken for unreadable).
async fn resolve(src: &Src, reason: &str) -> Option<String> {
    let make = match src {
        Src::Url(url) => return Some(url.clone()),
        Src::Fresh(make) => make,
    };
    let made = match make.call1(&JsValue::NULL, &reason.into()) {
        Ok(value) => wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&value)).await,
        Err(error) => Err(error),
    };
    match made.map(|url| url.as_string().filter(|u| !u.is_empty())) {
        Ok(Some(url)) => Some(url),
        Ok(None) => {
            web_sys::console::error_1(&"player-resilience: media.src() must give a non-empty URL".into());
            None
        }
        Err(error) => {
            web_sys::console::error_2(&"player-resilience: media.src() failed;".into(), &error);
            None
        }
    }
}

/// `url` made absolute against the element's document, as the element resolves
/// it. Libraries resolve relative URLs their own way: Shaka Player cuts a path
/// at its `:` (Plex's `/video/:/transcode/…`).
fn absolute(url: &str, video: &HtmlVideoElement) -> String {
    let base = video.base_uri().ok().flatten();
    base.and_then(|base| Url::new_with_base(url, &base).ok()).map_or_else(|| url.to_owned(), |u| u.href())
}

/// A check of `src` through the breaker (video class timeout): a small range
/// request for the element's own source, a plain GET for a player's manifest.
async fn check(runtime: Rc<Runtime>, src: &str, signal: Option<AbortSignal>, range: bool) -> Check {
    let init = Object::new();
    if let (true, Ok(headers)) = (range, Headers::new()) {
        let _ = headers.set("Range", "bytes=0-1");
        let _ = Reflect::set(&init, &"headers".into(), &headers);
    }
    let _ = Reflect::set(&init, &"cache".into(), &"no-store".into());
    if let Some(signal) = signal {
        let _ = Reflect::set(&init, &"signal".into(), &signal);
    }
    match fetch::run(runtime, src.into(), init.into()).await {
        Ok(response) => {
            let Ok(response) = response.dyn_into::<Response>() else { return Check::Failed };
            let unreadable =
                response.status() == 503 && read_text(&response).await.is_some_and(|t| says_unreadable(&t));
            // The status is all a check needs. Let go of the body: Chromium holds
            // other GETs of the same URL (the player's own manifest) behind an
            // unread one.
            if let Some(body) = response.body() {
                let _ = body.cancel();
            }
            if unreadable {
                return Check::Unreadable;
            }
            check_status(Some(response.status()))
        }
        Err(error) => verdict(Some(error)),
    }
}

/// What a check's response status says about the source.
fn check_status(status: Option<u16>) -> Check {
    match status {
        Some(200..=299) => Check::Ok,
        Some(403 | 404 | 410) => Check::Unreadable,
        _ => Check::Failed,
    }
}

/// What a failed request or load (`None`: it succeeded) says about the source.
fn verdict(error: Option<JsValue>) -> Check {
    let Some(error) = error else { return Check::Ok };
    let error = PlayerError::read(&error);
    match error.code.as_deref() {
        Some("BREAKER_OPEN") => Check::Open,
        _ if error.ignored() => Check::Ignored,
        _ if error.gone() => Check::Unreadable,
        _ => Check::Failed,
    }
}

/// The end of the buffered range that holds `currentTime` (NaN if none).
fn buffered_end(video: &HtmlVideoElement) -> f64 {
    let (ranges, t) = (video.buffered(), video.current_time());
    (0..ranges.length())
        .filter_map(|i| Some((ranges.start(i).ok()?, ranges.end(i).ok()?)))
        .find(|(start, end)| *start <= t && t <= *end)
        .map_or(f64::NAN, |(_, end)| end)
}

impl Attachment for Watch {
    fn dispose(&self) {
        Watch::dispose(self);
    }
}
