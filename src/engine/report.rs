//! Reports to the backend: small JSON summaries of breaker and fallback changes,
//! rate-limited by a token bucket.
//!
//! The engine builds a [`Report`] on each breaker transition to `open` or
//! `closed` and on each fallback enter or exit, and hands it to [`Reporter`]. A
//! report that finds no token is held, the latest per service and event kind, its
//! `suppressed` count growing with every report merged into it, and released when
//! a token comes back: the last state is never lost. A report holds no URL, so no
//! secret can leak through it. Times in a report are wall-clock (Unix ms), taken
//! from an offset the caller sets ([`Reporter::set_wall_clock`]); the bucket runs
//! on the engine's monotonic time.

use super::reader::{exact, whole_up_to, MAX_SAFE};
use super::rng::Rng;
use super::value::Value;
use super::Millis;

/// The `type` of every report body.
pub const REPORT_TYPE: &str = "player-resilience.report";
/// The `version` of the report body.
pub const REPORT_VERSION: u32 = 1;
/// Reports held or waiting to be sent, at most; past this the oldest is dropped.
const MAX_QUEUED: usize = 64;
/// Counter names of [`Report::counts`], in order.
pub const COUNT_NAMES: [&str; 6] = ["requests", "successes", "failures", "timeouts", "retries", "rejected"];
/// Longest `service`, `page` or `mediaId` (bytes) accepted from another tab.
const MAX_TEXT: usize = 128;

/// What a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportEvent {
    /// A breaker opened or closed.
    Breaker,
    /// A video entered or left the fallback.
    Fallback,
}

/// The state a report announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportState {
    /// The breaker opened (also from half-open).
    Open,
    /// The breaker closed.
    Closed,
    /// The video entered the fallback.
    Enter,
    /// The video left the fallback.
    Exit,
}

impl ReportEvent {
    fn as_str(self) -> &'static str {
        match self {
            ReportEvent::Breaker => "breaker",
            ReportEvent::Fallback => "fallback",
        }
    }
}

impl ReportState {
    fn as_str(self) -> &'static str {
        match self {
            ReportState::Open => "open",
            ReportState::Closed => "closed",
            ReportState::Enter => "enter",
            ReportState::Exit => "exit",
        }
    }

    /// The event kind this state belongs to.
    pub fn event(self) -> ReportEvent {
        match self {
            ReportState::Open | ReportState::Closed => ReportEvent::Breaker,
            ReportState::Enter | ReportState::Exit => ReportEvent::Fallback,
        }
    }
}

/// One report: what the backend receives, as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The service's name.
    pub service: String,
    /// The state entered (its event kind follows from it).
    pub state: ReportState,
    /// When, wall-clock (Unix ms).
    pub at: u64,
    /// When the previous state began, wall-clock, if this page saw it begin.
    pub since: Option<u64>,
    /// The service's counters, in [`COUNT_NAMES`] order.
    pub counts: [u64; 6],
    /// The page that saw it.
    pub page: String,
    /// The media, for a fallback report.
    pub media_id: Option<String>,
    /// Reports merged into this one by the rate limit.
    pub suppressed: u64,
}

impl Report {
    /// `{"type", "version", "event", "service", "state", "at", "since", "counts",
    /// "page", ["mediaId",] "suppressed"}`; `since` is `null` when unknown.
    pub fn to_value(&self) -> Value {
        let mut counts = Vec::with_capacity(COUNT_NAMES.len());
        super::value::push_numbers(&mut counts, &COUNT_NAMES, &self.counts);
        let mut fields = Value::object([
            ("type", REPORT_TYPE.into()),
            ("version", REPORT_VERSION.into()),
            ("event", self.state.event().as_str().into()),
            ("service", self.service.as_str().into()),
            ("state", self.state.as_str().into()),
            ("at", self.at.into()),
            ("since", self.since.into()),
            ("counts", Value::Object(counts)),
            ("page", self.page.as_str().into()),
        ]);
        if let Value::Object(fields) = &mut fields {
            if let Some(media) = &self.media_id {
                fields.push(("mediaId".into(), media.as_str().into()));
            }
            fields.push(("suppressed".into(), self.suppressed.into()));
        }
        fields
    }

