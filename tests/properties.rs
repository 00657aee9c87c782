//! Invariants of the whole engine under arbitrary inputs: it never panics, no
//! request reaches the server while a breaker is open (probes aside), and retries
//! stay within the budget.

mod sim;

use player_resilience::engine::breaker::{BreakerSnapshot, BreakerState};
use player_resilience::engine::classify::Outcome;
use player_resilience::engine::config::{Config, ReportConfig};
use player_resilience::engine::notify::Signal;
use player_resilience::engine::report::Dispatch;
use player_resilience::engine::resilience::{Engine, EngineSnapshot, Next, Report, RequestId, ServiceSnapshot, Start};
use player_resilience::engine::value::Value;
use player_resilience::engine::Millis;
use proptest::prelude::*;
use sim::{Reply, Sim, FAST_MS};

const URLS: [&str; 7] = [
    "/api/v1/proxy/plex/stream/1?X-Plex-Token=t",
    "/api/v1/proxy/plex/video/:/transcode/universal/start.mpd",
    "/api/v1/proxy/plex/photo/:/transcode?url=/library/parts/1/indexes/sd/0",
    "/api/v1/display/plex/1",
    "/api/v1/play/1",
    "/api/v1/proxy/plex/identity",
    "https://elsewhere.example/x",
];

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        (100u16..600).prop_map(Outcome::Status),
        Just(Outcome::Timeout),
        Just(Outcome::NetworkError),
        Just(Outcome::Offline),
        Just(Outcome::Aborted),
    ]
}

/// Valid configs spread over the whole allowed range of the fields that shape
/// behaviour.
fn config() -> impl Strategy<Value = Config> {
    (
        (1u32..=10, 0u64..=5_000, 1u32..=10, 0.01f64..=1.0, 1u32..=20),
        (100u64..=60_000, 1.0f64..=4.0, 1u32..=5, 1u32..=5, any::<bool>()),
        (100u64..=10_000, 1u32..=4, 0.0f64..=1.0, 0.0f64..=2.0, 100u64..=5_000),
    )
        .prop_map(|(a, b, c)| {
            let mut config = Sim::config();
            config.retry.max_attempts = a.0;
            config.retry.initial_delay_ms = a.1;
            config.budget.ratio = c.2;
            config.budget.min_per_second = c.3;
            config.timeouts.slow_ms = c.4;
            config.probe.initial_delay_ms = c.0;
            config.probe.success_threshold = c.1;
            for s in &mut config.services {
                s.breaker.failure_threshold = a.2;
                s.breaker.error_rate_threshold = a.3;
                s.breaker.minimum_requests = a.4;
                s.breaker.open_ms = b.0;
                s.breaker.open_backoff_factor = b.1;
                s.breaker.half_open_max_trials = b.2;
                s.breaker.success_threshold = b.3;
                s.breaker.slow_calls_are_failures = b.4;
            }
            config.validate().unwrap();
            config
        })
}

/// Configs that skipped validation, with zeros, NaN, infinities and extremes: the
/// engine must not panic even if a caller forgets to validate.
fn wild_config() -> impl Strategy<Value = Config> {
    let wild_f64 = prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-1.0), Just(0.0), any::<f64>()];
    let wild_u64 = prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()];
    let wild_u32 = prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()];
    (
        (wild_u32.clone(), wild_u64.clone(), wild_u64.clone(), wild_f64.clone(), wild_u64.clone()),
        (wild_u32.clone(), wild_f64.clone(), wild_u32.clone(), wild_u64.clone(), wild_f64.clone()),
        (wild_u32.clone(), wild_u32, wild_u64.clone(), wild_f64.clone(), wild_u64),
    )
        .prop_map(|(a, b, c)| {
            let mut config = Sim::config();
            config.retry.max_attempts = a.0;
            config.retry.initial_delay_ms = a.1;
            config.retry.max_delay_ms = a.2;
            config.retry.factor = a.3;
            config.retry.deadline_ms = a.4;
            config.budget.ratio = b.1;
            config.budget.min_per_second = c.3;
            config.budget.window_ms = c.2;
            config.probe.success_threshold = b.0;
            config.probe.factor = b.4;
            config.probe.initial_delay_ms = b.3;
            config.timeouts.slow_ms = c.4;
            for s in &mut config.services {
                s.breaker.failure_threshold = b.2;
                s.breaker.error_rate_threshold = b.1;
                s.breaker.minimum_requests = c.0;
                s.breaker.window_buckets = c.1;
                s.breaker.bucket_ms = c.2;
                s.breaker.open_ms = a.4;
                s.breaker.open_backoff_factor = a.3;
                s.breaker.half_open_max_trials = c.0;
                s.breaker.success_threshold = c.1;
            }
            config
        })
}

