//! The engine driven by any sequence of what the browser layer can tell it, on a
//! clock that may jump or go backwards: it never panics, and what it says stays
//! serialisable.
#![no_main]
use libfuzzer_sys::fuzz_target;
use player_resilience::engine::classify::Outcome;
use player_resilience::engine::config::Config;
use player_resilience::engine::notify::Signal;
use player_resilience::engine::resilience::{Engine, Next, Report, RequestId, Start};
use player_resilience::engine::value::Value;
use player_resilience_fuzz::Bytes;

const SIGNALS: [Signal; 10] = [
    Signal::Slow,
    Signal::Retrying,
    Signal::Unavailable,
    Signal::Fallback,
    Signal::Recovered,
    Signal::Answered,
    Signal::Offline,
    Signal::Online,
    Signal::PlayBlocked,
    Signal::Unreadable,
];

fn outcome(b: &mut Bytes) -> Outcome {
    match b.byte() % 8 {
        0 => Outcome::Timeout,
        1 => Outcome::NetworkError,
        2 => Outcome::Offline,
        3 => Outcome::Aborted,
        4 => Outcome::Unreadable,
        5 => Outcome::Status(u16::from(b.byte()) * 4),
        _ => Outcome::Status([200, 204, 404, 429, 500, 502, 503, 504][b.below(8)]),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let config = match b.byte() % 2 {
        0 => Config::default(),
        _ => {
            let report = Value::object([("url", Value::String("https://backend/report".into()))]);
            Config::from_value(&Value::object([("report", report)])).unwrap_or_default()
        }
    };
    let mut engine = Engine::new(config, b.u64(), 0);
    let mut now: u64 = 0;
    let mut out: Vec<RequestId> = Vec::new();
    while !b.is_empty() {
        now = now.saturating_add_signed(b.step());
        let pick =
            |b: &mut Bytes, out: &[RequestId]| out.get(b.below(out.len())).copied().unwrap_or(RequestId(b.u64()));
        match b.byte() % 16 {
            0..=2 => {
                let method = ["GET", "POST", "HEAD", "get"][b.below(4)];
                if let Start::Send(attempt) = engine.begin(now, method, &b.word()) {
                    out.push(attempt.id);
                }
            }
            3..=5 => {
                let id = pick(&mut b, &out);
                let retry_after = if b.below(3) == 0 { Some(b.word()) } else { None };
                let report =
                    Report { outcome: outcome(&mut b), retry_after: retry_after.as_deref(), wall_clock_ms: b.u64() };
                if !matches!(engine.finish(now, id, report), Next::RetryAfter { .. }) {
                    out.retain(|x| *x != id);
                }
            }
            6 => {
                let id = pick(&mut b, &out);
                if !matches!(engine.resume(now, id), Start::Send(_)) {
                    out.retain(|x| *x != id);
                }
            }
            7 => engine.abort(pick(&mut b, &out)),
            8 => {
                let _ = engine.poll_timeout();
                engine.handle_timeout(now);
            }
            9 => {
                if let Some(probe) = engine.poll_probe(now) {
                    engine.probe_result(now, probe.service, outcome(&mut b));
                } else {
                    engine.probe_result(now, b.below(4), outcome(&mut b));
                }
            }
            10 => match b.byte() % 4 {
                0 => engine.set_online(now, b.flag()),
                1 => engine.set_visible(now, b.flag()),
                2 => engine.set_prober(now, b.flag()),
                _ => engine.retry_now(now),
            },
            11 => {
                let service = b.word();
                match b.byte() % 3 {
                    0 => drop(engine.reset(now, &service)),
                    1 => drop(engine.isolate(now, &service)),
                    _ => engine.note_remote_probe(now, &service),
                }
            }
            12 => {
                let wall = b.u64();
                let snapshot = engine.snapshot(now, wall);
                let _ =
                    if b.flag() { engine.adopt(&snapshot, now, wall) } else { engine.restore(&snapshot, now, wall) };
            }
            13 => {
                let service = b.below(4);
                match b.byte() % 4 {
                    0 => engine.playback_signal(now, service, SIGNALS[b.below(SIGNALS.len())]),
                    1 => engine.record_video_failure(now, service),
                    2 => engine.watch_video(service, b.flag()),
                    _ => engine.video_fallback(now, service, &b.word(), b.flag()),
                }
            }
            14 => {
                engine.set_wall_clock(now, b.u64());
                let _ = engine.poll_report(now);
            }
            _ => {
                while let Some(event) = engine.poll_event() {
                    let _ = event.to_value().to_json();
                }
                while engine.poll_cut().is_some() {}
                let _ = engine.metrics(now).to_value().to_json();
            }
        }
    }
});