    /// Reads a fallback report another tab forwarded, as [`Report::to_value`]
    /// wrote it (only fallback reports are forwarded), strictly: `None` for
    /// unknown or missing fields, wrong types, or empty texts or texts over 128
    /// bytes.
    pub fn from_value(value: &Value) -> Option<Self> {
        const NAMES: [&str; 11] =
            ["type", "version", "event", "service", "state", "at", "since", "counts", "page", "mediaId", "suppressed"];
        let &[kind, version, event, service, state, at, since, counts, page, media, suppressed] =
            exact(value, &NAMES)?.as_slice()
        else {
            return None;
        };
        let text = |v: &Value| match v {
            Value::String(s) if !s.is_empty() && s.len() <= MAX_TEXT => Some(s.clone()),
            _ => None,
        };
        let number = |v: &Value| whole_up_to(v, MAX_SAFE);
        let is = |v: &Value, expected: &str| matches!(v, Value::String(s) if s == expected);
        if !is(kind, REPORT_TYPE) || number(version)? != u64::from(REPORT_VERSION) || !is(event, "fallback") {
            return None;
        }
        let state = if is(state, "enter") {
            ReportState::Enter
        } else if is(state, "exit") {
            ReportState::Exit
        } else {
            return None;
        };
        let mut numbers = [0; 6];
        for (slot, v) in numbers.iter_mut().zip(exact(counts, &COUNT_NAMES)?) {
            *slot = number(v)?;
        }
        Some(Self {
            service: text(service)?,
            state,
            at: number(at)?,
            since: if matches!(since, Value::Null) { None } else { Some(number(since)?) },
            counts: numbers,
            page: text(page)?,
            media_id: Some(text(media)?),
            suppressed: number(suppressed)?,
        })
    }

    fn key(&self) -> (&str, ReportEvent) {
        (&self.service, self.state.event())
    }
}

/// What to do with a report now.
#[derive(Debug, Clone, PartialEq)]
pub enum Dispatch {
    /// Send it to the backend (`navigator.sendBeacon`).
    Send(Report),
    /// Hand it to the tab that reports (over the tabs' channel), unsent here.
    Forward(Report),
}

/// The service a report is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Its index in the config.
    pub index: usize,
    /// Its name.
    pub name: &'a str,
    /// Its counters, in [`COUNT_NAMES`] order.
    pub counts: [u64; 6],
}

impl Dispatch {
    /// The report, to send or to forward.
    pub fn report(&self) -> &Report {
        match self {
            Dispatch::Send(r) | Dispatch::Forward(r) => r,
        }
    }
}

/// A page id: 16 hex digits from the seeded RNG.
pub fn page_id(rng: &mut Rng) -> String {
    let bits = rng.next_u64();
    (0..16).rev().filter_map(|i| char::from_digit(((bits >> (i * 4)) & 0xF) as u32, 16)).collect()
}

/// The rate limit and the queue of reports: a token bucket of `max_per_minute`
/// tokens, one coming back every `60 / max_per_minute` seconds.
#[derive(Debug, Clone)]
pub struct Reporter {
    page: String,
    capacity: u32,
    interval_ms: Millis,
    tokens: u32,
    /// When the last token came back (or the bucket was last full).
    refilled_at: Millis,
    /// Wall-clock time minus engine time.
    wall_offset: i64,
    /// The latest report per service and event kind that found no token (always
    /// `Send`: one vector type, one copy of its code).
    held: Vec<Dispatch>,
    ready: Vec<Dispatch>,
    /// Per service: when its breaker and its fallback entered their current state.
    breaker_since: Vec<Option<Millis>>,
    fallback_since: Vec<Option<Millis>>,
}

