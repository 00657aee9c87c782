//! A fleet of 1 to 10 000 simulated players through a 2-minute outage: the load
//! at the server and how long until every player is back, for this package's
//! default config, the incident's naive retries, and a cockatiel-like client.
//! Prints Markdown tables and writes `test-output/fleet.json`.
//!
//! Run: `cargo run --release --example fleet` (or `npm run bench:fleet`);
//! `-- 10,100` runs only those fleet sizes.

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::time::Instant;

use player_resilience::engine::resilience::Engine;
use serde_json::{json, Value};
use sim::cockatiel::Cockatiel;
use sim::fleet::{self, Outcome, Scenario};
use sim::naive::Naive;
use sim::Sim;

const MODELS: [&str; 3] = ["player-resilience (defaults)", "naive (20 × 500 ms)", "cockatiel-like"];

fn run(model: usize, scenario: Scenario) -> Outcome {
    match model {
        0 => fleet::run(scenario, |_, seed| Engine::new(Sim::config(), seed, 0)),
        1 => fleet::run(scenario, |_, _| Naive::new()),
        _ => fleet::run(scenario, |_, seed| Cockatiel::new(seed)),
    }
}

fn secs(t: Option<f64>) -> String {
    t.map_or_else(|| "not by the end".into(), |t| format!("{t:.0} s"))
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .map(|a| a.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 10, 100, 1_000, 10_000]);
    let s = Scenario::standard(1);
    println!(
        "Fleet: each player asks for metadata (api) and a thumbnail (plex) every 2 s and a video range (plex) \
         every 4 s ({} req/s). The server is down from t = {} s to {} s (requests hang until the proxy's 504 at 60 s), \
         then serves {}× the fleet's normal rate and answers the rest 503. Run to t = {} s.\n",
        fleet::PLAYER_RPS,
        s.down_ms / 1000,
        s.up_ms / 1000,
        s.capacity_factor,
        s.end_ms / 1000
    );
    println!("| players | model | normal rps | capacity | outage rps mean / peak | last outage minute mean / peak | 1st minute after: rps mean / peak (peak 1st 10 s) | 503s in 1st minute | calls ≥ 95 % ok after | players back (plex) p50 / p95 / all | players back (api) p50 / p95 / all | breakers all closed (plex / api) | run time |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut runs = Vec::new();
    for &players in &sizes {
        // The three models of one size run side by side (2 cores here).
        let outcomes: Vec<(Outcome, f64)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..MODELS.len())
                .map(|m| {
                    scope.spawn(move || {
                        let started = Instant::now();
                        let o = run(m, Scenario::standard(players));
                        (o, started.elapsed().as_secs_f64())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a fleet run panicked")).collect()
        });
        for (m, (o, took)) in outcomes.iter().enumerate() {
            let back = |g: usize| format!("{} / {} / {}", secs(o.back[g][0]), secs(o.back[g][1]), secs(o.back[g][2]));
            let closed = if m == 1 {
                "no breaker".to_owned()
            } else {
                format!("{} / {}", secs(o.breakers_closed[0]), secs(o.breakers_closed[1]))
            };
            println!(
                "| {players} | {} | {:.1} | {} | {:.1} / {} | {:.1} / {} | {:.1} / {} ({}) | {} | {} | {} | {} | {closed} | {took:.1} s |",
                MODELS[m],
                o.normal_rps,
                o.capacity,
                o.outage.mean,
                o.outage.peak,
                o.open.mean,
                o.open.peak,
                o.after.mean,
                o.after.peak,
                o.after_10s_peak,
                o.rejected_after,
                secs(o.calls_95),
                back(0),
                back(1),
            );
            runs.push(to_json(MODELS[m], o, *took));
        }
    }
    let scenario = json!({
        "downMs": s.down_ms, "upMs": s.up_ms, "endMs": s.end_ms, "capacityFactor": s.capacity_factor,
        "playerRps": fleet::PLAYER_RPS, "proxyTimeoutMs": fleet::PROXY_TIMEOUT_MS, "seed": s.seed,
        "urls": [fleet::METADATA, fleet::THUMBNAIL, fleet::VIDEO],
    });
    let out = json!({ "scenario": scenario, "runs": runs });
    std::fs::create_dir_all("test-output").expect("test-output/ can be created");
    std::fs::write("test-output/fleet.json", serde_json::to_string_pretty(&out).expect("JSON"))
        .expect("test-output/fleet.json can be written");
    println!("\nwrote test-output/fleet.json");
}

fn to_json(model: &str, o: &Outcome, took: f64) -> Value {
    let rate = |r: fleet::Rate| json!({ "mean": r.mean, "peak": r.peak });
    let group = |g: usize| json!({ "p50": o.back[g][0], "p95": o.back[g][1], "all": o.back[g][2] });
    json!({
        "model": model, "players": o.players, "normalRps": o.normal_rps, "capacity": o.capacity,
        "healthy": rate(o.healthy), "outage": rate(o.outage), "outageLastMinute": rate(o.open), "firstMinuteAfter": rate(o.after),
        "first10sAfterPeak": o.after_10s_peak, "rejected503FirstMinute": o.rejected_after,
        "calls95AfterS": o.calls_95, "playersBackAfterS": { "plex": group(0), "api": group(1) },
        "breakersClosedAfterS": { "plex": o.breakers_closed[0], "api": o.breakers_closed[1] },
        "runSeconds": took, "arrivalsPerSecond": o.arrivals,
    })
}
