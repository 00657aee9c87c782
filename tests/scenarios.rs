//! Outages walked through the engine with a manual clock: what it decides at each
//! step, what the person sees, and how much traffic reaches the failing server.

mod sim;

use player_resilience::engine::breaker::BreakerState::{self, Closed, HalfOpen, Open};
use player_resilience::engine::config::Config;
use player_resilience::engine::notify::NoticeKind::{self, Offline, Online, Restored, Retrying, Slow, Unavailable};
use player_resilience::engine::resilience::{Engine, EngineSnapshot, Failure, RestoreError, Start};
use player_resilience::engine::Millis;
use sim::{Ended, Reply, Sim, FAST_MS, WALL_START_MS};

const THUMB: &str = "/api/v1/proxy/plex/photo/:/transcode?width=240&height=135&minSize=1&upscale=1&url=/library/parts/7/indexes/sd/12000&X-Plex-Token=secret-token";
const VIDEO: &str = "/api/v1/proxy/plex/stream/7?X-Plex-Token=secret-token";
const SECOND: Millis = 1_000;
const MINUTE: Millis = 60 * SECOND;
const HOUR: Millis = 60 * MINUTE;

/// The proxy in the incident: healthy, except that during `[from, to)` every Plex
/// request hangs until the proxy's own 60 s timeout answers 504.
fn hangs_between(from: Millis, to: Millis) -> impl FnMut(Millis, &str) -> Reply {
    move |t, url| {
        if (from..to).contains(&t) && url.contains("/proxy/plex/") {
            Reply::Status(504, MINUTE)
        } else {
            Reply::Status(200, FAST_MS)
        }
    }
}

/// A player showing a video: a thumbnail every 2 s, a range request every 10 s.
fn player(sim: &mut Sim, until: Millis) {
    sim.every(0, until, 2 * SECOND, THUMB);
    sim.every(0, until, 10 * SECOND, VIDEO);
}

fn no_secret_anywhere(sim: &Sim) {
    for (_, event) in &sim.events {
        let json = event.to_value().to_json();
        assert!(!json.contains("secret-token"), "token leaked into {json}");
    }
    let metrics = sim.engine.metrics(sim.now).to_value().to_json();
    assert!(!metrics.contains("secret-token"));
}

#[test]
fn the_2026_02_16_incident_hang_then_recovery_two_minutes_later() {
    // Given a player streaming from a healthy server, which hangs at t = 60 s and
    // comes back at t = 180 s.
    let (hang, back) = (MINUTE, 3 * MINUTE);
    let mut sim = Sim::new(Sim::config(), 1, hangs_between(hang, back));
    player(&mut sim, 6 * MINUTE);

    // Before the hang: everything is delivered and nothing is said.
    sim.run_until(hang - 1);
    assert!(sim.notices().is_empty());
    assert!(sim.ended.iter().all(|(_, _, e)| *e == Ended::Delivered(200)));

    // t+3 s: the first request passes the soft deadline: one "slow" notice, not one
    // per request.
    sim.run_until(hang + 10 * SECOND - 1);
    assert_eq!(sim.first_notice(Slow), Some(hang + 3 * SECOND));
    assert_eq!(sim.notice_kinds(), vec![Slow]);

    // t+10 s: the first timeouts are retried (the notice escalates once); three
    // consecutive failures (Plex's threshold) open the breaker at t+14 s.
    sim.run_until(back - 1);
    let opened = sim.first_transition_to("plex", Open).expect("the breaker opened");
    assert_eq!(opened, hang + 14 * SECOND);
    assert_eq!(sim.first_notice(Unavailable), Some(opened));
    assert_eq!(sim.notice_kinds(), vec![Slow, Retrying, Unavailable]);

    // While open, no request reaches the server except health probes; callers fail
    // fast with BREAKER_OPEN.
    assert!(sim.hits.iter().all(|h| h.probe || h.state != Open), "a request reached the server while open");
    assert_eq!(sim.requests_between(opened + 1, back), 0);
    // One every 15-18 s (the least spacing is 15 s).
    let probes = sim.probes_between(opened, back);
    assert!((5..=7).contains(&probes), "{probes} probes in 106 s of outage");
    assert!(sim.ended.iter().any(|(t, _, e)| *t > opened && matches!(e, Ended::Failed(Failure::BreakerOpen { .. }))));

    // Only what was already in flight reached the dead server: the proxy used to
    // retry each request 20 times.
    let during_outage = sim.requests_between(hang, back);
    assert!(during_outage <= 12, "{during_outage} requests reached the hung server");

    // Recovery: the next probe (15-18 s apart) finds the server → half-open; three
    // good trials → closed; "restored".
    sim.run_until(6 * MINUTE);
    let half_open = sim.first_transition_to("plex", HalfOpen).expect("went half-open");
    let closed = sim.first_transition_to("plex", Closed).expect("closed again");
    assert!(half_open > back && closed >= half_open);
    assert!(half_open - back <= 18 * SECOND + FAST_MS, "half-open {} ms after the server came back", half_open - back);
    assert!(closed - back <= 30 * SECOND, "closed {} ms after the server came back", closed - back);
    assert_eq!(sim.notice_kinds(), vec![Slow, Retrying, Unavailable, Restored]);
    assert_eq!(sim.first_notice(Restored), Some(closed));
    assert!(sim.ended.iter().filter(|(t, _, _)| *t > closed + SECOND).all(|(_, _, e)| *e == Ended::Delivered(200)));
    no_secret_anywhere(&sim);
}