#[derive(Debug, Clone)]
enum Op {
    Begin(usize, bool),
    Finish(usize, Outcome, Option<String>, Millis),
    Resume(usize),
    Abort(usize),
    Tick(Millis),
    TimeJumpBack(Millis),
    Probe(Outcome),
    Online(bool),
    Visible(bool),
    Prober(bool),
    RetryNow,
    Reset(bool),
    Restore(u32, u64, Vec<(String, u8, u64, u32)>),
    Playback(u8),
    Fallback(usize, String, bool),
    Relay(bool),
    RelayReport(Value),
    WallClock(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..URLS.len(), any::<bool>()).prop_map(|(u, get)| Op::Begin(u, get)),
        4 => (any::<usize>(), outcome(), proptest::option::of(".{0,30}"), any::<Millis>()).prop_map(|(i, o, r, w)| Op::Finish(i, o, r, w)),
        2 => any::<usize>().prop_map(Op::Resume),
        1 => any::<usize>().prop_map(Op::Abort),
        3 => (0u64..120_000).prop_map(Op::Tick),
        1 => any::<Millis>().prop_map(Op::TimeJumpBack),
        2 => outcome().prop_map(Op::Probe),
        1 => any::<bool>().prop_map(Op::Online),
        1 => any::<bool>().prop_map(Op::Visible),
        1 => any::<bool>().prop_map(Op::Prober),
        1 => Just(Op::RetryNow),
        1 => any::<bool>().prop_map(Op::Reset),
        1 => (0u32..3, any::<u64>(), proptest::collection::vec((prop_oneof![Just("plex".to_string()), Just("api".to_string()), ".{0,8}"], 0u8..4, any::<u64>(), any::<u32>()), 0..4))
            .prop_map(|(v, at, s)| Op::Restore(v, at, s)),
        1 => (0u8..7).prop_map(Op::Playback),
        2 => (0usize..3, prop_oneof![Just("101".to_string()), Just("/m?X-Plex-Token=t".to_string()), ".{0,8}"], any::<bool>())
            .prop_map(|(s, m, e)| Op::Fallback(s, m, e)),
        1 => any::<bool>().prop_map(Op::Relay),
        1 => json_like().prop_map(Op::RelayReport),
        1 => any::<u64>().prop_map(Op::WallClock),
    ]
}

