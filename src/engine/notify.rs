//! Notification policy: turns engine signals into the few user notices worth showing.
//!
//! The policy, for the page (services are config names; `None` is a slot of its own):
//!
//! - **Stages.** Problem signals are ordered `Slow < Retrying < Unavailable < Fallback`.
//!   Each service has its stage; a problem signal is shown only when it escalates
//!   past its service's stage *and* past what the page was told in its current
//!   episode by any service (the texts all speak of "the video server"), so twenty
//!   slow requests make one notice, "retrying" after "unavailable" makes none, and
//!   the page's api being slow after the media server was makes none either.
//! - **Recovery.** `Recovered` ends a service's episode. When no other service is in
//!   one, the page's episode ends: if any problem notice was shown, a `Restored`
//!   notice says so; otherwise the reset is silent. While another service is still
//!   in trouble, "Video is back." waits for it, unless the video itself comes back
//!   from the fallback: that is said at once, and the others' recoveries are then
//!   quiet. A service's answer ends an episode that got no further than slow or
//!   retrying ([`Signal::Answered`]), quietly. This is also the hysteresis: the
//!   engine signals `Slow` only after the soft deadline, so a blip shorter than
//!   that shows nothing, nor does its recovery.
//! - **One message per moment.** A notice within [`REPLACE_WITHIN_MS`] of the page's
//!   previous one `replaces` it (a stall that is also a reload, a breaker that opens
//!   as the video falls back).
//! - **Flapping.** For `min_interval_ms` after a `Restored` notice, a new episode's
//!   `Slow` and `Retrying` notices are suppressed. The stage still advances, so a real
//!   `Unavailable` or `Fallback` is still shown (and then its recovery too). A clock
//!   that went backwards counts as "no time has passed" (still suppressed).
//! - **Offline / online** are client-wide (`service` is always `None`): `Offline` is
//!   shown once until `Online`; `Online` is shown only if `Offline` was shown. They do
//!   not touch the services' stages.
//! - **No secrets.** Texts come only from the catalogue (defaults or
//!   `config.messages`); `service` is the name the caller passes, which is a config
//!   name, never a URL.
//! - **Bounded memory.** At most [`MAX_SERVICES`] service slots are kept (services are
//!   few); names are cut to [`MAX_NAME_BYTES`]. When full, an idle slot (no episode
//!   under way) is reused; if none is idle, signals for the new name are ignored.

use super::config::NoticeConfig;
use super::value::Value;
use super::Millis;

/// Most service slots a [`Notifier`] keeps.
pub const MAX_SERVICES: usize = 64;
/// Longest service name kept, in bytes (longer names are cut at a char boundary).
pub const MAX_NAME_BYTES: usize = 64;
/// A notice this soon after the page's previous one replaces it.
pub const REPLACE_WITHIN_MS: Millis = 1_000;

/// Which notice: one per catalogue key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// A request passed its soft deadline.
    Slow,
    /// Requests are being retried.
    Retrying,
    /// The service's breaker is open.
    Unavailable,
    /// The video switched to the thumbnail fallback.
    Fallback,
    /// The service is back after a shown problem.
    Restored,
    /// The client lost its network.
    Offline,
    /// The client is back online after a shown `Offline`.
    Online,
    /// The browser refused to resume the video without a user gesture.
    TapToResume,
    /// The server refuses to read the video file (404, 403, 410): not a dead server.
    Unreadable,
}

impl NoticeKind {
    /// Every kind, in the order of [`NOTICE_KEYS`](super::config::NOTICE_KEYS).
    pub const ALL: [NoticeKind; 9] = [
        NoticeKind::Slow,
        NoticeKind::Retrying,
        NoticeKind::Unavailable,
        NoticeKind::Fallback,
        NoticeKind::Restored,
        NoticeKind::Offline,
        NoticeKind::Online,
        NoticeKind::TapToResume,
        NoticeKind::Unreadable,
    ];

