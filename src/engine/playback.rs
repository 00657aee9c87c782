//! The playback session model: is the video healthy, stalled, in the thumbnail
//! fallback or resuming; when to reload its source; where and whether to resume; which
//! seek thumbnail matches the workout clock.
//!
//! The web layer polls the video element every ~250 ms ([`Playback::sample`]) and
//! forwards media errors, breaker changes and the `playing` event; each call returns at
//! most one [`PlaybackAction`] to carry out.
//!
//! - **Stall.** `currentTime` advancing less than [`MIN_PROGRESS_S`] for
//!   `stall_ms` while not paused, ended or seeking. A pause, an end or a seek (the
//!   `seeking` flag, or `currentTime` jumping backwards or further than playback could
//!   have gone) restarts the watch instead; not the pause of a reload after trouble
//!   (a player empties the element to load again) while the video was playing. A seek still waiting for data after
//!   [`SEEK_GRACE`] stall times is watched like playback (a seek into a dead server).
//!   A restored source (`Resuming`) gets the same grace to load, and then, since
//!   its server has just answered, [`RESUME_PATIENCE_MS`] in all before a wait is
//!   a stall: a slow start is [`PlaybackAction::SlowStream`] (a reload would only
//!   start the read again). A reload's seek gets its own grace. `Stalled` is
//!   returned once per stall; a source reload re-arms it, so a reload that does
//!   not help is reported again.
//! - **Trouble.** When trouble begins (stall, media error, breaker open), whether the
//!   video was playing is frozen: a video the user had paused resumes paused. A
//!   pipeline that dies mid-body makes the element fire `pause` with its `error`:
//!   a pause within [`FAILURE_PAUSE_MS`] before a media error is the failure's, so
//!   that video resumes playing; a pause made earlier stays a pause.
//! - **Fallback** ends only through [`Playback::on_breaker_closed`]; samples are
//!   ignored while in it (the source is gone; the overlay shows thumbnails).
//! - Non-finite `currentTime` is "no information": never progress, never a jump.
//! - **A hidden page is not a stall.** Samples taken while the page is hidden, and
//!   the first after a gap longer than `stall_ms` (timers throttled in a background
//!   tab, a page back from the bfcache), restart the watch: only time watched in
//!   the open counts.
//! - **A refused play is not a failure.** When the browser refuses the module's
//!   own `play()` (autoplay policy, e.g. a kiosk after an automatic reload),
//!   [`PlaybackAction::AwaitGesture`] once; the person's next gesture gives
//!   [`PlaybackAction::PlayAt`] at the policy's position then (the workout went on).
//! - **An unreadable file is not a dead server.** A source the server refuses to
//!   read (404, 403, 410) goes to the fallback without a reload, and is tried again
//!   after [`SOURCE_RETRY_MS`], doubling up to [`MAX_UNREADABLE_RETRY_MS`]
//!   ([`Playback::retry_delay_ms`]); it never counts against the breaker.
//! - **A slow but living stream is not a dead server.** A stall while the buffer
//!   still grows or the element still receives data ([`Playback::on_data`]),
//!   within [`FED_GRACE`] stall times, is [`PlaybackAction::SlowStream`], once:
//!   say so and let the buffer grow, no failure, no reload. Only when the data
//!   stops too is it a stall.
//! - **A dead transcode session is not a dead server.** A streaming player's
//!   segment answered 404/410 for an item that played ([`Playback::on_segment_gone`]):
//!   the media server dropped the session the manifest points at. Reload at once
//!   with a fresh source (the web layer asks the page for one on every load), up
//!   to [`MAX_DEAD_SESSIONS`] times in a row without playing; then the item is
//!   unreadable. Never a failure of the server.
//! - **The end is not a stall.** A video parked within [`END_SLACK_S`] of its
//!   duration without `ended` (a zero-byte trailing fragment) while healthy is at
//!   its end: [`PlaybackAction::Ended`] once, never a reload.

use super::config::{PlaybackConfig, ResumeAt};
use super::Millis;

/// Less progress than this (seconds) is "not advancing".
pub const MIN_PROGRESS_S: f64 = 0.01;
/// Playback faster than this many times real time is taken for a seek.
const MAX_RATE: f64 = 4.0;
/// Slack (seconds) added to the expected progress before a forward move is a seek.
const JUMP_SLACK_S: f64 = 1.0;
/// A seek may wait this many stall times for data before its wait counts as a stall.
const SEEK_GRACE: Millis = 4;
/// Parked this close (seconds) to the duration, the video is at its end.
pub const END_SLACK_S: f64 = 0.5;
/// A pause this close (ms) before a media error is the failure's, not the person's.
pub const FAILURE_PAUSE_MS: Millis = 500;
/// In the fallback with the breaker closed (the source failed, not the server), the
/// source is tried again this long after entering it, or after the last try.
pub const SOURCE_RETRY_MS: Millis = 10_000;
/// An unreadable file is tried again more slowly: twice as long each time, up to this.
pub const MAX_UNREADABLE_RETRY_MS: Millis = 120_000;
/// A stall while data arrived within this many stall times is a slow stream.
const FED_GRACE: Millis = 2;
/// A resumed source whose server answered gets this long (the video class's
/// default timeout) to play before its wait is a stall.
pub const RESUME_PATIENCE_MS: Millis = 30_000;
/// The first source reload waits this long; each next one twice as long (up to 16×).
pub const RELOAD_DELAY_MS: Millis = 500;
/// Trial source checks sent at most while the breaker is half-open.
pub const MAX_TRIALS: u32 = 5;
/// Dead transcode sessions reloaded in a row (without playing between) before the
/// item is taken for unreadable.
pub const MAX_DEAD_SESSIONS: u32 = 3;
/// After a failed thumbnail prefetch, wait this long before prefetching again.
pub const PREFETCH_PAUSE_MS: Millis = 10_000;
/// With every wanted thumbnail held, look again this long later (the session
/// time moves on).
pub const PREFETCH_IDLE_MS: Millis = 5_000;
/// A playing video with less than this many seconds buffered ahead is starving:
/// thumbnail prefetches wait, so they never take its bandwidth.
pub const STARVING_BUFFER_S: f64 = 4.0;

/// The video's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoHealth {
    /// Playing (or paused by the user) normally.
    Healthy,
    /// `currentTime` stopped advancing, or the source failed and is being reloaded.
    Stalled,
    /// Thumbnails are shown; the workout goes on.
    Fallback,
    /// The source was restored; waiting for it to play.
    Resuming,
}

/// One poll of the video element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoSample {
    /// `currentTime`, seconds (may be NaN).
    pub current_time_s: f64,
    /// `paused`.
    pub paused: bool,
    /// `ended`.
    pub ended: bool,
    /// `seeking`.
    pub seeking: bool,
    /// `duration`, seconds (NaN or infinite when unknown).
    pub duration_s: f64,
    /// The page is hidden (its timers throttled; the person is not watching).
    pub hidden: bool,
    /// The end of the buffered range at `currentTime`, seconds (NaN when unknown).
    pub buffered_end_s: f64,
}

/// What the web layer should do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlaybackAction {
    /// A soft stall was detected.
    Stalled,
    /// Reload the source URL and seek to `seek_to_s`; `attempt` counts from 1.
    ReloadSource {
        /// Which reload this is, from 1.
        attempt: u32,
        /// Where to seek after reloading (the last position that was progressing).
        seek_to_s: f64,
        /// How long to wait before reloading: [`RELOAD_DELAY_MS`], doubling.
        delay_ms: Millis,
    },
    /// Show thumbnails and keep the workout going.
    EnterFallback,
    /// Restore the source at `at_s`; play only if it was playing.
    Resume {
        /// Where to seek, seconds.
        at_s: f64,
        /// Whether to call `play()` (the video was playing when trouble began).
        play: bool,
    },
    /// The video is healthy again.
    Recovered,
    /// Stalled while data still arrives: the stream is slow, not dead. Say so;
    /// no failure, no reload.
    SlowStream,
    /// The video is parked at its end without `ended`: tell the page it ended.
    Ended,
    /// The browser refused to play: wait for the person's gesture ("Tap to resume").
    AwaitGesture,
    /// A gesture came: seek to `at_s` and play, within the gesture.
    PlayAt {
        /// Where to seek, seconds.
        at_s: f64,
    },
}