impl Reporter {
    /// A full bucket of `max_per_minute` tokens (1 to 60) at `now`, for a page
    /// whose id is `page` and whose breakers of `services` were all seen from `now`.
    pub fn new(page: String, max_per_minute: u32, services: usize, now: Millis) -> Self {
        let capacity = max_per_minute.clamp(1, 60);
        Self {
            page,
            capacity,
            interval_ms: 60_000 / Millis::from(capacity),
            tokens: capacity,
            refilled_at: now,
            wall_offset: 0,
            held: Vec::new(),
            ready: Vec::new(),
            breaker_since: vec![Some(now); services],
            fallback_since: vec![None; services],
        }
    }

    /// The page id reports carry.
    pub fn page(&self) -> &str {
        &self.page
    }

    /// Engine time `now` is wall-clock `wall_clock_ms` (Unix ms).
    pub fn set_wall_clock(&mut self, now: Millis, wall_clock_ms: u64) {
        // Both clocks fit 2^63 for millions of years: the casts are exact in practice.
        self.wall_offset = (wall_clock_ms as i64).wrapping_sub(now as i64);
    }

    fn wall(&self, t: Millis) -> u64 {
        (t as i64).saturating_add(self.wall_offset).max(0) as u64
    }

    /// A breaker transition of `service` at `now`; a report is made for `open`
    /// and `closed` (`state`) if `report` (this tab reports breakers). `since`
    /// always moves on, so the next report knows when this state began.
    pub fn breaker(&mut self, now: Millis, service: Subject<'_>, state: Option<ReportState>, report: bool) {
        let since = self.breaker_since.get_mut(service.index).and_then(|s| s.replace(now));
        if let (Some(state), true) = (state, report) {
            let report = self.make(now, &service, state, since, None);
            self.offer(now, report, false);
        }
    }

    /// A video of `service` entered (`entered`) or left the fallback at `now`.
    /// `forward` hands the report to the reporting tab instead of sending it.
    pub fn fallback(&mut self, now: Millis, service: Subject<'_>, media_id: &str, entered: bool, forward: bool) {
        let since = self.fallback_since.get_mut(service.index).and_then(|s| s.replace(now));
        let state = if entered { ReportState::Enter } else { ReportState::Exit };
        // At most 128 bytes, cut at a character boundary.
        let end = (0..=MAX_TEXT.min(media_id.len())).rev().find(|i| media_id.is_char_boundary(*i)).unwrap_or(0);
        let media = media_id.get(..end).unwrap_or_default();
        let media = if media.is_empty() { "unknown" } else { media }.to_owned();
        let report = self.make(now, &service, state, since, Some(media));
        self.offer(now, report, forward);
    }

    /// A report another tab forwarded: it goes through this tab's rate limit.
    pub fn relay(&mut self, now: Millis, report: Report) {
        self.offer(now, report, false);
    }

    fn make(
        &self,
        now: Millis,
        service: &Subject<'_>,
        state: ReportState,
        since: Option<Millis>,
        media_id: Option<String>,
    ) -> Report {
        Report {
            service: service.name.to_owned(),
            state,
            at: self.wall(now),
            since: since.map(|t| self.wall(t)),
            counts: service.counts,
            page: self.page.clone(),
            media_id,
            suppressed: 0,
        }
    }

    /// Sends `report` if a token is free and nothing of its kind is held; else
    /// holds it in place of the one held, counting that one as suppressed.
    fn offer(&mut self, now: Millis, mut report: Report, forward: bool) {
        if forward {
            return push_bounded(&mut self.ready, Dispatch::Forward(report));
        }
        self.refill(now);
        let held = self.held.iter().position(|h| h.report().key() == report.key());
        match held.and_then(|i| remove_at(&mut self.held, i)) {
            Some(old) => {
                report.suppressed = report.suppressed.saturating_add(old.report().suppressed).saturating_add(1);
                push_bounded(&mut self.held, Dispatch::Send(report));
            }
            None if self.take_token() => push_bounded(&mut self.ready, Dispatch::Send(report)),
            None => push_bounded(&mut self.held, Dispatch::Send(report)),
        }
    }