#[test]
fn a_blip_shorter_than_the_soft_deadline_shows_nothing() {
    // Given a server that answers in 2.5 s for ten seconds (under the 3 s deadline).
    let mut sim = Sim::new(Sim::config(), 2, |t, _| {
        Reply::Status(200, if (30 * SECOND..40 * SECOND).contains(&t) { 2_500 } else { FAST_MS })
    });
    player(&mut sim, MINUTE);
    sim.run_until(2 * MINUTE);

    // Then nobody is told anything, the breaker never moves, everything arrives.
    assert_eq!(sim.notices(), vec![]);
    assert_eq!(sim.transitions("plex"), vec![]);
    assert_eq!(sim.retries(), 0);
    assert!(sim.ended.iter().all(|(_, _, e)| *e == Ended::Delivered(200)));
}

#[test]
fn a_crashing_and_restarting_server_is_cut_off_each_time_with_few_notices() {
    // Given a server that is up for 40 s and down (fast 504s) for 20 s, for 20 minutes.
    let down = |t: Millis| t % MINUTE >= 40 * SECOND;
    let mut sim =
        Sim::new(
            Sim::config(),
            3,
            move |t, _| {
                if down(t) {
                    Reply::Status(504, FAST_MS)
                } else {
                    Reply::Status(200, FAST_MS)
                }
            },
        );
    let end = 20 * MINUTE + 39 * SECOND; // the 20th outage ends at 20:00
    sim.every(0, end, SECOND, THUMB);
    sim.run_until(end);

    // Then every outage opens the breaker once, and every one recovers by itself.
    let opens = sim.times_entered("plex", Open);
    assert_eq!(opens.len(), 20, "opened {} times in 20 outages", opens.len());
    assert!(opens.iter().all(|t| down(*t)), "opened while the server was up: {opens:?}");
    assert_eq!(sim.transitions("plex").last().map(|t| t.2), Some(Closed));

    // The server saw a fraction of the 1,200 requests the player made, and only a
    // few of them while down.
    let while_down = sim.hits.iter().filter(|h| !h.probe && down(h.at)).count();
    assert!(while_down <= 6 * opens.len(), "{while_down} requests reached the server while down");

    // The person is told once per outage that the server is gone and once that it is
    // back; the "slow"/"retrying" stages of an outage soon after a recovery are held back.
    let kinds = sim.notice_kinds();
    let count = |k| kinds.iter().filter(|n| **n == k).count();
    assert_eq!(count(Unavailable), opens.len());
    assert_eq!(count(Restored), opens.len());
    assert!(count(Retrying) + count(Slow) <= 2, "{kinds:?}");
}