/// The playback session model (see the module docs).
#[derive(Debug, Clone)]
pub struct Playback {
    stall_ms: Millis,
    resume: ResumeAt,
    thumbnail_step_ms: Millis,
    source_retries: u32,
    health: VideoHealth,
    /// Last finite `currentTime` seen, and when.
    last: Option<(f64, Millis)>,
    /// Since when the video has been expected to advance (`None` before any sample).
    watch_since: Option<Millis>,
    /// `Stalled` was already returned for the current watch.
    stall_reported: bool,
    stopped_at_s: f64,
    /// Whether the video is playing (updated by samples outside trouble).
    playing: bool,
    /// `playing`, frozen when trouble began.
    was_playing: bool,
    /// Since when the element has reported `seeking`.
    seeking_since: Option<Millis>,
    reloads: u32,
    /// When the last sample was taken, to tell a throttled gap.
    sampled_at: Option<Millis>,
    /// `Ended` was returned for the current stop at the end.
    end_reported: bool,
    /// When a sample last saw the video go from playing to paused.
    paused_at: Option<Millis>,
    /// The browser refused the module's `play()`; a gesture is awaited.
    blocked: bool,
    /// Source checks in a row that found the file unreadable.
    unreadable: u32,
    /// The furthest buffered end seen, and when it last grew.
    buffered: Option<(f64, Millis)>,
    /// When the element last said media data arrived (`progress`).
    data_at: Option<Millis>,
    /// `SlowStream` was returned for the current watch.
    slow_reported: bool,
    /// The item has played (fired `playing`) since it was loaded.
    played: bool,
    /// Dead transcode sessions reloaded since the item last played.
    dead_sessions: u32,
    /// When the current resume began (meaningful while `Resuming`).
    resumed_at: Millis,
    /// The item's duration, seconds, once the element knows it.
    duration_s: Option<f64>,
    /// Seconds buffered ahead of `currentTime` at the last sample (NaN: none).
    buffered_ahead_s: f64,
}

fn finite_non_negative(x: f64) -> Option<f64> {
    (x.is_finite() && x >= 0.0).then_some(x)
}

impl Playback {
    /// A healthy session at position 0, not known to be playing.
    pub fn new(config: &PlaybackConfig) -> Self {
        Self {
            stall_ms: config.stall_ms,
            resume: config.resume,
            thumbnail_step_ms: config.thumbnail_step_ms,
            source_retries: config.source_retries,
            health: VideoHealth::Healthy,
            last: None,
            watch_since: None,
            stall_reported: false,
            stopped_at_s: 0.0,
            playing: false,
            was_playing: false,
            seeking_since: None,
            reloads: 0,
            sampled_at: None,
            end_reported: false,
            paused_at: None,
            blocked: false,
            unreadable: 0,
            buffered: None,
            data_at: None,
            slow_reported: false,
            resumed_at: 0,
            played: false,
            dead_sessions: 0,
            duration_s: None,
            buffered_ahead_s: f64::NAN,
        }
    }

    /// The video's health now.
    pub fn health(&self) -> VideoHealth {
        self.health
    }

    /// The last position (seconds) at which the video was seen advancing.
    pub fn stopped_at_s(&self) -> f64 {
        self.stopped_at_s
    }

    /// Whether the video was playing when the trouble began (so a reload or a
    /// resume should play it).
    pub fn was_playing(&self) -> bool {
        self.was_playing
    }

    /// Spacing of the server's seek thumbnails, ms (at least 1).
    pub fn thumbnail_step_ms(&self) -> Millis {
        self.thumbnail_step_ms.max(1)
    }

    /// Whether the page means the video to play (autoplay, or `play()` called),
    /// for a source not sampled yet: trouble before the first sample then still
    /// resumes it playing. Only while healthy.
    pub fn expect_playing(&mut self, playing: bool) {
        if self.health == VideoHealth::Healthy {
            self.playing = playing;
        }
    }

    /// Freezes `was_playing` when leaving `Healthy` or `Resuming` for trouble.
    fn trouble_begins(&mut self) {
        if matches!(self.health, VideoHealth::Healthy | VideoHealth::Resuming) {
            self.was_playing = self.playing;
        }
    }

    fn rewatch(&mut self, now: Millis) {
        self.watch_since = Some(now);
        self.stall_reported = false;
        self.slow_reported = false;
    }

    /// Notes the buffered end growing (data arriving).
    fn note_buffered(&mut self, now: Millis, end_s: f64) {
        let Some(end) = finite_non_negative(end_s) else { return };
        match self.buffered {
            Some((seen, _)) if end <= seen + MIN_PROGRESS_S => {}
            _ => self.buffered = Some((end, now)),
        }
    }

    /// The element received media data (its `progress` event): the server
    /// answers, even when nothing is playable yet (a browser plays nothing of a
    /// cache block until it is whole).
    pub fn on_data(&mut self, now: Millis) {
        self.data_at = Some(now);
    }

    /// One poll of the video element (every ~250 ms).
    pub fn sample(&mut self, now: Millis, s: VideoSample) -> Option<PlaybackAction> {
        if self.health == VideoHealth::Fallback {
            return None;
        }
        // While a refused play awaits a gesture, `paused` is the browser's, not the page's wish.
        if matches!(self.health, VideoHealth::Healthy | VideoHealth::Resuming) && !self.blocked {
            let playing = !s.paused && !s.ended;
            if self.playing && !playing {
                self.paused_at = Some(now);
            }
            self.playing = playing;
        }
        let time = finite_non_negative(s.current_time_s);
        let previous = self.last;
        if let Some(t) = time {
            self.last = Some((t, now));
        }
        self.note_buffered(now, s.buffered_end_s);
        if let Some(d) = finite_non_negative(s.duration_s).filter(|d| *d > 0.0) {
            self.duration_s = Some(d);
        }
        self.buffered_ahead_s = s.buffered_end_s - s.current_time_s;
        let gap = self.sampled_at.is_some_and(|at| now.saturating_sub(at) > self.stall_ms);
        self.sampled_at = Some(now);
        if s.hidden || gap {
            // Throttled timers or a page back from the bfcache: no evidence either way.
            self.seeking_since = None;
            self.rewatch(now);
            return None;
        }
        if s.seeking && !s.paused && !s.ended {
            let since = *self.seeking_since.get_or_insert(now);
            if now.saturating_sub(since) >= self.stall_ms.saturating_mul(SEEK_GRACE) {
                // The grace is spent: the wait is a stall now.
                return self.waited(now);
            }
        } else {
            self.seeking_since = None;
        }
        // Reloading after trouble, a video that was playing is paused by the reload
        // itself (a player empties the element to load again): still a wait.
        let reload_pause =
            s.paused && !s.ended && !s.seeking && self.health == VideoHealth::Stalled && self.was_playing;
        if (s.paused || s.ended || s.seeking) && !reload_pause {
            self.rewatch(now);
            return None;
        }
        let (Some(t), Some((before, at))) = (time, previous) else {
            // First position, or no information: progress cannot be judged yet.
            if time.is_some() && previous.is_none() {
                self.rewatch(now);
            }
            return self.check_stall(now);
        };
        let delta = t - before;
        // In trouble, only progress seen entirely after it began (or after the
        // reload's seek) is a recovery: the element's `pause` right after a media
        // error is sampled at once, and the clip did advance since the tick before.
        let troubled = matches!(self.health, VideoHealth::Stalled | VideoHealth::Resuming);
        if troubled && (s.paused || self.watch_since.is_some_and(|since| at < since)) {
            return self.check_stall(now);
        }
        let elapsed_s = now.saturating_sub(at) as f64 / 1_000.0;
        let reach = elapsed_s.mul_add(MAX_RATE, JUMP_SLACK_S);
        if delta < -MIN_PROGRESS_S || delta > reach {
            // A seek (or a reload's seek): not a stall, not progress either.
            self.rewatch(now);
            return None;
        }
        if delta < MIN_PROGRESS_S {
            let at_end = finite_non_negative(s.duration_s).is_some_and(|d| d > 0.0 && t >= d - END_SLACK_S);
            if at_end && self.health == VideoHealth::Healthy {
                self.rewatch(now);
                let first = !self.end_reported;
                self.end_reported = true;
                return first.then_some(PlaybackAction::Ended);
            }
            return self.check_stall(now);
        }
        // Progress.
        self.end_reported = false;
        self.unreadable = 0;
        self.stopped_at_s = t;
        self.rewatch(now);
        match self.health {
            VideoHealth::Stalled | VideoHealth::Resuming => {
                self.health = VideoHealth::Healthy;
                self.playing = true;
                self.reloads = 0;
                self.blocked = false;
                Some(PlaybackAction::Recovered)
            }
            VideoHealth::Healthy | VideoHealth::Fallback => None,
        }
    }