fn state(n: u8) -> BreakerState {
    match n {
        0 => BreakerState::Closed,
        1 => BreakerState::Open,
        2 => BreakerState::HalfOpen,
        _ => BreakerState::Isolated,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Any sequence of calls, outcomes, header garbage, clock jumps (even
    /// backwards), snapshots and toggles: the engine never panics, and every
    /// answer stays sane.
    #[test]
    fn the_engine_never_panics(
        mut config in prop_oneof![config(), wild_config()],
        report in proptest::option::of((0u32..=70, proptest::option::of("[a-z]{1,8}"))),
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        config.report = report.map(|(max_per_minute, page_id)| ReportConfig { url: "/r".into(), max_per_minute, page_id });
        let mut engine = Engine::new(config, seed, 0);
        let mut now: Millis = 0;
        let mut ids: Vec<RequestId> = Vec::new();
        let pick = |ids: &Vec<RequestId>, i: usize| ids.get(i % ids.len().max(1)).copied().unwrap_or(RequestId(i as u64));
        for op in ops {
            match op {
                Op::Begin(u, get) => {
                    if let Start::Send(a) = engine.begin(now, if get { "GET" } else { "post" }, URLS[u]) {
                        prop_assert!(a.timeout_ms > 0);
                        ids.push(a.id);
                    }
                }
                Op::Finish(i, outcome, retry_after, wall) => {
                    let report = Report { outcome, retry_after: retry_after.as_deref(), wall_clock_ms: wall };
                    if let Next::RetryAfter { delay_ms, .. } = engine.finish(now, pick(&ids, i), report) {
                        prop_assert!(delay_ms <= engine.config().retry.max_delay_ms.max(engine.config().retry.max_retry_after_ms));
                    }
                }
                Op::Resume(i) => { let _ = engine.resume(now, pick(&ids, i)); }
                Op::Abort(i) => engine.abort(pick(&ids, i)),
                Op::Tick(d) => { now = now.saturating_add(d); engine.handle_timeout(now); }
                Op::TimeJumpBack(d) => { now = now.saturating_sub(d); engine.handle_timeout(now); }
                Op::Probe(outcome) => {
                    if let Some(p) = engine.poll_probe(now) { engine.probe_result(now, p.service, outcome); }
                    else { engine.probe_result(now, 0, outcome); }
                }
                Op::Online(on) => engine.set_online(now, on),
                Op::Visible(on) => engine.set_visible(now, on),
                Op::Prober(on) => engine.set_prober(now, on),
                Op::RetryNow => engine.retry_now(now),
                Op::Reset(isolate) => {
                    if isolate { engine.isolate(now, "plex"); } else { engine.reset(now, "plex"); }
                    prop_assert!(!engine.reset(now, "no-such-service"));
                }
                Op::Restore(version, saved_at, services) => {
                    let snapshot = EngineSnapshot {
                        version,
                        saved_at,
                        services: services.iter().map(|(name, s, remaining, reopen)| ServiceSnapshot {
                            name: name.clone(),
                            breaker: BreakerSnapshot { state: state(*s), open_remaining_ms: *remaining, reopen_count: *reopen },
                        }).collect(),
                    };
                    // What JS can hold (numbers up to 2^53) comes back the same through a Value.
                    let exact = saved_at <= 1 << 53 && services.iter().all(|(_, _, remaining, _)| *remaining <= 1 << 53);
                    let back = EngineSnapshot::from_value(&snapshot.to_value());
                    prop_assert_eq!(back.as_ref(), exact.then_some(&snapshot));
                    let _ = engine.restore(&snapshot, now, saved_at.wrapping_add(now));
                }
                Op::Playback(n) => {
                    let signal = [Signal::Slow, Signal::Retrying, Signal::Unavailable, Signal::Fallback, Signal::Recovered, Signal::Offline, Signal::Online][n as usize];
                    engine.playback_signal(now, n as usize % 3, signal);
                }
                Op::Fallback(service, media, entered) => engine.video_fallback(now, service, &media, entered),
                Op::Relay(on) => engine.set_relay(on),
                Op::RelayReport(value) => engine.relay_report(now, &value),
                Op::WallClock(wall) => engine.set_wall_clock(now, wall),
            }
            // Reports carry no URL and no token.
            while let Some(Dispatch::Send(r) | Dispatch::Forward(r)) = engine.poll_report(now) {
                let json = r.to_value().to_json();
                prop_assert!(!json.contains("X-Plex-Token=t") && !json.contains("/api/"), "{}", json);
            }
            // Acting on every due deadline always moves the next one into the
            // future: a driver sleeping until poll_timeout can never spin.
            if engine.poll_timeout().is_some_and(|d| d <= now) {
                engine.handle_timeout(now);
                while let Some(p) = engine.poll_probe(now) {
                    engine.probe_result(now, p.service, Outcome::Timeout);
                }
                prop_assert!(engine.poll_timeout().map_or(true, |d| d > now), "deadline did nothing at {}", now);
            }
            while engine.poll_event().is_some() {}
        }
        let _ = engine.metrics(now);
        let json = engine.snapshot(now, 0).to_value().to_json();
        prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{}", json);
    }

    /// Arbitrary JSON-like values never panic the config reader, and whatever it
    /// accepts is valid.
    #[test]
    fn any_config_value_is_accepted_valid_or_rejected_with_a_field(
        value in prop_oneof![json_like(), prop::collection::vec((config_key(), json_like()), 0..6).prop_map(Value::Object)],
    ) {
        match Config::from_value(&value) {
            Ok(config) => prop_assert_eq!(config.validate(), Ok(())),
            Err(e) => prop_assert!(!e.field.is_empty() && !e.rule.is_empty() && !e.value.is_empty(), "{:?}", e),
        }
    }
}

/// Keys of the config (and a stranger), so generated objects reach deep.
fn config_key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "enabled",
        "retry",
        "maxAttempts",
        "timeouts",
        "videoMs",
        "breaker",
        "services",
        "name",
        "match",
        "probeUrl",
        "openMs",
        "probe",
        "classes",
        "class",
        "secrets",
        "notices",
        "messages",
        "slow",
        "jitter",
        "factor",
        "report",
        "url",
        "maxPerMinute",
        "pageId",
        "x",
    ])
    .prop_map(String::from)
}