#[test]
fn a_lying_health_endpoint_gets_ever_longer_rests() {
    // Given a server whose /identity says healthy while every real request fails.
    let mut sim = Sim::new(Sim::config(), 10, |_, url| {
        if url.ends_with("/identity") {
            Reply::Status(200, FAST_MS)
        } else {
            Reply::Status(503, FAST_MS)
        }
    });
    sim.every(0, 30 * MINUTE, SECOND, THUMB);
    sim.run_until(30 * MINUTE);

    // Then each failed trial reopens the breaker, and the rest before the next
    // probe doubles from 60 s (twice the 30 s open time) up to the 5-minute cap.
    let opens = sim.times_entered("plex", Open);
    let rests: Vec<Millis> = opens.windows(2).map(|w| (w[1] - w[0]) / SECOND).collect();
    assert!(rests.len() >= 5, "{rests:?}");
    assert!(rests.windows(2).all(|w| w[1] >= w[0]), "rests shrank: {rests:?}");
    assert!(rests.get(1).is_some_and(|r| (60..=70).contains(r)), "{rests:?}");
    assert!(rests.get(2).is_some_and(|r| (120..=130).contains(r)), "{rests:?}");
    assert!(rests.last().is_some_and(|r| (300..=310).contains(r)), "{rests:?}");

    // The server saw a few trials per reopen, not 1,800 requests.
    let reached = sim.requests_between(0, 30 * MINUTE);
    assert!(reached <= 3 + opens.len(), "{reached} requests for {} opens", opens.len());
}

#[test]
fn a_retry_after_storm_is_obeyed() {
    // Given a server that answers every request with 503 and Retry-After: 20 from
    // t = 30 s to t = 120 s.
    let storm = 30 * SECOND..120 * SECOND;
    let in_storm = storm.clone();
    let mut sim = Sim::new(Sim::config(), 4, move |t, _| {
        if in_storm.contains(&t) {
            Reply::RetryAfter(503, "20".into())
        } else {
            Reply::Status(200, FAST_MS)
        }
    });
    sim.every(0, 4 * MINUTE, 2 * SECOND, THUMB);
    sim.run_until(4 * MINUTE);

    // Every retry waited at least what the server asked.
    let delays: Vec<Millis> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            player_resilience::engine::resilience::Event::Retry { delay_ms, .. } => Some(*delay_ms),
            _ => None,
        })
        .collect();
    assert!(!delays.is_empty());
    assert!(delays.iter().all(|d| *d >= 20 * SECOND), "{delays:?}");

    // The breaker opened on the third 503 and did not probe before Retry-After.
    let opened = sim.first_transition_to("plex", Open).unwrap();
    assert_eq!(opened, storm.start + 4 * SECOND + FAST_MS);
    let first_probe = sim.hits.iter().find(|h| h.probe).unwrap().at;
    assert!(first_probe >= opened + 20 * SECOND, "probed {} ms after opening", first_probe - opened);

    // During the 90 s storm the server saw a handful of requests, not 45 × retries.
    let reached = sim.requests_between(storm.start, storm.end);
    assert!(reached <= 6, "{reached} requests during the storm");
    assert_eq!(sim.transitions("plex").last().map(|t| t.2), Some(Closed));
}

#[test]
fn an_http_date_retry_after_is_read_against_the_wall_clock() {
    // Given a 503 whose Retry-After is an HTTP date 30 s after the wall clock.
    let date = "Mon, 16 Feb 2026 00:00:40 GMT"; // WALL_START_MS + 40 s
    assert_eq!(WALL_START_MS, 1_771_200_000_000);
    let mut sim = Sim::new(Sim::config(), 5, move |t, _| {
        if t < 20 * SECOND {
            Reply::RetryAfter(503, date.into())
        } else {
            Reply::Status(200, FAST_MS)
        }
    });
    sim.request(10 * SECOND, THUMB);
    sim.run_until(MINUTE);

    // Then the retry waits until that date, and succeeds.
    let retry_at = sim.hits.get(1).map(|h| h.at);
    assert_eq!(retry_at, Some(40 * SECOND));
    assert_eq!(sim.ended.last().map(|e| e.2.clone()), Some(Ended::Delivered(200)));
}