    fn check_stall(&mut self, now: Millis) -> Option<PlaybackAction> {
        let since = match self.watch_since {
            // No watch yet, or the clock went backwards: start watching now.
            Some(since) if since <= now => since,
            _ => {
                self.rewatch(now);
                return None;
            }
        };
        // A restored source gets the seek grace to load before its wait counts.
        let stall_ms =
            if self.health == VideoHealth::Resuming { self.stall_ms.saturating_mul(SEEK_GRACE) } else { self.stall_ms };
        if now.saturating_sub(since) < stall_ms {
            return None;
        }
        let recent = |at: Millis| now.saturating_sub(at) < self.stall_ms.saturating_mul(FED_GRACE);
        let fed = self.buffered.is_some_and(|(_, at)| recent(at)) || self.data_at.is_some_and(recent);
        // Playing, or resuming after an outage: a source that is being fed is slow, not dead.
        if fed && matches!(self.health, VideoHealth::Healthy | VideoHealth::Resuming) {
            return self.slow_once();
        }
        self.waited(now)
    }

    /// A wait past its grace: a stall, unless a resume is still within its
    /// patience (its server answered; a slow start is the stream's, and a reload
    /// would only restart it).
    fn waited(&mut self, now: Millis) -> Option<PlaybackAction> {
        let patient = now.saturating_sub(self.resumed_at) < RESUME_PATIENCE_MS;
        if self.health == VideoHealth::Resuming && patient {
            return self.slow_once();
        }
        self.report_stall()
    }

    /// `SlowStream`, once per watch.
    fn slow_once(&mut self) -> Option<PlaybackAction> {
        let first = !self.slow_reported;
        self.slow_reported = true;
        first.then_some(PlaybackAction::SlowStream)
    }

    /// `Stalled`, once per watch.
    fn report_stall(&mut self) -> Option<PlaybackAction> {
        if self.stall_reported {
            return None;
        }
        self.stall_reported = true;
        self.trouble_begins();
        self.health = VideoHealth::Stalled;
        Some(PlaybackAction::Stalled)
    }

    /// A media error, or the web layer confirming a stall: reload the source while
    /// reloads remain, then fall back.
    pub fn on_network_error(&mut self, now: Millis) -> Option<PlaybackAction> {
        if self.health == VideoHealth::Fallback {
            return None;
        }
        let failure_paused = self.paused_at.is_some_and(|at| at <= now && now - at <= FAILURE_PAUSE_MS);
        if failure_paused && matches!(self.health, VideoHealth::Healthy | VideoHealth::Resuming) {
            // The element paused because its pipeline died, not because anyone asked.
            self.playing = true;
        }
        self.trouble_begins();
        if self.reloads < self.source_retries {
            self.reloads = self.reloads.saturating_add(1);
            self.health = VideoHealth::Stalled;
            // The reload's seek gets its own grace.
            self.seeking_since = None;
            self.rewatch(now);
            let delay_ms = RELOAD_DELAY_MS.saturating_mul(1 << self.reloads.saturating_sub(1).min(4));
            return Some(PlaybackAction::ReloadSource {
                attempt: self.reloads,
                seek_to_s: self.stopped_at_s,
                delay_ms,
            });
        }
        self.health = VideoHealth::Fallback;
        self.blocked = false;
        Some(PlaybackAction::EnterFallback)
    }

    /// The service's breaker opened: the server is down, fall back now.
    pub fn on_breaker_open(&mut self, _now: Millis) -> Option<PlaybackAction> {
        if self.health == VideoHealth::Fallback {
            return None;
        }
        self.trouble_begins();
        self.health = VideoHealth::Fallback;
        self.blocked = false;
        Some(PlaybackAction::EnterFallback)
    }

    /// The service's breaker closed: resume from `Fallback` or `Stalled` at the
    /// policy's position (`session_s` is the workout clock; if it is not a finite,
    /// non-negative number, the stopped position is used).
    pub fn on_breaker_closed(&mut self, now: Millis, session_s: f64) -> Option<PlaybackAction> {
        if !matches!(self.health, VideoHealth::Fallback | VideoHealth::Stalled) {
            return None;
        }
        let at_s = match self.resume {
            ResumeAt::Session => finite_non_negative(session_s).unwrap_or(self.stopped_at_s),
            ResumeAt::Stopped => self.stopped_at_s,
        };
        self.health = VideoHealth::Resuming;
        self.resumed_at = now;
        self.seeking_since = None;
        // The server is back: the restored source gets its reloads afresh.
        self.reloads = 0;
        self.playing = self.was_playing;
        self.last = None;
        self.rewatch(now);
        Some(PlaybackAction::Resume { at_s, play: self.was_playing })
    }

    /// The element fired `playing`: a stalled or resuming video is healthy again.
    pub fn on_playing(&mut self, now: Millis) -> Option<PlaybackAction> {
        if self.health != VideoHealth::Fallback {
            self.played = true;
            self.dead_sessions = 0;
        }
        match self.health {
            VideoHealth::Fallback => None,
            VideoHealth::Healthy => {
                self.reloads = 0;
                self.playing = true;
                None
            }
            VideoHealth::Stalled | VideoHealth::Resuming => {
                self.health = VideoHealth::Healthy;
                self.reloads = 0;
                self.unreadable = 0;
                self.playing = true;
                // Playing without the awaited gesture (the browser let it): no longer awaited.
                self.blocked = false;
                self.rewatch(now);
                Some(PlaybackAction::Recovered)
            }
        }
    }

    /// The restored source is loaded and seeked. A video resumed paused (it was
    /// paused when trouble began) is healthy now; one resumed playing waits for
    /// `playing` ([`Playback::on_playing`]).
    pub fn on_loaded(&mut self, now: Millis) -> Option<PlaybackAction> {
        if self.health != VideoHealth::Resuming || self.was_playing {
            return None;
        }
        self.health = VideoHealth::Healthy;
        self.reloads = 0;
        self.unreadable = 0;
        self.rewatch(now);
        Some(PlaybackAction::Recovered)
    }

    /// The browser refused the module's `play()` (`NotAllowedError`): wait for a
    /// gesture, once per refusal. Not in the fallback (there is no source to play).
    pub fn on_play_refused(&mut self) -> Option<PlaybackAction> {
        if self.blocked || self.health == VideoHealth::Fallback {
            return None;
        }
        self.blocked = true;
        Some(PlaybackAction::AwaitGesture)
    }

    /// The person made a gesture while a play was refused: play at the resume
    /// policy's position now if resuming (`session_s` is the workout clock), else
    /// where the video stands.
    pub fn on_gesture(&mut self, session_s: f64) -> Option<PlaybackAction> {
        if !self.blocked || self.health == VideoHealth::Fallback {
            return None;
        }
        self.blocked = false;
        let at_s = match (self.health, self.resume) {
            (VideoHealth::Resuming, ResumeAt::Session) => finite_non_negative(session_s).unwrap_or(self.stopped_at_s),
            _ => self.stopped_at_s,
        };
        Some(PlaybackAction::PlayAt { at_s })
    }

    /// Whether a gesture is awaited.
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// The source check found the file unreadable (404, 403, 410): fall back at
    /// once (reloading cannot help) and wait [`Playback::retry_delay_ms`]. Returns
    /// `EnterFallback` unless already in it.
    pub fn on_source_unreadable(&mut self, _now: Millis) -> Option<PlaybackAction> {
        self.unreadable = self.unreadable.saturating_add(1);
        if self.health == VideoHealth::Fallback {
            return None;
        }
        self.trouble_begins();
        self.health = VideoHealth::Fallback;
        self.blocked = false;
        Some(PlaybackAction::EnterFallback)
    }