    /// The stable catalogue key (one of [`NOTICE_KEYS`](super::config::NOTICE_KEYS)).
    pub const fn key(self) -> &'static str {
        match self {
            NoticeKind::Slow => "slow",
            NoticeKind::Retrying => "retrying",
            NoticeKind::Unavailable => "unavailable",
            NoticeKind::Fallback => "fallback",
            NoticeKind::Restored => "restored",
            NoticeKind::Offline => "offline",
            NoticeKind::Online => "online",
            NoticeKind::TapToResume => "tapToResume",
            NoticeKind::Unreadable => "unreadable",
        }
    }

    /// How serious the notice is.
    pub const fn severity(self) -> Severity {
        match self {
            NoticeKind::Slow | NoticeKind::Retrying | NoticeKind::Restored | NoticeKind::Online => Severity::Info,
            NoticeKind::Unavailable
            | NoticeKind::Fallback
            | NoticeKind::Offline
            | NoticeKind::TapToResume
            | NoticeKind::Unreadable => Severity::Warning,
        }
    }

    /// The default English text.
    pub const fn default_text(self) -> &'static str {
        match self {
            NoticeKind::Slow => "Video server is slow to respond. Retrying…",
            NoticeKind::Retrying => "Still trying to reach the video server…",
            NoticeKind::Unavailable => "Video server is unavailable. We'll keep checking.",
            NoticeKind::Fallback => "Video paused — your workout continues.",
            NoticeKind::Restored => "Video is back.",
            NoticeKind::Offline => "You're offline. Your workout continues.",
            NoticeKind::Online => "You're back online.",
            NoticeKind::TapToResume => "Tap the screen to resume the video.",
            NoticeKind::Unreadable => "Video file unavailable — retrying",
        }
    }

    const fn index(self) -> usize {
        match self {
            NoticeKind::Slow => 0,
            NoticeKind::Retrying => 1,
            NoticeKind::Unavailable => 2,
            NoticeKind::Fallback => 3,
            NoticeKind::Restored => 4,
            NoticeKind::Offline => 5,
            NoticeKind::Online => 6,
            NoticeKind::TapToResume => 7,
            NoticeKind::Unreadable => 8,
        }
    }
}

/// How a notice should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Informational.
    Info,
    /// Something the user should know is degraded.
    Warning,
    /// Something failed outright (not used by the default policy).
    Error,
}

impl Severity {
    /// The camelCase name used in events.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One notice for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Which notice.
    pub kind: NoticeKind,
    /// Its catalogue key (for i18n on the JS side).
    pub key: &'static str,
    /// How it should look.
    pub severity: Severity,
    /// The text, from the catalogue only.
    pub text: String,
    /// How long it stays up.
    pub duration_ms: Millis,
    /// The service it is about (a config name), or `None` for client-wide notices.
    pub service: Option<String>,
    /// It follows the page's previous notice within [`REPLACE_WITHIN_MS`] (the same
    /// moment: a stall that is also a reload, a breaker that opens as the video
    /// falls back): show it in that one's place, so a person sees one message.
    pub replaces: bool,
}

impl Notice {
    /// `{"kind", "key", "severity", "text", "durationMs", "service", "replaces"}`; no
    /// service is `null`.
    pub fn to_value(&self) -> Value {
        Value::Object(self.fields())
    }

    /// The fields of [`Notice::to_value`], to embed in an event.
    pub(crate) fn fields(&self) -> Vec<(String, Value)> {
        vec![
            ("kind".into(), self.kind.key().into()),
            ("key".into(), self.key.into()),
            ("severity".into(), self.severity.as_str().into()),
            ("text".into(), self.text.as_str().into()),
            ("durationMs".into(), self.duration_ms.into()),
            ("service".into(), self.service.as_deref().into()),
            ("replaces".into(), self.replaces.into()),
        ]
    }
}

/// What the engine tells the notifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A request passed the soft deadline.
    Slow,
    /// A request is being retried.
    Retrying,
    /// The breaker opened.
    Unavailable,
    /// The video fell back to thumbnails.
    Fallback,
    /// The service works again (breaker closed, video healthy).
    Recovered,
    /// A request to the service succeeded while its breaker is closed: ends an
    /// episode that got no further than slow or retrying (quietly, unless it owes
    /// the page a "Video is back.").
    Answered,
    /// The client went offline.
    Offline,
    /// The client came back online.
    Online,
    /// The browser refused to play the video without a user gesture.
    PlayBlocked,
    /// The server refuses to read the video file.
    Unreadable,
}