    fn refill(&mut self, now: Millis) {
        if self.tokens >= self.capacity {
            self.refilled_at = now;
            return;
        }
        let gained = now.saturating_sub(self.refilled_at) / self.interval_ms;
        if gained == 0 {
            return;
        }
        let tokens = u64::from(self.tokens).saturating_add(gained).min(self.capacity.into());
        self.tokens = u32::try_from(tokens).unwrap_or(self.capacity);
        self.refilled_at = if self.tokens >= self.capacity {
            now
        } else {
            self.refilled_at.saturating_add(gained.saturating_mul(self.interval_ms))
        };
    }

    fn take_token(&mut self) -> bool {
        let free = self.tokens > 0;
        self.tokens = self.tokens.saturating_sub(1);
        free
    }

    /// When a held report can go: when the next token comes back. `None` when
    /// nothing is held. After [`Reporter::handle_timeout`] at that time it is
    /// always later, or `None`.
    pub fn poll_timeout(&self) -> Option<Millis> {
        (!self.held.is_empty()).then(|| self.refilled_at.saturating_add(self.interval_ms))
    }

    /// Releases held reports, oldest first, while tokens are free.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.refill(now);
        while !self.held.is_empty() && self.take_token() {
            if let Some(report) = remove_at(&mut self.held, 0) {
                push_bounded(&mut self.ready, report);
            }
        }
    }

    /// The next report to send or forward, if any.
    pub fn poll(&mut self, now: Millis) -> Option<Dispatch> {
        self.handle_timeout(now);
        remove_at(&mut self.ready, 0)
    }
}

/// Appends `item`, dropping the oldest past [`MAX_QUEUED`].
fn push_bounded<T>(items: &mut Vec<T>, item: T) {
    if items.len() >= MAX_QUEUED {
        remove_at(items, 0);
    }
    items.push(item);
}