    /// A streaming player's segment answered 404 or 410. For an item that played,
    /// its transcode session died: reload at once, [`MAX_DEAD_SESSIONS`] times in a
    /// row at most (`ReloadSource` with no delay; the web layer asks for a fresh
    /// source). An item that never played, or one whose fresh sessions keep dying,
    /// is unreadable ([`Playback::on_source_unreadable`]). Ignored in the fallback.
    pub fn on_segment_gone(&mut self, now: Millis) -> Option<PlaybackAction> {
        if self.health == VideoHealth::Fallback {
            return None;
        }
        if !self.played || self.dead_sessions >= MAX_DEAD_SESSIONS {
            return self.on_source_unreadable(now);
        }
        self.dead_sessions = self.dead_sessions.saturating_add(1);
        self.trouble_begins();
        self.health = VideoHealth::Stalled;
        self.rewatch(now);
        Some(PlaybackAction::ReloadSource { attempt: self.dead_sessions, seek_to_s: self.stopped_at_s, delay_ms: 0 })
    }

    /// Dead transcode sessions reloaded since the item last played.
    pub fn dead_sessions(&self) -> u32 {
        self.dead_sessions
    }

    /// Source checks in a row that found the file unreadable (0: it is not).
    pub fn unreadable_checks(&self) -> u32 {
        self.unreadable
    }

    /// How long the fallback waits before trying the source again (breaker
    /// closed): [`SOURCE_RETRY_MS`], or for an unreadable file twice as long
    /// after each failed try, up to [`MAX_UNREADABLE_RETRY_MS`].
    pub fn retry_delay_ms(&self) -> Millis {
        let doublings = self.unreadable.saturating_sub(1).min(16);
        SOURCE_RETRY_MS.saturating_mul(1 << doublings).min(MAX_UNREADABLE_RETRY_MS.max(SOURCE_RETRY_MS))
    }

    /// The item's duration, ms, once known.
    pub fn duration_ms(&self) -> Option<Millis> {
        // `as` saturates.
        self.duration_s.map(|d| (d * 1_000.0) as Millis)
    }

    /// Whether thumbnails may be prefetched now: the video is healthy and, if
    /// playing, not starving (at least [`STARVING_BUFFER_S`] buffered ahead).
    pub fn may_prefetch(&self) -> bool {
        // NaN (nothing buffered at the playhead) is starving too.
        let fed = self.buffered_ahead_s >= STARVING_BUFFER_S;
        let starving = self.playing && !fed;
        self.health == VideoHealth::Healthy && !starving
    }

    /// The seek thumbnail for workout time `session_s`: the server has one every
    /// `thumbnail_step_ms`, so this is `session_s` floored to that step, in ms.
    /// NaN or negative gives 0; huge values saturate.
    pub fn thumbnail_offset_ms(&self, session_s: f64) -> Millis {
        if session_s.is_nan() || session_s <= 0.0 {
            return 0;
        }
        let step = self.thumbnail_step_ms.max(1);
        // `as` saturates for huge values (and +inf).
        let ms = (session_s * 1_000.0) as Millis;
        (ms / step).saturating_mul(step)
    }
}