/// JSON-like values made of the config's keys and edge-case leaves.
fn json_like() -> impl Strategy<Value = Value> {
    let number = prop::sample::select(vec![0.0, 1.0, -1.0, 2.5, 3.0, 5_000.0, f64::NAN, f64::INFINITY, 1e300]);
    let text = prop::sample::select(vec!["", "x", "plex", "/a", "full", "video", "GET"]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number.prop_map(Value::Number),
        text.prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((config_key(), inner), 0..6).prop_map(Value::Object),
        ]
    })
}

proptest! {
    // Each case simulates ten minutes of traffic: fewer cases keep the suite quick.
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Against a server that fails at random, no request reaches it while its
    /// breaker is open — only probes do — and retries stay within the budget.
    #[test]
    fn open_breakers_let_only_probes_through_and_retries_stay_in_budget(
        config in config(),
        seed in any::<u64>(),
        failure_odds in 0u64..=100,
        hang_odds in 0u64..=100,
        period in 200u64..3_000,
    ) {
        let mut rng = player_resilience::engine::rng::Rng::new(seed);
        let budget = config.budget.clone();
        let mut sim = Sim::new(config, seed, move |_, _| {
            let roll = rng.between(0, 99);
            if roll < failure_odds * hang_odds / 100 { Reply::Hang }
            else if roll < failure_odds { Reply::Status(504, FAST_MS) }
            else { Reply::Status(200, FAST_MS) }
        });
        let duration = 5 * 60_000;
        sim.every(0, duration, period, URLS[2]);
        sim.every(0, duration, period * 3, URLS[4]);
        sim.run_until(duration + 5 * 60_000);

        for hit in &sim.hits {
            prop_assert!(hit.probe || hit.state != BreakerState::Open, "request sent while open at {}", hit.at);
            prop_assert!(!hit.probe || hit.state == BreakerState::Open, "probe sent while {:?} at {}", hit.state, hit.at);
        }
        // The budget allows `min_per_second` per second plus `ratio` per request,
        // counted over each window: over the whole run that is at most this many.
        let requests = sim.hits.iter().filter(|h| !h.probe).count() as f64;
        let windows = ((duration + 5 * 60_000) / budget.window_ms + 1) as f64;
        let allowed = budget.min_per_second * (budget.window_ms as f64 / 1000.0) * windows + budget.ratio * requests * 2.0;
        prop_assert!(sim.retries() as f64 <= allowed, "{} retries, {} allowed", sim.retries(), allowed);
    }
}