/// Removes and returns `items[index]`, if there is one (never panics).
fn remove_at<T>(items: &mut Vec<T>, index: usize) -> Option<T> {
    (index < items.len()).then(|| items.remove(index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::value::{any_value, from_json_text};
    use proptest::prelude::*;

    fn reporter(max: u32) -> Reporter {
        let mut r = Reporter::new("page-1".into(), max, 2, 0);
        r.set_wall_clock(0, 1_771_200_000_000);
        r
    }

    fn on(index: usize, name: &str) -> Subject<'_> {
        Subject { index, name, counts: [0; 6] }
    }

    fn drain(r: &mut Reporter, now: Millis) -> Vec<Dispatch> {
        std::iter::from_fn(|| r.poll(now)).collect()
    }

    fn sent(d: &Dispatch) -> &Report {
        d.report()
    }

    #[test]
    fn a_report_body_is_compact_json_without_a_url() {
        let mut r = reporter(6);
        r.breaker(5_000, Subject { counts: [9, 1, 3, 2, 4, 0], ..on(0, "plex") }, Some(ReportState::Open), true);
        let d = drain(&mut r, 5_000);
        assert_eq!(d.len(), 1);
        assert_eq!(
            sent(&d[0]).to_value().to_json(),
            r#"{"type":"player-resilience.report","version":1,"event":"breaker","service":"plex","state":"open","at":1771200005000,"since":1771200000000,"counts":{"requests":9,"successes":1,"failures":3,"timeouts":2,"retries":4,"rejected":0},"page":"page-1","suppressed":0}"#
        );
        r.fallback(6_000, on(0, "plex"), "101", true, false);
        let body = sent(&drain(&mut r, 6_000)[0]).to_value().to_json();
        assert!(body.contains(r#""event":"fallback","service":"plex","state":"enter","at":1771200006000,"since":null"#));
        assert!(body.ends_with(r#""page":"page-1","mediaId":"101","suppressed":0}"#), "{body}");
    }

    #[test]
    fn reports_round_trip_and_garbage_is_refused() {
        let report = Report {
            service: "plex".into(),
            state: ReportState::Exit,
            at: 10,
            since: Some(5),
            counts: [1, 2, 3, 4, 5, 6],
            page: "p".into(),
            media_id: Some("m".into()),
            suppressed: 2,
        };
        let json = report.to_value().to_json();
        assert_eq!(Report::from_value(&from_json_text(&json)), Some(report.clone()));
        let entered = Report { state: ReportState::Enter, since: None, ..report.clone() };
        assert_eq!(Report::from_value(&entered.to_value()), Some(entered));
        // Breaker reports are never forwarded, so never read.
        let breaker = Report { state: ReportState::Closed, media_id: None, ..report };
        assert_eq!(Report::from_value(&breaker.to_value()), None);
        let garbage = [
            json.replace(r#""state":"exit""#, r#""state":"ajar""#),
            json.replace(r#""state":"exit""#, r#""state":"open""#),
            json.replace(r#""event":"fallback""#, r#""event":"breaker""#),
            json.replace(r#""version":1"#, r#""version":2"#),
            json.replace(r#""at":10"#, r#""at":-10"#),
            json.replace(r#""page":"p""#, r#""page":"""#),
            json.replace(r#""page":"p""#, &format!(r#""page":"{}""#, "p".repeat(129))),
            json.replace(r#""page":"p""#, r#""url":"/x?X-Plex-Token=1""#),
            json.replace(r#""rejected":6"#, r#""rejected":6,"extra":1"#),
            json.replace(r#""rejected":6"#, r#""rejected":"6""#),
            json.replace(r#","since":5"#, ""),
            json.replace(r#","mediaId":"m""#, ""),
            json.replace(r#""type":"player-resilience.report""#, r#""type":"report""#),
            "null".into(),
        ];
        for text in garbage {
            assert_eq!(Report::from_value(&from_json_text(&text)), None, "{text}");
        }
    }

    #[test]
    fn one_report_per_transition_within_the_budget() {
        let mut r = reporter(6);
        r.breaker(1_000, on(0, "plex"), Some(ReportState::Open), true);
        r.breaker(2_000, on(0, "plex"), None, true); // half-open: no report
        r.breaker(3_000, on(0, "plex"), Some(ReportState::Closed), true);
        let d = drain(&mut r, 3_000);
        let states: Vec<_> = d.iter().map(|d| sent(d).state).collect();
        assert_eq!(states, [ReportState::Open, ReportState::Closed]);
        // The closed report's `since` is when half-open began.
        assert_eq!(sent(&d[1]).since, Some(1_771_200_002_000));
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn a_flapping_breaker_is_limited_and_its_last_state_is_never_lost() {
        let mut r = reporter(6);
        let mut sent_at = Vec::new();
        let mut now = 0;
        // Flaps every 500 ms for a minute, ending closed.
        for i in 0..120u64 {
            now = i * 500;
            let state = if i % 2 == 0 { ReportState::Open } else { ReportState::Closed };
            r.breaker(now, on(0, "plex"), Some(state), true);
            sent_at.extend(drain(&mut r, now).into_iter().map(|d| (now, sent(&d).clone())));
        }
        // Then only deadlines: each one moves forward, and the held report goes.
        while let Some(due) = r.poll_timeout() {
            assert!(due > now, "deadline {due} not after {now}");
            now = due;
            sent_at.extend(drain(&mut r, now).into_iter().map(|d| (now, sent(&d).clone())));
        }
        let last = &sent_at.last().unwrap().1;
        assert_eq!(last.state, ReportState::Closed);
        let suppressed: u64 = sent_at.iter().map(|(_, r)| r.suppressed).sum();
        assert_eq!(sent_at.len() as u64 + suppressed, 120, "every report sent or counted");
        // Never more than 6 in the first minute plus one per 10 s.
        for (t, _) in &sent_at {
            let within = sent_at.iter().filter(|(u, _)| u <= t).count() as u64;
            assert!(within <= 6 + t / 10_000, "{within} reports by {t}");
        }
    }

    #[test]
    fn held_reports_are_per_service_and_kind_and_forwarding_skips_the_limit() {
        let mut r = reporter(1);
        r.breaker(0, on(0, "plex"), Some(ReportState::Open), true);
        r.fallback(1, on(0, "plex"), "101", true, false);
        r.breaker(2, on(1, "api"), Some(ReportState::Open), true);
        r.fallback(3, on(1, "api"), "7", true, true);
        let d = drain(&mut r, 3);
        assert!(
            matches!(&d[..], [Dispatch::Send(a), Dispatch::Forward(b)] if a.service == "plex" && b.service == "api")
        );
        assert_eq!(r.poll_timeout(), Some(60_000));
        assert_eq!(drain(&mut r, 59_999), vec![]);
        let d = drain(&mut r, 60_000);
        assert_eq!(d.len(), 1);
        assert_eq!(sent(&d[0]).state, ReportState::Enter);
        assert_eq!(r.poll_timeout(), Some(120_000));
        assert_eq!(sent(&drain(&mut r, 120_000)[0]).service, "api");
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn a_clock_going_backwards_gives_no_tokens_and_no_panic() {
        let mut r = reporter(2);
        for t in [10_000, 5, 0, u64::MAX, 3] {
            r.breaker(t, on(0, "plex"), Some(ReportState::Open), true);
            r.breaker(t, on(9, "ghost"), Some(ReportState::Closed), true);
            let _ = drain(&mut r, t);
        }
        r.set_wall_clock(u64::MAX, 0);
        r.fallback(0, Subject { counts: [u64::MAX; 6], ..on(0, "plex") }, "", false, false);
        // Long media ids are cut at a character boundary.
        r.fallback(0, on(0, "plex"), &"é".repeat(100), true, true);
        let media = drain(&mut r, 0).into_iter().rev().find_map(|d| sent(&d).media_id.clone()).unwrap();
        assert_eq!(media, "é".repeat(64));
        let _ = r.poll_timeout();
    }

    #[test]
    fn page_ids_are_16_hex_digits() {
        use crate::engine::rng::Rng;
        let id = page_id(&mut Rng::new(1));
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(id, page_id(&mut Rng::new(2)));
        assert_eq!(page_id(&mut Rng::new(0xFFFF_FFFF)).len(), 16);
    }

    proptest! {
        #[test]
        fn from_value_never_panics(value in any_value()) {
            if let Some(r) = Report::from_value(&value) {
                prop_assert_eq!(Report::from_value(&r.to_value()), Some(r));
            }
        }

        #[test]
        fn arbitrary_sequences_never_panic_nor_spin(
            max in 1u32..=60,
            steps in prop::collection::vec((0u64..200_000, 0usize..3, 0u8..6), 0..60),
        ) {
            let mut r = reporter(max);
            let mut now = 0;
            for (dt, service, what) in steps {
                now += dt;
                match what {
                    0 => r.breaker(now, on(service, "s"), Some(ReportState::Open), true),
                    1 => r.breaker(now, on(service, "s"), Some(ReportState::Closed), service != 2),
                    2 => r.fallback(now, on(service, "s"), "m", true, false),
                    3 => r.fallback(now, on(service, "s"), "m", false, true),
                    4 => { let _ = r.poll(now); }
                    _ => r.handle_timeout(now),
                }
                if let Some(due) = r.poll_timeout() {
                    if due <= now {
                        r.handle_timeout(now);
                        prop_assert!(r.poll_timeout().map_or(true, |d| d > now));
                    }
                }
            }
        }
    }
}