#[test]
fn an_eight_hour_outage_costs_the_server_one_probe_a_minute_at_most() {
    // Given a server that hangs for 8 hours from t = 60 s.
    let (hang, back) = (MINUTE, MINUTE + 8 * HOUR);
    let mut sim = Sim::new(Sim::config(), 6, hangs_between(hang, back));
    sim.every(0, back + 10 * MINUTE, 5 * SECOND, THUMB);
    sim.every(0, back + 10 * MINUTE, 10 * SECOND, VIDEO);
    sim.run_until(back + 10 * MINUTE);

    // Probes go every 15-18 s for 5 minutes, then back off to the 60 s cap
    // (jitter only ever later): after the first 10 minutes, one a minute at most.
    let opened = sim.first_transition_to("plex", Open).unwrap();
    let probes = sim.probes_between(opened, back);
    assert!((400..=500).contains(&probes), "{probes} probes in 8 hours");
    let late = sim.probes_between(opened + 10 * MINUTE, back);
    assert!(late as u64 <= (back - opened - 10 * MINUTE) / MINUTE, "{late} probes after the first 10 minutes");
    assert_eq!(sim.requests_between(opened + 1, back), 0);
    assert_eq!(sim.notice_kinds(), vec![Slow, Retrying, Unavailable, Restored]);

    // It recovers by itself within two minutes of the server's return, and the
    // metrics saw almost eight hours open.
    let closed = sim.first_transition_to("plex", Closed).unwrap();
    assert!(closed > back && closed - back <= 2 * MINUTE);
    let metrics: serde_json::Value = serde_json::from_str(&sim.engine.metrics(sim.now).to_value().to_json()).unwrap();
    let open_ms = metrics["services"][0]["timeInStateMs"]["open"].as_u64().unwrap();
    assert!(open_ms > 8 * HOUR - 5 * MINUTE, "open for {open_ms} ms");
}

#[test]
fn an_offline_client_is_not_the_servers_fault() {
    // Given a healthy server and a client that loses its network for 30 s.
    let mut sim = Sim::new(Sim::config(), 7, |_, _| Reply::Status(200, FAST_MS));
    sim.every(0, 2 * MINUTE, SECOND, THUMB);
    sim.run_until(30 * SECOND);
    sim.set_online(false);
    sim.run_until(MINUTE);

    // Then requests fail as OFFLINE, the breaker stays closed and nothing probes.
    let offline =
        sim.ended.iter().filter(|(t, _, e)| *t > 30 * SECOND && *e == Ended::Failed(Failure::Offline)).count();
    assert!(offline >= 29, "{offline}");
    assert_eq!(sim.transitions("plex"), vec![]);
    assert_eq!(sim.probes_between(0, MINUTE), 0);

    // Back online: one notice each way, and requests flow again.
    sim.set_online(true);
    sim.run_until(2 * MINUTE);
    assert_eq!(sim.notice_kinds(), vec![Offline, Online]);
    assert!(sim.ended.iter().filter(|(t, _, _)| *t > MINUTE).all(|(_, _, e)| *e == Ended::Delivered(200)));
}

#[test]
fn a_reload_during_an_outage_does_not_hammer_the_server() {
    // Given a breaker opened by a hung server...
    let mut sim = Sim::new(Sim::config(), 8, hangs_between(0, HOUR));
    player(&mut sim, 30 * SECOND);
    sim.run_until(30 * SECOND);
    assert_eq!(sim.engine.state(0), Some(Open));
    let stored = sim.engine.snapshot(sim.now, WALL_START_MS + sim.now).to_value().to_json();
    assert!(!stored.contains("secret-token") && !stored.contains("/api/"));

    // ...when the page reloads 10 s later (a new engine, its clock from zero)...
    let mut engine = Engine::new(Sim::config(), 9, 0);
    let snapshot = EngineSnapshot::from_value(&sim::json::parse(&stored)).unwrap();
    engine.restore(&snapshot, 0, WALL_START_MS + 40 * SECOND).unwrap();

    // ...then it starts open: the first request fails fast instead of hitting the server.
    assert_eq!(engine.state(0), Some(Open));
    assert!(matches!(engine.begin(0, "GET", THUMB), Start::Fail(Failure::BreakerOpen { .. })));
}