/// Problem stage of one service: 0 is none, then Slow = 1 … Fallback = 4.
type Stage = u8;

/// The stage of a video in the fallback.
const FALLBACK_STAGE: Stage = 4;

fn problem(signal: Signal) -> Option<(Stage, NoticeKind)> {
    match signal {
        Signal::Slow => Some((1, NoticeKind::Slow)),
        Signal::Retrying => Some((2, NoticeKind::Retrying)),
        Signal::Unavailable => Some((3, NoticeKind::Unavailable)),
        Signal::Fallback => Some((4, NoticeKind::Fallback)),
        Signal::Recovered
        | Signal::Answered
        | Signal::Offline
        | Signal::Online
        | Signal::PlayBlocked
        | Signal::Unreadable => None,
    }
}

/// One service's episode.
#[derive(Debug, Clone, Default)]
struct Slot {
    stage: Stage,
    /// A problem notice was shown in this episode.
    shown: bool,
    /// When the last `Restored` notice was shown (or an episode quietly ended).
    restored_at: Option<Millis>,
    /// Another service's shown episode ended while this one was under way: this
    /// one's end says "Video is back.".
    owed: bool,
}

impl Slot {
    fn is_idle(&self) -> bool {
        self.stage == 0 && !self.shown && !self.owed
    }
}

/// The notification policy (see the module docs).
#[derive(Debug, Clone)]
pub struct Notifier {
    texts: [String; 9],
    duration_ms: Millis,
    min_interval_ms: Millis,
    /// The slot for signals without a service.
    unnamed: Slot,
    services: Vec<(String, Slot)>,
    offline_shown: bool,
    /// When the page's last stage notice was shown.
    shown_at: Option<Millis>,
    /// The highest stage the page was told of in its current episode (any service).
    told: Stage,
}

fn cut(name: &str) -> &str {
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let end = name
        .char_indices()
        .map(|(i, c)| i.saturating_add(c.len_utf8()))
        .take_while(|&end| end <= MAX_NAME_BYTES)
        .last()
        .unwrap_or(0);
    name.get(..end).unwrap_or("")
}

impl Notifier {
    /// A notifier with the config's durations and text overrides.
    pub fn new(config: &NoticeConfig) -> Self {
        let texts = NoticeKind::ALL.map(|kind| config.message(kind.key()).unwrap_or(kind.default_text()).to_owned());
        Self {
            texts,
            duration_ms: config.duration_ms,
            min_interval_ms: config.min_interval_ms,
            unnamed: Slot::default(),
            services: Vec::new(),
            offline_shown: false,
            shown_at: None,
            told: 0,
        }
    }

    fn notice(&self, kind: NoticeKind, service: Option<&str>) -> Notice {
        Notice {
            kind,
            key: kind.key(),
            severity: kind.severity(),
            text: self.texts.get(kind.index()).cloned().unwrap_or_else(|| kind.default_text().to_owned()),
            duration_ms: self.duration_ms,
            service: service.map(str::to_owned),
            replaces: false,
        }
    }

    /// The index of a service's slot, made (or an idle one reused) if needed;
    /// `None` when every slot is busy with another service.
    fn slot_index(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = self.services.iter().position(|(n, _)| n == name) {
            return Some(i);
        }
        if self.services.len() < MAX_SERVICES {
            self.services.push((name.to_owned(), Slot::default()));
            return Some(self.services.len() - 1);
        }
        let i = self.services.iter().position(|(_, s)| s.is_idle())?;
        if let Some(slot) = self.services.get_mut(i) {
            *slot = (name.to_owned(), Slot::default());
        }
        Some(i)
    }

