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

use player_resilience::engine::config::{Config, Jitter};
use player_resilience::engine::resilience::Engine;
use serde_json::{json, Value};
use sim::cockatiel::Cockatiel;
use sim::fleet::{self, Outcome, Scenario};
use sim::naive::Naive;
use sim::Sim;

const MODELS: [&str; 3] = ["player-resilience (defaults)", "naive (20 × 500 ms)", "cockatiel-like"];

fn run(model: usize, scenario: Scenario) -> Outcome {
    match model {
        0 => package(Sim::config(), scenario),
        1 => fleet::run(scenario, |_, _| Naive::new()),
        _ => fleet::run(scenario, |_, seed| Cockatiel::new(seed)),
    }
}

fn package(config: Config, scenario: Scenario) -> Outcome {
    fleet::run(scenario, |_, seed| Engine::new(config.clone(), seed, 0))
}

/// Runs `jobs` on two threads (this machine's cores); results in the jobs' order.
fn parallel<T: Send>(jobs: Vec<Box<dyn FnOnce() -> T + Send + '_>>) -> Vec<T> {
    let count = jobs.len();
    let queue = std::sync::Mutex::new(jobs.into_iter().enumerate());
    let mut out: Vec<(usize, T)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some((i, job)) = queue.lock().ok().and_then(|mut q| q.next()) {
                        done.push((i, job()));
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a fleet run panicked")).collect()
    });
    assert_eq!(out.len(), count);
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
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
        // The three models of one size, two at a time (2 cores here).
        // The slowest (naive) first, so the two threads finish together.
        let jobs: Vec<Box<dyn FnOnce() -> (Outcome, f64) + Send>> = [1, 0, 2]
            .into_iter()
            .map(|m| {
                Box::new(move || {
                    let started = Instant::now();
                    let o = run(m, Scenario::standard(players));
                    (o, started.elapsed().as_secs_f64())
                }) as Box<dyn FnOnce() -> (Outcome, f64) + Send>
            })
            .collect();
        let mut outcomes = parallel(jobs);
        outcomes.swap(0, 1);
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
    // How the outage's length meets the `api` breaker's doubling open time.
    let sweep_players = 20;
    println!("\nOutage length, {sweep_players} players (issue 12's fleet), server down at t = 60 s, capacity 1.5×: seconds after it is back until the fleet's calls succeed at ≥ 95 %, until every player's calls succeed (plex / api), and until every breaker is closed (plex / api).\n");
    println!("| outage | player-resilience: calls ≥ 95 % ok | players back plex / api | breakers closed plex / api | cockatiel-like: calls ≥ 95 % ok | players back plex / api | breakers closed plex / api |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let outages = [30, 60, 90, 100, 120, 130, 150, 180, 240, 300];
    let jobs: Vec<Box<dyn FnOnce() -> (Outcome, Outcome) + Send>> = outages
        .iter()
        .map(|&o| {
            let f = move || {
                let scenario = Scenario {
                    up_ms: 60_000 + o * 1_000,
                    end_ms: 60_000 + o * 1_000 + 600_000,
                    ..Scenario::standard(sweep_players)
                };
                (run(0, scenario), run(2, scenario))
            };
            Box::new(f) as Box<dyn FnOnce() -> (Outcome, Outcome) + Send>
        })
        .collect();
    let mut sweep = Vec::new();
    for (&o, (p, c)) in outages.iter().zip(parallel(jobs)) {
        let pair = |x: &Outcome| format!("{} / {}", secs(x.back[0][2]), secs(x.back[1][2]));
        let closed = |x: &Outcome| format!("{} / {}", secs(x.breakers_closed[0]), secs(x.breakers_closed[1]));
        println!(
            "| {o} s | {} | {} | {} | {} | {} | {} |",
            secs(p.calls_95),
            pair(&p),
            closed(&p),
            secs(c.calls_95),
            pair(&c),
            closed(&c)
        );
        sweep.push(json!({ "outageS": o, "package": summary(&p), "cockatiel": summary(&c) }));
    }

    // What the probe jitter, the retry jitter and the retry budget each do.
    let ablation_players = 1_000;
    println!("\nAblation, {ablation_players} players, the standard outage: this package's defaults with one mechanism off.\n");
    let mut variants: Vec<(&str, Config)> = vec![("defaults", Sim::config())];
    let mut c = Sim::config();
    c.probe.jitter = false;
    variants.push(("probe jitter off", c));
    let mut c = Sim::config();
    c.retry.jitter = Jitter::None;
    variants.push(("retry jitter off (exponential, no jitter)", c));
    let mut c = Sim::config();
    c.budget.ratio = 1.0;
    c.budget.min_per_second = 100.0;
    variants.push(("retry budget off (ratio 1, 100 / s floor)", c));
    let mut c = Sim::config();
    c.probe.jitter = false;
    c.retry.jitter = Jitter::None;
    c.budget.ratio = 1.0;
    c.budget.min_per_second = 100.0;
    variants.push(("all three off", c));
    let mut ablation = Vec::new();
    for factor in [1.5, 1.1] {
        println!("\nCapacity {factor}× the normal rate:\n");
        println!("| variant | outage rps mean / peak | 1st minute after: mean / peak | peak 1st 10 s | 503s 1st minute | calls ≥ 95 % ok after | players back plex / api (all) |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        let scenario = Scenario { capacity_factor: factor, ..Scenario::standard(ablation_players) };
        let jobs: Vec<Box<dyn FnOnce() -> Outcome + Send>> = variants
            .iter()
            .map(|(_, c)| {
                let c = c.clone();
                Box::new(move || package(c, scenario)) as Box<dyn FnOnce() -> Outcome + Send>
            })
            .collect();
        for ((name, _), o) in variants.iter().zip(parallel(jobs)) {
            println!(
                "| {name} | {:.1} / {} | {:.1} / {} | {} | {} | {} | {} / {} |",
                o.outage.mean,
                o.outage.peak,
                o.after.mean,
                o.after.peak,
                o.after_10s_peak,
                o.rejected_after,
                secs(o.calls_95),
                secs(o.back[0][2]),
                secs(o.back[1][2])
            );
            ablation.push(json!({ "capacityFactor": factor, "variant": name, "result": summary(&o) }));
        }
    }

    let scenario = json!({
        "downMs": s.down_ms, "upMs": s.up_ms, "endMs": s.end_ms, "capacityFactor": s.capacity_factor,
        "playerRps": fleet::PLAYER_RPS, "proxyTimeoutMs": fleet::PROXY_TIMEOUT_MS, "seed": s.seed,
        "urls": [fleet::METADATA, fleet::THUMBNAIL, fleet::VIDEO],
    });
    let out = json!({ "scenario": scenario, "runs": runs, "outageSweep": sweep, "ablation": ablation });
    std::fs::create_dir_all("test-output").expect("test-output/ can be created");
    std::fs::write("test-output/fleet.json", serde_json::to_string_pretty(&out).expect("JSON"))
        .expect("test-output/fleet.json can be written");
    println!("\nwrote test-output/fleet.json");
}

fn summary(o: &Outcome) -> Value {
    let mut v = to_json("", o, 0.0);
    if let Some(map) = v.as_object_mut() {
        for key in ["model", "runSeconds", "arrivalsPerSecond"] {
            map.remove(key);
        }
    }
    v
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