/// The session time as the person reads it: `mm:ss`, or `h:mm:ss` past an hour.
/// Negative or non-finite reads as `00:00`.
pub fn clock_text(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds > 0.0 { seconds as u64 } else { 0 };
    let (h, m, s) = (total / 3_600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn playing(t: f64) -> VideoSample {
        VideoSample {
            current_time_s: t,
            paused: false,
            ended: false,
            seeking: false,
            duration_s: f64::NAN,
            hidden: false,
            buffered_end_s: f64::NAN,
        }
    }

    fn paused(t: f64) -> VideoSample {
        VideoSample { paused: true, ..playing(t) }
    }

    /// A session that has played smoothly from 0 to 10 s (samples every 250 ms),
    /// ending at clock `10_000`.
    fn played_ten_seconds(config: &PlaybackConfig) -> Playback {
        let mut p = Playback::new(config);
        for i in 0..=40u32 {
            assert_eq!(p.sample(u64::from(i) * 250, playing(f64::from(i) * 0.25)), None);
        }
        assert_eq!(p.stopped_at_s(), 10.0);
        p
    }

    /// Samples `t` every 250 ms from `from` to `to` inclusive; returns the actions with
    /// their clock.
    fn hold(p: &mut Playback, from: Millis, to: Millis, s: VideoSample) -> Vec<(Millis, PlaybackAction)> {
        (from..=to).step_by(250).filter_map(|now| p.sample(now, s).map(|a| (now, a))).collect()
    }

    #[test]
    fn a_stall_is_declared_after_stall_ms_not_before() {
        // Given a video playing smoothly up to 10 s,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        // when currentTime stops advancing, then nothing happens for just under 1.2 s,
        assert!(hold(&mut p, 10_250, 11_000, playing(10.0)).is_empty());
        assert_eq!(p.sample(11_199, playing(10.0)), None);
        assert_eq!(p.health(), VideoHealth::Healthy);
        // then Stalled is returned once, 1.2 s after the last progress.
        assert_eq!(p.sample(11_200, playing(10.0)), Some(PlaybackAction::Stalled));
        assert!(hold(&mut p, 11_250, 15_000, playing(10.0)).is_empty());
        assert_eq!(p.health(), VideoHealth::Stalled);
        assert_eq!(p.stopped_at_s(), 10.0);
        // When it advances again, then it has recovered.
        assert_eq!(p.sample(15_250, playing(10.25)), Some(PlaybackAction::Recovered));
        assert_eq!(p.health(), VideoHealth::Healthy);
    }

    #[test]
    fn a_shorter_hiccup_is_not_a_stall() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        // 1 s without progress (just under stall_ms = 1.2 s), then progress.
        assert!(hold(&mut p, 10_250, 11_000, playing(10.0)).is_empty());
        assert_eq!(p.sample(11_150, playing(10.1)), None);
        assert!(hold(&mut p, 11_250, 12_250, playing(10.1)).is_empty());
        assert_eq!(p.health(), VideoHealth::Healthy);
    }

    #[test]
    fn a_pause_is_not_a_stall() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        // When the user pauses for a minute, then nothing happens,
        assert!(hold(&mut p, 10_250, 70_000, paused(10.0)).is_empty());
        // and after play, the stall watch starts afresh from the play.
        assert!(hold(&mut p, 70_250, 71_000, playing(10.0)).is_empty());
        assert_eq!(p.sample(71_200, playing(10.0)), Some(PlaybackAction::Stalled));
    }

    #[test]
    fn an_ended_video_is_not_a_stall() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        let ended = VideoSample { ended: true, ..playing(10.0) };
        assert!(hold(&mut p, 10_250, 30_000, ended).is_empty());
        assert_eq!(p.health(), VideoHealth::Healthy);
    }

    #[test]
    fn a_seek_is_not_a_stall() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        // Given the user seeks to 100 s: the element reports seeking for a second,
        let seeking = VideoSample { seeking: true, ..playing(100.0) };
        assert!(hold(&mut p, 10_250, 11_500, seeking).is_empty());
        // then holds still at 100 s (buffering after the seek) for just under 1.2 s,
        assert!(hold(&mut p, 11_750, 12_500, playing(100.0)).is_empty());
        // then plays on from there: no stall, and the new position is remembered.
        assert_eq!(p.sample(12_650, playing(100.25)), None);
        assert_eq!(p.stopped_at_s(), 100.25);
        // A jump without the seeking flag (backwards, or far forward) restarts the watch too.
        assert!(hold(&mut p, 12_750, 13_750, playing(100.25)).is_empty());
        assert_eq!(p.sample(13_800, playing(3.0)), None);
        assert!(hold(&mut p, 14_000, 14_750, playing(3.0)).is_empty());
        assert_eq!(p.sample(14_900, playing(500.0)), None);
        assert!(hold(&mut p, 15_000, 16_000, playing(500.0)).is_empty());
        assert_eq!(p.health(), VideoHealth::Healthy);
    }

    #[test]
    fn reloads_then_fallback() {
        // Given a stalled video and two source retries,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        hold(&mut p, 10_250, 11_250, playing(10.0));
        // when the web layer confirms the stall, then the source is reloaded at 10 s,
        assert_eq!(
            p.on_network_error(11_300),
            Some(PlaybackAction::ReloadSource { attempt: 1, seek_to_s: 10.0, delay_ms: 500 })
        );
        // and a reload that does not help is reported again after stall_ms;
        assert_eq!(hold(&mut p, 11_500, 13_000, playing(10.0)), vec![(12_500, PlaybackAction::Stalled)]);
        assert_eq!(
            p.on_network_error(12_600),
            Some(PlaybackAction::ReloadSource { attempt: 2, seek_to_s: 10.0, delay_ms: 1_000 })
        );
        // when the reloads are used up, then the session falls back, once.
        assert_eq!(p.on_network_error(14_000), Some(PlaybackAction::EnterFallback));
        assert_eq!(p.health(), VideoHealth::Fallback);
        assert_eq!(p.on_network_error(15_000), None);
        assert_eq!(p.on_breaker_open(15_000), None);
        // Samples in fallback change nothing.
        assert!(hold(&mut p, 15_000, 20_000, playing(10.0)).is_empty());
    }

    #[test]
    fn a_reload_that_empties_the_element_is_still_a_wait() {
        // Given a video playing to 10 s that stalls, reloaded by a player that
        // empties the element (paused, at 0) while its load hangs,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        let first = hold(&mut p, 10_250, 11_500, playing(10.0));
        assert_eq!(first, vec![(11_250, PlaybackAction::Stalled)]);
        assert!(matches!(p.on_network_error(11_250), Some(PlaybackAction::ReloadSource { attempt: 1, .. })));
        // then the wait goes on counting: stalled again, reloaded again, then the
        // fallback, within 5 s of the stall.
        let mut actions = Vec::new();
        for now in (11_500..=16_250).step_by(250) {
            if let Some(PlaybackAction::Stalled) = p.sample(now, paused(0.0)) {
                actions.push((now, p.on_network_error(now)));
            }
        }
        assert!(matches!(actions[0].1, Some(PlaybackAction::ReloadSource { attempt: 2, .. })), "{actions:?}");
        assert_eq!(actions[1].1, Some(PlaybackAction::EnterFallback), "{actions:?}");
        assert!(actions[1].0 <= 11_250 + 5_000, "{actions:?}");
    }

    #[test]
    fn a_pause_before_the_trouble_is_not_a_wait_while_reloading() {
        // Given a video the person paused at 10 s, then a media error and a reload,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(p.sample(10_250, paused(10.0)), None);
        assert!(matches!(p.on_network_error(11_250), Some(PlaybackAction::ReloadSource { .. })));
        // then its paused samples never make a stall.
        assert!(hold(&mut p, 11_500, 30_000, paused(0.0)).is_empty());
    }

    #[test]
    fn a_reload_gives_a_seek_that_still_waits_its_own_grace() {
        // Given a seek into a dead server, stalled after its grace and reloaded,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        let seeking = VideoSample { seeking: true, ..playing(60.0) };
        let first = hold(&mut p, 10_250, 16_000, seeking);
        assert_eq!(first, vec![(15_250, PlaybackAction::Stalled)]);
        assert!(matches!(p.on_network_error(15_250), Some(PlaybackAction::ReloadSource { attempt: 1, .. })));
        // when the element still seeks, then the next stall waits for the grace
        // again (not the next sample: three failures in half a second).
        let next = hold(&mut p, 15_500, 21_000, seeking);
        assert_eq!(next, vec![(20_500, PlaybackAction::Stalled)]);
    }

    #[test]
    fn playing_after_a_reload_recovers_and_resets_the_reloads() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(
            p.on_network_error(10_100),
            Some(PlaybackAction::ReloadSource { attempt: 1, seek_to_s: 10.0, delay_ms: 500 })
        );
        assert_eq!(p.on_playing(10_900), Some(PlaybackAction::Recovered));
        assert_eq!(p.health(), VideoHealth::Healthy);
        assert_eq!(
            p.on_network_error(20_000),
            Some(PlaybackAction::ReloadSource { attempt: 1, seek_to_s: 10.0, delay_ms: 500 })
        );
    }

    #[test]
    fn no_source_retries_means_straight_to_fallback() {
        let config = PlaybackConfig { source_retries: 0, ..PlaybackConfig::default() };
        let mut p = played_ten_seconds(&config);
        assert_eq!(p.on_network_error(10_100), Some(PlaybackAction::EnterFallback));
    }

    #[test]
    fn breaker_open_falls_back_even_when_healthy_and_resumes_at_session_time() {
        // Given a video playing at 10 s,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        // when the breaker opens, then the session falls back at once,
        assert_eq!(p.on_breaker_open(10_100), Some(PlaybackAction::EnterFallback));
        assert_eq!(p.health(), VideoHealth::Fallback);
        // and when it closes 60 s later, the video resumes where the workout is, playing;
        assert_eq!(p.on_breaker_closed(70_100, 70.0), Some(PlaybackAction::Resume { at_s: 70.0, play: true }));
        assert_eq!(p.health(), VideoHealth::Resuming);
        assert_eq!(p.on_breaker_closed(70_200, 70.1), None);
        // then `playing` makes it healthy.
        assert_eq!(p.on_playing(71_000), Some(PlaybackAction::Recovered));
        assert_eq!(p.health(), VideoHealth::Healthy);
        assert_eq!(p.on_breaker_closed(72_000, 72.0), None);
    }

    #[test]
    fn resume_at_the_stopped_position_when_configured() {
        let config = PlaybackConfig { resume: ResumeAt::Stopped, ..PlaybackConfig::default() };
        let mut p = played_ten_seconds(&config);
        p.on_breaker_open(10_100);
        assert_eq!(p.on_breaker_closed(70_100, 70.0), Some(PlaybackAction::Resume { at_s: 10.0, play: true }));
    }

    #[test]
    fn a_bad_session_clock_resumes_at_the_stopped_position() {
        for bad in [f64::NAN, f64::INFINITY, -5.0] {
            let mut p = played_ten_seconds(&PlaybackConfig::default());
            p.on_breaker_open(10_100);
            assert_eq!(p.on_breaker_closed(70_100, bad), Some(PlaybackAction::Resume { at_s: 10.0, play: true }));
        }
    }

    #[test]
    fn a_paused_video_stays_paused() {
        // Given the user paused at 10 s,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        p.sample(10_250, paused(10.0));
        // when the server goes down and comes back,
        assert_eq!(p.on_breaker_open(20_000), Some(PlaybackAction::EnterFallback));
        // then the video is restored but not played.
        assert_eq!(p.on_breaker_closed(80_000, 80.0), Some(PlaybackAction::Resume { at_s: 80.0, play: false }));
    }

    #[test]
    fn a_seek_that_never_gets_its_data_is_a_stall() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        let seeking = VideoSample { seeking: true, ..playing(100.0) };
        // Within the grace (4 x 1.2 s) a seek is not a stall,
        assert!(hold(&mut p, 10_250, 14_999, seeking).is_empty());
        // past it, the wait is watched like playback.
        let stalls = hold(&mut p, 15_000, 17_000, seeking);
        assert_eq!(stalls.len(), 1);
        assert!(matches!(stalls.first(), Some((at, PlaybackAction::Stalled)) if (15_000..=16_500).contains(at)));
    }

    #[test]
    fn a_source_meant_to_play_resumes_playing_even_if_never_sampled() {
        let mut p = Playback::new(&PlaybackConfig::default());
        p.expect_playing(true);
        assert_eq!(p.on_breaker_open(100), Some(PlaybackAction::EnterFallback));
        assert_eq!(p.on_breaker_closed(5_000, 5.0), Some(PlaybackAction::Resume { at_s: 5.0, play: true }));
        // And one not meant to play resumes paused.
        let mut p = Playback::new(&PlaybackConfig::default());
        p.expect_playing(false);
        p.on_breaker_open(100);
        assert_eq!(p.on_breaker_closed(5_000, 5.0), Some(PlaybackAction::Resume { at_s: 5.0, play: false }));
    }

    #[test]
    fn a_resumed_source_gets_time_to_load_and_its_reloads_afresh() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        // Given reloads ran out and the video fell back,
        hold(&mut p, 10_250, 11_500, playing(10.0));
        assert!(matches!(p.on_network_error(11_500), Some(PlaybackAction::ReloadSource { attempt: 1, .. })));
        assert!(matches!(p.on_network_error(12_000), Some(PlaybackAction::ReloadSource { attempt: 2, .. })));
        assert_eq!(p.on_network_error(12_500), Some(PlaybackAction::EnterFallback));
        // when the server is back, the restored source may take 4 stall times to start,
        assert!(matches!(p.on_breaker_closed(30_000, 30.0), Some(PlaybackAction::Resume { .. })));
        assert!(hold(&mut p, 30_250, 34_500, playing(30.0)).is_empty());
        // then, its server having answered, it is a slow start until the patience
        // is spent (a reload would start the read again),
        let waiting = hold(&mut p, 34_750, 59_750, playing(30.0));
        assert_eq!(waiting, vec![(35_250, PlaybackAction::SlowStream)]);
        // and a source that really fails is reloaded again before falling back.
        assert_eq!(p.sample(60_000, playing(30.0)), Some(PlaybackAction::Stalled));
        assert!(matches!(p.on_network_error(60_000), Some(PlaybackAction::ReloadSource { attempt: 1, .. })));
    }

    #[test]
    fn clock_text_reads_minutes_and_hours() {
        assert_eq!(clock_text(0.0), "00:00");
        assert_eq!(clock_text(75.9), "01:15");
        assert_eq!(clock_text(3_725.0), "1:02:05");
        assert_eq!(clock_text(f64::NAN), "00:00");
        assert_eq!(clock_text(-5.0), "00:00");
        assert_eq!(clock_text(f64::INFINITY), "00:00");
    }

    #[test]
    fn a_video_resumed_paused_is_healthy_once_loaded() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        p.sample(10_250, paused(10.0));
        p.on_breaker_open(20_000);
        p.on_breaker_closed(80_000, 80.0);
        assert_eq!(p.health(), VideoHealth::Resuming);
        assert_eq!(p.on_loaded(80_500), Some(PlaybackAction::Recovered));
        assert_eq!(p.health(), VideoHealth::Healthy);
        assert_eq!(p.on_loaded(80_600), None);
    }

    #[test]
    fn a_video_resumed_playing_waits_for_playing_not_loaded() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        p.on_breaker_open(20_000);
        p.on_breaker_closed(80_000, 80.0);
        assert_eq!(p.on_loaded(80_500), None);
        assert_eq!(p.health(), VideoHealth::Resuming);
        assert_eq!(p.on_playing(80_700), Some(PlaybackAction::Recovered));
    }

    #[test]
    fn a_stalled_video_resumes_when_the_breaker_closes() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        hold(&mut p, 10_250, 11_250, playing(10.0));
        assert_eq!(p.health(), VideoHealth::Stalled);
        assert_eq!(p.on_breaker_closed(12_000, 12.0), Some(PlaybackAction::Resume { at_s: 12.0, play: true }));
        // And progress after the resume's seek means recovered.
        assert_eq!(p.sample(12_250, playing(12.0)), None);
        assert_eq!(p.sample(12_500, playing(12.25)), Some(PlaybackAction::Recovered));
    }

    #[test]
    fn healthy_video_ignores_breaker_closed() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(p.on_breaker_closed(10_100, 10.0), None);
        assert_eq!(p.on_playing(10_200), None);
    }

    #[test]
    fn a_clock_going_backwards_never_panics_nor_stalls_falsely() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(p.sample(0, playing(10.0)), None);
        assert_eq!(p.sample(500, playing(10.0)), None);
        assert_eq!(p.health(), VideoHealth::Healthy);
    }

    #[test]
    fn nan_current_time_is_no_progress() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        let actions = hold(&mut p, 10_250, 12_000, playing(f64::NAN));
        assert_eq!(actions, vec![(11_250, PlaybackAction::Stalled)]);
        assert_eq!(p.stopped_at_s(), 10.0);
    }

    #[test]
    fn thumbnails_are_prefetched_only_while_healthy_and_not_starving() {
        let mut p = Playback::new(&PlaybackConfig::default());
        assert!(p.may_prefetch(), "a video not playing takes no bandwidth");
        let fed = |t: f64, ahead: f64| VideoSample { buffered_end_s: t + ahead, duration_s: 600.0, ..playing(t) };
        p.sample(0, fed(0.0, 1.0));
        assert!(!p.may_prefetch(), "1 s buffered: starving");
        p.sample(250, VideoSample { buffered_end_s: f64::NAN, ..playing(0.25) });
        assert!(!p.may_prefetch(), "nothing buffered at the playhead: starving");
        p.sample(500, fed(0.5, 12.0));
        assert!(p.may_prefetch());
        assert_eq!(p.duration_ms(), Some(600_000));
        p.sample(750, VideoSample { paused: true, ..fed(0.75, 0.0) });
        assert!(p.may_prefetch(), "paused: the element takes no bandwidth");
        p.on_network_error(1_000);
        assert!(!p.may_prefetch(), "in trouble");
    }

    #[test]
    fn thumbnail_offsets_floor_to_the_step() {
        let p = Playback::new(&PlaybackConfig::default());
        assert_eq!(p.thumbnail_offset_ms(0.0), 0);
        assert_eq!(p.thumbnail_offset_ms(9.999), 0);
        assert_eq!(p.thumbnail_offset_ms(10.0), 10_000);
        assert_eq!(p.thumbnail_offset_ms(125.4), 120_000);
        assert_eq!(p.thumbnail_offset_ms(f64::NAN), 0);
        assert_eq!(p.thumbnail_offset_ms(-3.0), 0);
        assert_eq!(p.thumbnail_offset_ms(f64::NEG_INFINITY), 0);
        let huge = p.thumbnail_offset_ms(f64::INFINITY);
        assert_eq!(huge, u64::MAX / 10_000 * 10_000);
        assert_eq!(p.thumbnail_offset_ms(1e300), huge);
        let fine = Playback::new(&PlaybackConfig { thumbnail_step_ms: 2_500, ..PlaybackConfig::default() });
        assert_eq!(fine.thumbnail_offset_ms(7.6), 7_500);
    }

    #[test]
    fn a_hidden_page_and_a_throttled_gap_are_not_stalls() {
        // Given a video playing smoothly up to 10 s,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        // when the page is hidden for a minute and currentTime does not move,
        let hidden = VideoSample { hidden: true, ..playing(10.0) };
        assert!(hold(&mut p, 10_250, 70_000, hidden).is_empty());
        // then nothing is a stall; back in view, only 1.2 s watched in the open is.
        assert!(hold(&mut p, 70_250, 71_000, playing(10.0)).is_empty());
        assert_eq!(p.sample(71_200, playing(10.0)), Some(PlaybackAction::Stalled));

        // Given another session, when the timer sleeps 30 s (bfcache, throttling),
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(p.sample(40_000, playing(10.0)), None);
        // then the first sample after the gap restarts the watch; playback resumes.
        assert_eq!(p.sample(40_250, playing(10.25)), None);
        assert_eq!(p.health(), VideoHealth::Healthy);
    }

    #[test]
    fn parked_at_its_end_without_ended_is_the_end_not_a_stall() {
        // Given a 12 s video played to 11.8 s, where it stops without `ended`
        // (a zero-byte trailing fragment),
        let mut p = Playback::new(&PlaybackConfig::default());
        let at = |t: f64| VideoSample { duration_s: 12.0, ..playing(t) };
        for i in 0..=47u32 {
            p.sample(u64::from(i) * 250, at(f64::from(i) * 0.25));
        }
        // then the page is told once that it ended, and nothing is reloaded.
        let actions = hold(&mut p, 12_000, 40_000, at(11.75));
        assert_eq!(actions, vec![(12_000, PlaybackAction::Ended)]);
        assert_eq!(p.health(), VideoHealth::Healthy);
        // A stop short of the end is still a stall.
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        let short = VideoSample { duration_s: 12.0, ..playing(10.0) };
        assert_eq!(hold(&mut p, 10_250, 11_500, short), vec![(11_250, PlaybackAction::Stalled)]);
    }

    #[test]
    fn a_pause_fired_with_a_dead_pipeline_is_the_failures_an_earlier_one_the_persons() {
        // Given a video playing to 10 s whose connection dies: the element fires
        // `pause` (sampled at once), then `error` with MediaError 2 40 ms later,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(p.sample(10_100, paused(10.1)), None);
        let reload = p.on_network_error(10_140);
        // then it reloads at the position and will play.
        assert_eq!(reload, Some(PlaybackAction::ReloadSource { attempt: 1, seek_to_s: 10.0, delay_ms: 500 }));
        assert!(p.was_playing());

        // Given the person paused at 10 s, and the pipeline died 3 s later,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(p.sample(10_100, paused(10.1)), None);
        assert!(hold(&mut p, 10_250, 13_000, paused(10.1)).is_empty());
        assert!(p.on_network_error(13_100).is_some());
        // then it resumes paused: never self-resume a paused video.
        assert!(!p.was_playing());
    }

    #[test]
    fn the_pause_right_after_a_media_error_is_not_a_recovery() {
        // Given a video playing at 10 s, sampled every 250 ms,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(p.sample(10_250, playing(10.25)), None);
        // when its pipeline dies at 10.4 s (MediaError 2) and the element's `pause`
        // is sampled 3 ms later, with the clip 0.15 s further than at the last tick,
        let reload = p.on_network_error(10_400);
        assert!(matches!(reload, Some(PlaybackAction::ReloadSource { attempt: 1, .. })));
        let pause = VideoSample { paused: true, ..playing(10.4) };
        // then that is no recovery: the video is still waiting for its reload,
        assert_eq!(p.sample(10_403, pause), None);
        assert_eq!(p.sample(10_650, pause), None);
        assert_eq!(p.health(), VideoHealth::Stalled);
        assert!(p.was_playing(), "the pause is the failure's");
        // and only playing progress after the reload's seek is.
        assert_eq!(p.sample(11_000, VideoSample { seeking: true, ..playing(10.4) }), None);
        assert_eq!(p.sample(11_250, playing(10.4)), None);
        assert_eq!(p.sample(11_500, playing(10.65)), Some(PlaybackAction::Recovered));
    }

    #[test]
    fn a_refused_resume_waits_for_a_gesture_then_plays_where_the_workout_is() {
        // Given a video that fell back while playing and is being resumed,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        p.on_breaker_open(10_000);
        assert!(matches!(p.on_breaker_closed(40_000, 40.0), Some(PlaybackAction::Resume { play: true, .. })));
        // when the browser refuses its play(), then a gesture is awaited, once,
        assert_eq!(p.on_play_refused(), Some(PlaybackAction::AwaitGesture));
        assert_eq!(p.on_play_refused(), None);
        assert!(hold(&mut p, 40_250, 60_000, paused(40.0)).is_empty(), "waiting is not a stall");
        // and the person's tap plays it where the workout is now, not where it was.
        assert_eq!(p.on_gesture(61.5), Some(PlaybackAction::PlayAt { at_s: 61.5 }));
        assert_eq!(p.on_gesture(62.0), None);
        // A refusal in the fallback (no source) awaits nothing.
        p.on_breaker_open(70_000);
        assert_eq!(p.on_play_refused(), None);

        // Given a start the browser refused (the page wanted it playing),
        let mut p = Playback::new(&PlaybackConfig::default());
        p.expect_playing(true);
        assert_eq!(p.on_play_refused(), Some(PlaybackAction::AwaitGesture));
        // when it sits paused and then the server fails and comes back,
        assert!(hold(&mut p, 0, 5_000, paused(0.0)).is_empty());
        p.on_breaker_open(5_000);
        // then the resume still means to play: the pause was the browser's.
        assert!(matches!(p.on_breaker_closed(9_000, 9.0), Some(PlaybackAction::Resume { play: true, .. })));
    }

    #[test]
    fn a_refused_resume_that_plays_by_itself_awaits_no_gesture() {
        // Given a resume whose play() was refused,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        p.on_breaker_open(10_000);
        assert!(matches!(p.on_breaker_closed(40_000, 40.0), Some(PlaybackAction::Resume { play: true, .. })));
        assert_eq!(p.on_play_refused(), Some(PlaybackAction::AwaitGesture));
        // when the browser plays it anyway (its own autoplay), then it is back and no
        // longer blocked: a later tap neither seeks nor plays it.
        assert_eq!(p.on_playing(41_000), Some(PlaybackAction::Recovered));
        assert!(!p.is_blocked());
        assert_eq!(p.on_gesture(70.0), None);
    }

    #[test]
    fn an_unreadable_file_falls_back_at_once_and_is_retried_ever_more_slowly() {
        // Given a video playing, when its source check finds the file unreadable,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(p.retry_delay_ms(), SOURCE_RETRY_MS);
        // then it falls back at once, no reload,
        assert_eq!(p.on_source_unreadable(10_000), Some(PlaybackAction::EnterFallback));
        assert_eq!(p.unreadable_checks(), 1);
        // and each try that finds it still unreadable doubles the wait, up to 2 min.
        let mut delays = vec![p.retry_delay_ms()];
        for i in 0..6u64 {
            assert!(matches!(p.on_breaker_closed(20_000 + i, 20.0), Some(PlaybackAction::Resume { play: true, .. })));
            assert_eq!(p.on_source_unreadable(20_000 + i), Some(PlaybackAction::EnterFallback));
            delays.push(p.retry_delay_ms());
        }
        assert_eq!(delays, [10_000, 20_000, 40_000, 80_000, 120_000, 120_000, 120_000]);
        // When it is readable again and plays, the next trouble starts afresh.
        assert!(matches!(p.on_breaker_closed(30_000, 30.0), Some(PlaybackAction::Resume { .. })));
        assert_eq!(p.on_playing(31_000), Some(PlaybackAction::Recovered));
        assert_eq!((p.unreadable_checks(), p.retry_delay_ms()), (0, SOURCE_RETRY_MS));
    }

    #[test]
    fn a_resumed_source_that_receives_data_is_slow_not_a_failure() {
        // Given a video back from the fallback at 70 s, waiting at 70 s while the
        // element receives data (`progress`) but has nothing playable yet (a
        // paced server; the browser plays nothing of a block until it is whole),
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(p.on_network_error(11_000).map(|_| ()), Some(()));
        p.on_network_error(12_000);
        p.on_network_error(13_000);
        assert_eq!(p.health(), VideoHealth::Fallback);
        assert!(matches!(p.on_breaker_closed(70_000, 70.0), Some(PlaybackAction::Resume { .. })));
        let mut actions = Vec::new();
        for n in (70_250..=110_000).step_by(250) {
            if n % 500 == 0 {
                p.on_data(n);
            }
            actions.extend(p.sample(n, playing(70.0)));
        }
        // then it is a slow stream, said once, past the resume's patience too:
        // never a stall (a breaker failure),
        assert_eq!(actions, vec![PlaybackAction::SlowStream]);
        // and when the data stops, it is a stall again.
        let later = hold(&mut p, 110_250, 125_000, playing(70.0));
        assert_eq!(later.iter().map(|(_, a)| *a).collect::<Vec<_>>(), vec![PlaybackAction::Stalled]);
        assert!(later[0].0 >= 110_000 + 2 * 1_200, "stalled at {}", later[0].0);
    }

    #[test]
    fn a_stall_while_data_still_arrives_is_a_slow_stream_until_the_data_stops() {
        // Given a video playing to 10 s, when it waits at 10 s while its buffer
        // still grows (a transcoder just keeping up),
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        let fed = |now: Millis| VideoSample { buffered_end_s: 10.0 + now as f64 / 10_000.0, ..playing(10.0) };
        let actions: Vec<_> = (10_250..=14_000).step_by(250).filter_map(|n| p.sample(n, fed(n))).collect();
        // then it is a slow stream, said once: no stall, no failure, no reload,
        assert_eq!(actions, vec![PlaybackAction::SlowStream]);
        assert_eq!(p.health(), VideoHealth::Healthy);
        // and playing on from the grown buffer is no trouble either;
        assert_eq!(p.sample(14_250, fed(14_250)), None);
        assert_eq!(p.sample(14_500, VideoSample { buffered_end_s: 12.0, ..playing(10.25) }), None);
        // but when the data stops too, it is a stall.
        let starved = VideoSample { buffered_end_s: 12.0, ..playing(10.25) };
        let later = hold(&mut p, 14_750, 25_000, starved);
        assert_eq!(later.last().map(|(_, a)| *a), Some(PlaybackAction::Stalled));
        assert!(later.iter().all(|(n, a)| *a != PlaybackAction::Stalled || *n >= 14_500 + 2 * 1_200));
    }

    #[test]
    fn a_dead_transcode_session_reloads_at_once_and_is_bounded() {
        // Given a streaming item that played to 10 s,
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(p.on_playing(10_000), None);
        // when its segments answer 404, then it reloads at once at 10 s (a fresh source),
        let reload = PlaybackAction::ReloadSource { attempt: 1, seek_to_s: 10.0, delay_ms: 0 };
        assert_eq!(p.on_segment_gone(10_100), Some(reload));
        assert_eq!(p.health(), VideoHealth::Stalled);
        assert!(p.was_playing());
        // and the fresh sessions that die too are reloaded up to MAX_DEAD_SESSIONS in a row,
        for attempt in 2..=MAX_DEAD_SESSIONS {
            let action = p.on_segment_gone(10_200 + u64::from(attempt));
            assert_eq!(action, Some(PlaybackAction::ReloadSource { attempt, seek_to_s: 10.0, delay_ms: 0 }));
        }
        // then the item is unreadable: the fallback, no failure of the server.
        assert_eq!(p.on_segment_gone(11_000), Some(PlaybackAction::EnterFallback));
        assert_eq!(p.unreadable_checks(), 1);
        assert_eq!(p.on_segment_gone(11_100), None);
    }

    #[test]
    fn playing_again_rearms_the_dead_session_reloads() {
        let mut p = played_ten_seconds(&PlaybackConfig::default());
        assert_eq!(p.on_playing(10_000), None);
        for round in 0..10u64 {
            let action = p.on_segment_gone(20_000 * (round + 1));
            assert!(matches!(action, Some(PlaybackAction::ReloadSource { attempt: 1, delay_ms: 0, .. })));
            assert_eq!(p.on_playing(20_000 * (round + 1) + 1_000), Some(PlaybackAction::Recovered));
        }
    }

    #[test]
    fn a_segment_gone_before_the_item_ever_played_is_an_unreadable_file() {
        let mut p = Playback::new(&PlaybackConfig::default());
        assert_eq!(p.on_segment_gone(1_000), Some(PlaybackAction::EnterFallback));
        assert_eq!(p.unreadable_checks(), 1);
        assert_eq!(p.dead_sessions(), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Sample(u64, f64, bool, bool, bool, f64, bool),
        Error(u64),
        Open(u64),
        Closed(u64, f64),
        Playing(u64),
        Loaded(u64),
        Refused,
        Gesture(f64),
        Unreadable(u64),
        SegmentGone(u64),
        Data(u64),
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![0.0..1_000.0f64, any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(-1.0),]
    }

    fn any_op() -> impl Strategy<Value = Op> {
        let now = 0..200_000u64;
        prop_oneof![
            4 => (now.clone(), any_f64(), any::<bool>(), any::<bool>(), any::<bool>(), any_f64(), any::<bool>())
                .prop_map(|(n, t, p, e, s, d, h)| Op::Sample(n, t, p, e, s, d, h)),
            1 => now.clone().prop_map(Op::Error),
            1 => now.clone().prop_map(Op::Open),
            1 => (now.clone(), any_f64()).prop_map(|(n, t)| Op::Closed(n, t)),
            1 => now.clone().prop_map(Op::Playing),
            1 => now.prop_map(Op::Loaded),
            1 => Just(Op::Refused),
            1 => any_f64().prop_map(Op::Gesture),
            1 => (0..200_000u64).prop_map(Op::Unreadable),
            1 => (0..200_000u64).prop_map(Op::SegmentGone),
            1 => (0..200_000u64).prop_map(Op::Data),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_sequences_never_panic_and_resume_only_follows_trouble(
            ops in proptest::collection::vec(any_op(), 0..300),
            retries in 0..4u32,
        ) {
            let config = PlaybackConfig { source_retries: retries, ..PlaybackConfig::default() };
            let mut p = Playback::new(&config);
            for op in ops {
                let before = p.health();
                let action = match op {
                    Op::Sample(n, t, paused, ended, seeking, duration_s, hidden) => {
                        let buffered_end_s = t + 1.0;
                        p.sample(n, VideoSample { current_time_s: t, paused, ended, seeking, duration_s, hidden, buffered_end_s })
                    }
                    Op::Error(n) => p.on_network_error(n),
                    Op::Open(n) => p.on_breaker_open(n),
                    Op::Closed(n, t) => p.on_breaker_closed(n, t),
                    Op::Playing(n) => p.on_playing(n),
                    Op::Loaded(n) => p.on_loaded(n),
                    Op::Refused => p.on_play_refused(),
                    Op::Gesture(t) => p.on_gesture(t),
                    Op::Unreadable(n) => p.on_source_unreadable(n),
                    Op::SegmentGone(n) => p.on_segment_gone(n),
                    Op::Data(n) => {
                        p.on_data(n);
                        None
                    }
                };
                prop_assert!(p.dead_sessions() <= MAX_DEAD_SESSIONS);
                prop_assert!((SOURCE_RETRY_MS..=MAX_UNREADABLE_RETRY_MS).contains(&p.retry_delay_ms()));
                match action {
                    Some(PlaybackAction::Resume { at_s, .. }) => {
                        prop_assert!(matches!(before, VideoHealth::Fallback | VideoHealth::Stalled));
                        prop_assert!(at_s.is_finite() && at_s >= 0.0);
                        prop_assert_eq!(p.health(), VideoHealth::Resuming);
                    }
                    Some(PlaybackAction::ReloadSource { attempt, seek_to_s, delay_ms }) => {
                        if delay_ms == 0 {
                            // A dead transcode session's reload.
                            prop_assert!((1..=MAX_DEAD_SESSIONS).contains(&attempt));
                        } else {
                            prop_assert!((1..=retries).contains(&attempt));
                            prop_assert!((RELOAD_DELAY_MS..=RELOAD_DELAY_MS * 16).contains(&delay_ms));
                        }
                        prop_assert!(seek_to_s.is_finite() && seek_to_s >= 0.0);
                    }
                    Some(PlaybackAction::EnterFallback) => {
                        prop_assert_ne!(before, VideoHealth::Fallback);
                        prop_assert_eq!(p.health(), VideoHealth::Fallback);
                    }
                    Some(PlaybackAction::Stalled) => prop_assert_eq!(p.health(), VideoHealth::Stalled),
                    Some(PlaybackAction::Recovered) => prop_assert_eq!(p.health(), VideoHealth::Healthy),
                    Some(PlaybackAction::AwaitGesture) => prop_assert!(p.is_blocked()),
                    Some(PlaybackAction::SlowStream) => {
                        prop_assert!(matches!(p.health(), VideoHealth::Healthy | VideoHealth::Resuming));
                    }
                    Some(PlaybackAction::PlayAt { at_s }) => {
                        prop_assert!(at_s.is_finite() && at_s >= 0.0 && !p.is_blocked());
                    }
                    Some(PlaybackAction::Ended) => {
                        prop_assert_eq!(before, VideoHealth::Healthy);
                        prop_assert_eq!(p.health(), VideoHealth::Healthy);
                    }
                    None => {}
                }
                prop_assert!(p.stopped_at_s().is_finite() && p.stopped_at_s() >= 0.0);
                let _ = p.thumbnail_offset_ms(p.stopped_at_s());
            }
        }
    }
}