    /// Feeds one signal at `now`; returns the notice to show, if any.
    pub fn signal(&mut self, now: Millis, service: Option<&str>, signal: Signal) -> Option<Notice> {
        match signal {
            Signal::Offline => {
                if self.offline_shown {
                    return None;
                }
                self.offline_shown = true;
                return Some(self.notice(NoticeKind::Offline, None));
            }
            Signal::Online => {
                if !self.offline_shown {
                    return None;
                }
                self.offline_shown = false;
                return Some(self.notice(NoticeKind::Online, None));
            }
            // Outside the episode's stages: the web layer signals it once per refusal.
            Signal::PlayBlocked => return Some(self.notice(NoticeKind::TapToResume, service.map(cut))),
            Signal::Unreadable => return Some(self.notice(NoticeKind::Unreadable, service.map(cut))),
            // The common case, every healthy answer: no episode to end.
            Signal::Answered if self.unnamed.stage == 0 && self.services.iter().all(|(_, s)| s.stage == 0) => {
                return None
            }
            _ => {}
        }
        let service = service.map(cut);
        let min_interval = self.min_interval_ms;
        let this = match service {
            Some(name) => self.slot_index(name)?,
            None => usize::MAX,
        };
        // Another service's episode still under way.
        let unnamed = (this != usize::MAX).then_some(&self.unnamed);
        let other_episode = self
            .services
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != this)
            .map(|(_, (_, s))| s)
            .chain(unnamed)
            .any(|s| s.stage > 0);
        let (told, last_shown) = (self.told, self.shown_at);
        let slot = match self.services.get_mut(this) {
            Some((_, slot)) => slot,
            None => &mut self.unnamed,
        };
        let kind = match problem(signal) {
            Some((stage, kind)) => {
                if stage <= slot.stage {
                    return None;
                }
                slot.stage = stage;
                let flapping = slot.restored_at.is_some_and(|at| now.saturating_sub(at) < min_interval);
                // Already said for the page, by this or another service's episode.
                if (flapping && stage <= 2) || stage <= told {
                    return None;
                }
                slot.shown = true;
                self.told = stage;
                kind
            }
            None => {
                // Recovered, or answered after slow or retrying: the episode ends.
                let answered = signal == Signal::Answered;
                if slot.stage == 0 || (answered && slot.stage > 2) {
                    return None;
                }
                let owes = slot.owed || (slot.shown && !answered);
                // The video itself was in the fallback and plays again: that is the
                // news, whatever else is still down (whose recovery is then quiet).
                let video_back = slot.stage >= FALLBACK_STAGE && !answered;
                slot.stage = 0;
                slot.shown = false;
                slot.owed = false;
                if video_back && other_episode {
                    for (_, other) in &mut self.services {
                        (other.shown, other.owed) = (false, false);
                    }
                    (self.unnamed.shown, self.unnamed.owed) = (false, false);
                } else if other_episode {
                    // "Video is back." waits for the last service in trouble.
                    if owes {
                        self.owe_restored(this);
                    }
                    return None;
                }
                // The page's episode is over (unless the video's end spoke for it).
                if !other_episode {
                    self.told = 0;
                }
                let slot = match self.services.get_mut(this) {
                    Some((_, slot)) => slot,
                    None => &mut self.unnamed,
                };
                // A quiet end by an answer also holds back the next slow and
                // retrying notices, as a restore does: a server slow every other
                // request is not a notice every other request.
                if owes || answered {
                    slot.restored_at = Some(now);
                }
                if !owes {
                    return None;
                }
                NoticeKind::Restored
            }
        };
        let replaces = last_shown.is_some_and(|at| at <= now && now - at < REPLACE_WITHIN_MS);
        self.shown_at = Some(now);
        Some(Notice { replaces, ..self.notice(kind, service) })
    }

    /// Hands a recovered service's shown episode to one still under way, whose
    /// recovery then says "Video is back.".
    fn owe_restored(&mut self, recovered: usize) {
        let open = self.services.iter_mut().enumerate().find(|(i, (_, s))| *i != recovered && s.stage > 0);
        match open {
            Some((_, (_, slot))) => slot.owed = true,
            None => self.unnamed.owed = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::NOTICE_KEYS;
    use super::*;
    use proptest::prelude::*;

    fn notifier() -> Notifier {
        Notifier::new(&NoticeConfig::default())
    }

    fn kind(n: Option<Notice>) -> Option<NoticeKind> {
        n.map(|n| n.kind)
    }

    const PLEX: Option<&str> = Some("plex");

    #[test]
    fn a_notice_of_the_same_moment_replaces_the_one_before() {
        let mut n = Notifier::new(&NoticeConfig::default());
        // A stall that is also a reload: "slow" then "retrying" in the same millisecond.
        let slow = n.signal(10_000, PLEX, Signal::Slow).map(|n| n.replaces);
        let retrying = n.signal(10_000, PLEX, Signal::Retrying).map(|n| n.replaces);
        assert_eq!((slow, retrying), (Some(false), Some(true)));
        // A later stage change is a new message.
        assert_eq!(n.signal(15_000, PLEX, Signal::Unavailable).map(|n| n.replaces), Some(false));
        // Another service's next stage in the same moment takes its place too: the page
        // shows one message.
        assert_eq!(n.signal(15_100, Some("api"), Signal::Fallback).map(|n| n.replaces), Some(true));
    }

    #[test]
    fn kinds_match_the_catalogue_keys() {
        let keys: Vec<&str> = NoticeKind::ALL.iter().map(|k| k.key()).collect();
        assert_eq!(keys, NOTICE_KEYS);
    }

    #[test]
    fn twenty_slow_requests_make_one_notice() {
        // Given a notifier, when twenty requests pass their soft deadline,
        let mut n = notifier();
        let shown: Vec<Notice> = (0..20).filter_map(|i| n.signal(i * 100, PLEX, Signal::Slow)).collect();
        // then one notice is shown, with the default text, severity and duration.
        assert_eq!(shown.len(), 1);
        let first = shown.first().unwrap();
        assert_eq!(first.kind, NoticeKind::Slow);
        assert_eq!(first.key, "slow");
        assert_eq!(first.text, "Video server is slow to respond. Retrying…");
        assert_eq!(first.severity, Severity::Info);
        assert_eq!(first.duration_ms, 5_000);
        assert_eq!(first.service.as_deref(), Some("plex"));
    }

    #[test]
    fn the_outage_unfolds_in_escalating_stages_then_restores() {
        let mut n = notifier();
        // Given the story: slow, retrying, unavailable, fallback, each shown once,
        assert_eq!(kind(n.signal(0, PLEX, Signal::Slow)), Some(NoticeKind::Slow));
        assert_eq!(kind(n.signal(1_000, PLEX, Signal::Retrying)), Some(NoticeKind::Retrying));
        assert_eq!(kind(n.signal(2_000, PLEX, Signal::Retrying)), None);
        let unavailable = n.signal(5_000, PLEX, Signal::Unavailable).unwrap();
        assert_eq!(unavailable.severity, Severity::Warning);
        // when a retry happens after the breaker opened, nothing more is said,
        assert_eq!(kind(n.signal(6_000, PLEX, Signal::Retrying)), None);
        assert_eq!(kind(n.signal(6_000, PLEX, Signal::Slow)), None);
        let fallback = n.signal(7_000, PLEX, Signal::Fallback).unwrap();
        assert_eq!(fallback.text, "Video paused — your workout continues.");
        // then recovery says "Video is back." once.
        let restored = n.signal(60_000, PLEX, Signal::Recovered).unwrap();
        assert_eq!(restored.kind, NoticeKind::Restored);
        assert_eq!(restored.text, "Video is back.");
        assert_eq!(restored.severity, Severity::Info);
        assert_eq!(kind(n.signal(60_500, PLEX, Signal::Recovered)), None);
    }

    #[test]
    fn a_blip_that_showed_nothing_recovers_silently() {
        // Given a service that never got a problem notice (a sub-deadline blip),
        let mut n = notifier();
        // when it recovers, then nothing is shown.
        assert_eq!(kind(n.signal(500, PLEX, Signal::Recovered)), None);
        // And a real episode afterwards is still shown.
        assert_eq!(kind(n.signal(1_000, PLEX, Signal::Slow)), Some(NoticeKind::Slow));
    }

    #[test]
    fn flapping_suppresses_slow_and_retrying_but_not_unavailable() {
        let mut n = notifier();
        // Given an episode that was shown and restored at t = 10 s,
        n.signal(0, PLEX, Signal::Slow);
        assert_eq!(kind(n.signal(10_000, PLEX, Signal::Recovered)), Some(NoticeKind::Restored));
        // when the server is slow again 5 s later, then nothing is shown,
        assert_eq!(kind(n.signal(15_000, PLEX, Signal::Slow)), None);
        assert_eq!(kind(n.signal(16_000, PLEX, Signal::Retrying)), None);
        // and its silent recovery says nothing either;
        assert_eq!(kind(n.signal(17_000, PLEX, Signal::Recovered)), None);
        // but a real outage inside the interval is still shown, and its recovery.
        n.signal(18_000, PLEX, Signal::Slow);
        assert_eq!(kind(n.signal(19_000, PLEX, Signal::Unavailable)), Some(NoticeKind::Unavailable));
        assert_eq!(kind(n.signal(25_000, PLEX, Signal::Recovered)), Some(NoticeKind::Restored));
        // When the interval has passed since the last restore, slow is shown again.
        assert_eq!(kind(n.signal(25_000 + 29_999, PLEX, Signal::Slow)), None);
        n.signal(60_000, PLEX, Signal::Recovered);
        assert_eq!(kind(n.signal(60_000, PLEX, Signal::Slow)), Some(NoticeKind::Slow));
    }

    #[test]
    fn a_clock_going_backwards_keeps_suppressing() {
        let mut n = notifier();
        n.signal(100_000, PLEX, Signal::Slow);
        n.signal(100_000, PLEX, Signal::Recovered);
        // When the clock jumps back before the restore, the interval has not passed.
        assert_eq!(kind(n.signal(1_000, PLEX, Signal::Slow)), None);
    }

    #[test]
    fn the_page_is_told_each_stage_once_and_restored_when_the_last_service_is_back() {
        let mut n = notifier();
        // Given plex is slow, when the page's api is slow and retrying too, then the
        // page is not told again what it was told (texts speak of the video server);
        assert_eq!(kind(n.signal(0, PLEX, Signal::Slow)), Some(NoticeKind::Slow));
        assert_eq!(kind(n.signal(1_000, Some("api"), Signal::Slow)), None);
        assert_eq!(kind(n.signal(2_000, Some("api"), Signal::Retrying)), Some(NoticeKind::Retrying));
        assert_eq!(kind(n.signal(3_000, PLEX, Signal::Retrying)), None);
        // a further stage of either is shown, with the service it came from;
        let unavailable = n.signal(4_000, Some("api"), Signal::Unavailable).unwrap();
        assert_eq!(unavailable.service.as_deref(), Some("api"));
        assert_eq!(kind(n.signal(5_000, PLEX, Signal::Unavailable)), None);
        // and "Video is back." comes only when the last service in trouble is back.
        assert_eq!(kind(n.signal(60_000, Some("api"), Signal::Recovered)), None);
        assert_eq!(kind(n.signal(70_000, PLEX, Signal::Recovered)), Some(NoticeKind::Restored));
        // Then the next episode is told from its start again.
        n.signal(200_000, PLEX, Signal::Slow);
        assert_eq!(kind(n.signal(200_000, PLEX, Signal::Unavailable)), Some(NoticeKind::Unavailable));
        // Signals without a service have their own slot, on the same page.
        assert_eq!(kind(n.signal(201_000, None, Signal::Fallback)), Some(NoticeKind::Fallback));
    }

    #[test]
    fn a_service_that_recovers_while_another_is_down_says_nothing_until_both_are_back() {
        let mut n = notifier();
        assert_eq!(kind(n.signal(0, PLEX, Signal::Unavailable)), Some(NoticeKind::Unavailable));
        n.signal(0, Some("api"), Signal::Unavailable);
        assert_eq!(kind(n.signal(10_000, PLEX, Signal::Recovered)), None);
        // When plex fails again meanwhile, the page was told already.
        assert_eq!(kind(n.signal(12_000, PLEX, Signal::Unavailable)), None);
        assert_eq!(kind(n.signal(20_000, Some("api"), Signal::Recovered)), None);
        assert_eq!(kind(n.signal(30_000, PLEX, Signal::Recovered)), Some(NoticeKind::Restored));
    }

    #[test]
    fn an_answer_ends_a_slow_episode_quietly_and_lets_the_page_hear_the_video_is_back() {
        let mut n = notifier();
        // Given the page's api was slow (and said so), then answers again,
        assert_eq!(kind(n.signal(0, Some("api"), Signal::Slow)), Some(NoticeKind::Slow));
        assert_eq!(kind(n.signal(1_000, Some("api"), Signal::Answered)), None);
        // when plex then goes down and comes back, "Video is back." is said;
        assert_eq!(kind(n.signal(40_000, PLEX, Signal::Unavailable)), Some(NoticeKind::Unavailable));
        assert_eq!(kind(n.signal(50_000, PLEX, Signal::Answered)), None, "an answer does not end an outage");
        assert_eq!(kind(n.signal(60_000, PLEX, Signal::Recovered)), Some(NoticeKind::Restored));
        // and when plex's recovery comes while the api is still slow, the api's answer says it.
        n.signal(100_000, PLEX, Signal::Unavailable);
        n.signal(100_500, Some("api"), Signal::Slow);
        assert_eq!(kind(n.signal(110_000, PLEX, Signal::Recovered)), None);
        assert_eq!(kind(n.signal(111_000, Some("api"), Signal::Answered)), Some(NoticeKind::Restored));
    }

    #[test]
    fn the_video_back_from_the_fallback_is_said_at_once_whatever_else_is_down() {
        let mut n = notifier();
        n.signal(0, Some("api"), Signal::Unavailable);
        n.signal(1_000, PLEX, Signal::Unavailable);
        assert_eq!(kind(n.signal(2_000, PLEX, Signal::Fallback)), Some(NoticeKind::Fallback));
        assert_eq!(kind(n.signal(30_000, PLEX, Signal::Recovered)), Some(NoticeKind::Restored));
        // The page api's own recovery later is quiet: the page was told.
        assert_eq!(kind(n.signal(40_000, Some("api"), Signal::Recovered)), None);
        // And the next episode is told from its start.
        assert_eq!(kind(n.signal(100_000, PLEX, Signal::Unavailable)), Some(NoticeKind::Unavailable));
    }

    #[test]
    fn offline_is_shown_once_and_online_only_after_it() {
        let mut n = notifier();
        // Given the client is online, when "online" fires, then nothing is shown.
        assert_eq!(kind(n.signal(0, None, Signal::Online)), None);
        // When it goes offline twice, then one warning is shown, client-wide.
        let off = n.signal(1_000, PLEX, Signal::Offline).unwrap();
        assert_eq!(off.severity, Severity::Warning);
        assert_eq!(off.service, None);
        assert_eq!(kind(n.signal(2_000, None, Signal::Offline)), None);
        // Then back online is shown once.
        assert_eq!(kind(n.signal(3_000, None, Signal::Online)), Some(NoticeKind::Online));
        assert_eq!(kind(n.signal(4_000, None, Signal::Online)), None);
        // Offline does not touch the services' stages.
        assert_eq!(kind(n.signal(5_000, PLEX, Signal::Slow)), Some(NoticeKind::Slow));
    }

    #[test]
    fn texts_can_be_overridden_by_key() {
        let mut config = NoticeConfig::default();
        config.set_message("restored".into(), "Das Video ist zurück.".into());
        config.duration_ms = 8_000;
        let mut n = Notifier::new(&config);
        n.signal(0, PLEX, Signal::Unavailable);
        let restored = n.signal(1_000, PLEX, Signal::Recovered).unwrap();
        assert_eq!(restored.text, "Das Video ist zurück.");
        assert_eq!(restored.duration_ms, 8_000);
        assert_eq!(n.signal(2_000, PLEX, Signal::Fallback).unwrap().text, "Video paused — your workout continues.");
    }

    #[test]
    fn slots_are_capped_and_idle_ones_reused() {
        let mut n = notifier();
        // Given every slot busy with an episode (the page told once),
        for i in 0..MAX_SERVICES {
            n.signal(0, Some(&format!("s{i}")), Signal::Slow);
        }
        assert_eq!(n.services.len(), MAX_SERVICES);
        // when a new service signals, then it is ignored and memory does not grow;
        assert_eq!(kind(n.signal(0, Some("late"), Signal::Unavailable)), None);
        assert_eq!(n.services.len(), MAX_SERVICES);
        // when one slot goes idle, then the newcomer takes it over.
        n.signal(0, Some("s3"), Signal::Recovered);
        assert_eq!(kind(n.signal(0, Some("late"), Signal::Unavailable)), Some(NoticeKind::Unavailable));
        assert_eq!(n.services.len(), MAX_SERVICES);
    }

    #[test]
    fn long_names_are_cut_at_a_char_boundary() {
        let mut n = notifier();
        let long = "é".repeat(100);
        let notice = n.signal(0, Some(&long), Signal::Slow).unwrap();
        let service = notice.service.unwrap();
        assert!(service.len() <= MAX_NAME_BYTES && service.len() >= MAX_NAME_BYTES - 1);
        assert!(long.starts_with(&service));
    }

    #[test]
    fn notices_serialize_in_camel_case() {
        let mut n = notifier();
        let json = n.signal(0, PLEX, Signal::Unavailable).unwrap().to_value().to_json();
        assert_eq!(
            json,
            r#"{"kind":"unavailable","key":"unavailable","severity":"warning","text":"Video server is unavailable. We'll keep checking.","durationMs":5000,"service":"plex","replaces":false}"#
        );
        let json = n.signal(0, None, Signal::Offline).unwrap().to_value().to_json();
        assert!(
            json.contains(r#""severity":"warning""#) && json.ends_with(r#""service":null,"replaces":false}"#),
            "{json}"
        );
    }

    fn any_signal() -> impl Strategy<Value = Signal> {
        prop_oneof![
            Just(Signal::Slow),
            Just(Signal::Retrying),
            Just(Signal::Unavailable),
            Just(Signal::Fallback),
            Just(Signal::Recovered),
            Just(Signal::Offline),
            Just(Signal::Online),
            Just(Signal::PlayBlocked),
            Just(Signal::Unreadable),
        ]
    }

    proptest! {
        #[test]
        fn any_sequence_never_panics_and_never_repeats_a_stage(
            events in proptest::collection::vec((any::<u64>(), proptest::option::of("[a-z]{0,3}|.{0,80}"), any_signal()), 0..200)
        ) {
            let mut n = notifier();
            let mut last: Vec<(Option<String>, NoticeKind)> = Vec::new();
            for (now, service, signal) in events {
                if let Some(notice) = n.signal(now, service.as_deref(), signal) {
                    prop_assert!(NOTICE_KEYS.contains(&notice.key));
                    prop_assert!(!notice.text.is_empty());
                    // The same staged problem notice never shows twice in a row on the
                    // page (tap-to-resume and unreadable come once per event of the page's;
                    // offline and online are the client's own).
                    let staged = !matches!(notice.kind, NoticeKind::Restored | NoticeKind::TapToResume
                        | NoticeKind::Unreadable | NoticeKind::Offline | NoticeKind::Online);
                    if staged {
                        let prev = last.iter().rev().find(|(_, k)| !matches!(k, NoticeKind::TapToResume
                            | NoticeKind::Unreadable | NoticeKind::Offline | NoticeKind::Online)).map(|(_, k)| *k);
                        prop_assert_ne!(prev, Some(notice.kind));
                    }
                    last.push((notice.service.clone(), notice.kind));
                }
            }
            prop_assert!(n.services.len() <= MAX_SERVICES);
        }
    }
}