#[test]
fn stale_foreign_or_future_snapshots_are_ignored() {
    let mut old = Engine::new(Sim::config(), 1, 0);
    old.isolate(0, "plex");
    let snapshot = old.snapshot(0, WALL_START_MS);
    let fresh = || Engine::new(Sim::config(), 2, 0);
    let max_age = Config::default().persistence.max_age_ms;

    let mut e = fresh();
    assert_eq!(e.restore(&snapshot, 0, WALL_START_MS + max_age + 1), Err(RestoreError::Stale));
    assert_eq!(e.state(0), Some(Closed));

    let mut e = fresh();
    assert_eq!(e.restore(&snapshot, 0, WALL_START_MS - HOUR), Err(RestoreError::FromTheFuture));

    let mut e = fresh();
    let foreign = EngineSnapshot { version: 99, ..snapshot.clone() };
    assert_eq!(e.restore(&foreign, 0, WALL_START_MS), Err(RestoreError::Version));
    assert_eq!(e.state(0), Some(Closed));

    // Corrupt JSON never becomes a snapshot at all.
    assert_eq!(EngineSnapshot::from_value(&sim::json::parse(r#"{"version":1}"#)), None);

    // A good one is adopted.
    let mut e = fresh();
    assert_eq!(e.restore(&snapshot, 0, WALL_START_MS + SECOND), Ok(()));
    assert_eq!(e.state(0), Some(BreakerState::Isolated));
}

#[test]
fn non_idempotent_requests_are_never_retried() {
    let mut engine = Engine::new(Sim::config(), 1, 0);
    let Start::Send(attempt) = engine.begin(0, "POST", "/api/v1/play/7/progress") else { panic!("not sent") };
    let next = engine.finish(
        100,
        attempt.id,
        player_resilience::engine::resilience::Report {
            outcome: player_resilience::engine::classify::Outcome::Status(504),
            retry_after: None,
            wall_clock_ms: WALL_START_MS,
        },
    );
    // The 504 is handed back as a response, as the browser's fetch would.
    assert_eq!(next, player_resilience::engine::resilience::Next::Deliver);
}

#[test]
fn notice_kinds_are_in_the_catalogue_order() {
    // The notice keys the engine emits are the config's catalogue keys.
    for kind in [Slow, Retrying, Unavailable, NoticeKind::Fallback, Restored, Offline, Online] {
        assert!(player_resilience::engine::config::NOTICE_KEYS.contains(&kind.key()));
    }
}

#[test]
fn a_tab_that_is_not_the_prober_never_probes_nor_spins_until_it_becomes_the_prober() {
    // Given a tab that another tab probes for, and a server that hangs for an hour.
    let mut sim = Sim::new(Sim::config(), 10, hangs_between(0, HOUR));
    sim.set_prober(false);
    player(&mut sim, 2 * MINUTE);
    sim.run_until(30 * MINUTE);

    // Then its breaker opens as usual, but it never probes, nothing reaches the
    // server while open, and no deadline is left in the past (the sim asserts that
    // handle_timeout clears every deadline it sleeps until).
    let opened = sim.first_transition_to("plex", Open).unwrap();
    assert_eq!(sim.engine.state(0), Some(Open));
    assert_eq!(sim.probes_between(0, 30 * MINUTE), 0);
    assert_eq!(sim.requests_between(opened + 1, 30 * MINUTE), 0);
    assert!(sim.engine.poll_timeout().map_or(true, |d| d > sim.now));
    sim.set_prober(false);
    assert_eq!(sim.probes_between(0, 30 * MINUTE + 1), 0);

    // When it becomes the prober, a probe goes at once, and the schedule goes on.
    sim.set_prober(true);
    assert_eq!(sim.probes_between(30 * MINUTE, 30 * MINUTE + 1), 1);
    sim.run_until(40 * MINUTE);
    assert!(sim.probes_between(30 * MINUTE + 1, 40 * MINUTE) >= 5);
    // And saying so again does not probe again.
    sim.set_prober(true);
    assert_eq!(sim.probes_between(40 * MINUTE, 40 * MINUTE + 1), 0);
}

#[test]
fn a_non_prober_hears_of_recovery_from_the_prober_tab() {
    // Given two tabs during an outage; only the first probes.
    let mut prober = Sim::new(Sim::config(), 11, hangs_between(0, 3 * MINUTE));
    let mut other = Sim::new(Sim::config(), 12, hangs_between(0, 3 * MINUTE));
    other.set_prober(false);
    player(&mut prober, 10 * MINUTE);
    player(&mut other, 10 * MINUTE);
    prober.run_until(6 * MINUTE);
    other.run_until(6 * MINUTE);
    assert_eq!(other.engine.state(0), Some(Open));

    // When the prober's state (closed again) arrives, the other tab closes too, without a probe.
    assert_eq!(prober.engine.state(0), Some(Closed));
    let shared = prober.engine.snapshot(prober.now, WALL_START_MS + prober.now).to_value().to_json();
    let snapshot = EngineSnapshot::from_value(&sim::json::parse(&shared)).unwrap();
    other.engine.restore(&snapshot, other.now, WALL_START_MS + other.now).unwrap();
    assert_eq!(other.engine.state(0), Some(Closed));
    other.run_until(10 * MINUTE);
    assert_eq!(other.probes_between(0, 10 * MINUTE), 0);
    assert_eq!(other.engine.state(0), Some(Closed));
}

#[test]
fn restoring_a_tabs_own_state_changes_nothing_and_says_nothing() {
    // Given a tab whose `plex` breaker is open and whose `api` breaker went half-open
    // by time (it has no probe URL).
    let mut sim = Sim::new(Sim::config(), 13, |_, url| {
        if url.contains("/proxy/plex/") || url.contains("/play/") {
            Reply::Status(503, FAST_MS)
        } else {
            Reply::Status(200, FAST_MS)
        }
    });
    player(&mut sim, 20 * SECOND);
    sim.every(0, 20 * SECOND, SECOND, "/api/v1/play/1");
    sim.run_until(20 * SECOND);
    let api = sim.engine.service_index("api").unwrap();
    assert_eq!(sim.engine.state(0), Some(Open));
    let opened = sim.first_transition_to("api", Open).unwrap();
    // Its trials are its probes: 15-18 s apart; the last request went at 20 s.
    sim.run_until(opened + 60 * SECOND);
    assert_eq!(sim.engine.state(api), Some(HalfOpen));
    while sim.engine.poll_event().is_some() {}

    // When it restores its own snapshot, twice (as a cross-tab echo would)...
    for _ in 0..2 {
        let wall = WALL_START_MS + sim.now;
        let snapshot = sim.engine.snapshot(sim.now, wall);
        sim.engine.restore(&snapshot, sim.now, wall).unwrap();
        // ...then no state event and no notice comes out, and the states stay.
        assert_eq!(sim.engine.poll_event(), None);
        assert_eq!(sim.engine.state(0), Some(Open));
        assert_eq!(sim.engine.state(api), Some(HalfOpen));
    }
}

#[test]
fn a_service_without_a_probe_url_recovers_as_fast_as_a_probed_one() {
    // Given the page's own API (the `api` service: no probe URL), asked every 2 s,
    // hanging for 2 minutes (then for 30), the proxy answering 504 after a minute.
    for (outage, seed) in [(2 * MINUTE, 21), (30 * MINUTE, 22)] {
        let (hang, back) = (MINUTE, MINUTE + outage);
        let mut sim = Sim::new(Sim::config(), seed, move |t, url| {
            if (hang..back).contains(&t) && url.contains("/play/") {
                Reply::Status(504, MINUTE)
            } else {
                Reply::Status(200, FAST_MS)
            }
        });
        sim.every(0, back + 2 * MINUTE, 2 * SECOND, "/api/v1/play/1");
        sim.run_until(back + 2 * MINUTE);

        // Its half-open trials are its probes: a cycle every 15-18 s for 5 minutes,
        // then backing off to one a minute; each lets at most 3 trials through.
        let opened = sim.first_transition_to("api", Open).expect("opened");
        let half_opens = sim.times_entered("api", HalfOpen);
        let early = half_opens.iter().filter(|t| **t < opened + 5 * MINUTE && **t < back).count() as u64;
        let expected = (back.min(opened + 5 * MINUTE) - opened) / (15 * SECOND);
        assert!(
            early <= expected && early + 2 >= expected * 15 / 18,
            "{early} trials rounds, expected about {expected}"
        );
        if outage > 10 * MINUTE {
            let late = half_opens.iter().filter(|t| **t > opened + 10 * MINUTE && **t < back).count() as u64;
            assert!(late <= (back - opened - 10 * MINUTE) / MINUTE, "{late} trial rounds after the first 10 minutes");
        }
        let during = sim.requests_between(opened + 1, back);
        assert!(during as u64 <= 3 * half_opens.len() as u64, "{during} requests reached the hung server");

        // It closes within 30 s of the server's return: the next trial round (at
        // most 18 s early on, 72 s later) and three good trials 2 s apart.
        let closed = sim.times_entered("api", Closed).into_iter().find(|t| *t > back).expect("closed again");
        let bound = if outage > 10 * MINUTE { 80 * SECOND } else { 30 * SECOND };
        assert!(closed - back <= bound, "closed {} s after the server came back", (closed - back) / SECOND);
    }
}
