//! The engine's cost per request decision, natively: `begin` + `finish` of one
//! request (ns, median of several runs, and heap allocations), `begin` refused by
//! an open breaker, and the heap the engine holds after 1 k, 100 k and 1 M
//! requests (a counting global allocator wraps the system's).
//!
//! Run: `cargo run --release --example engine_bench` (or `npm run bench:engine`,
//! which also counts instructions with valgrind when it is installed).
//! `-- decisions N` only makes N healthy decisions, for `valgrind --tool=cachegrind`.

use std::alloc::System;
use std::hint::black_box;
use std::time::Instant;

use player_resilience::engine::classify::Outcome;
use player_resilience::engine::config::Config;
use player_resilience::engine::resilience::{Engine, Next, Report, Start};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static HEAP: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The player's request mix (design.md's URL shapes): metadata, a thumbnail, a video range.
const URLS: [&str; 3] = [
    "/api/v1/play/4242",
    "/api/v1/proxy/plex/photo/:/transcode?width=240&height=135&minSize=1&upscale=1&url=/library/parts/7/indexes/sd/12000&X-Plex-Token=secret",
    "/api/v1/proxy/plex/stream/7?X-Plex-Token=secret",
];
const OK: Report<'static> = Report { outcome: Outcome::Status(200), retry_after: None, wall_clock_ms: 0 };
const RUNS: usize = 7;

fn engine() -> Engine {
    Engine::new(Config { enabled: true, ..Config::default() }, 7, 0)
}

/// Bytes the heap holds now.
fn live() -> i64 {
    let s = HEAP.stats();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

/// `n` healthy decisions for `urls` in turn, one every 100 ms of engine time, from `*now`.
fn decide(engine: &mut Engine, now: &mut u64, n: usize, urls: &[&str]) {
    for i in 0..n {
        *now += 100;
        let url = urls[i % urls.len()];
        if let Start::Send(a) = engine.begin(*now, "GET", black_box(url)) {
            let next = engine.finish(*now + 20, a.id, OK);
            debug_assert_eq!(next, Next::Deliver);
            black_box(next);
        }
        while let Some(e) = engine.poll_event() {
            black_box(e);
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("decisions") {
        let n = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100_000);
        let (mut e, mut now) = (engine(), 0);
        decide(&mut e, &mut now, n, &URLS);
        return;
    }
    const N: usize = 200_000;

    // begin + finish of a healthy request, for the mix and for each URL alone.
    println!("Engine cost per decision (release profile, {RUNS} runs of {N} requests, median (min–max)):\n");
    println!("| decision | ns | heap allocations |");
    println!("|---|---:|---:|");
    let rows: [(&str, &[&str]); 4] = [
        ("begin + finish, healthy: the mix (metadata, thumbnail, video in turn)", &URLS),
        ("… metadata alone (17-byte URL)", &URLS[..1]),
        ("… thumbnail alone (135-byte URL)", &URLS[1..2]),
        ("… video alone (47-byte URL)", &URLS[2..]),
    ];
    for (name, urls) in rows {
        let mut ns = Vec::new();
        let mut allocs = 0.0;
        for _ in 0..RUNS {
            let (mut e, mut now) = (engine(), 0);
            decide(&mut e, &mut now, 10_000, urls); // warm up
            let before = HEAP.stats().allocations;
            let t = Instant::now();
            decide(&mut e, &mut now, N, urls);
            ns.push(t.elapsed().as_nanos() as f64 / N as f64);
            allocs = (HEAP.stats().allocations - before) as f64 / N as f64;
        }
        let (lo, hi) = (ns.iter().copied().fold(f64::MAX, f64::min), ns.iter().copied().fold(0.0, f64::max));
        println!("| {name} | {:.0} ({lo:.0}–{hi:.0}) | {allocs:.1} |", median(ns));
    }

    // begin refused by an open (isolated) breaker: the outage's fast path.
    let mut refused = Vec::new();
    for _ in 0..RUNS {
        let (mut e, mut now) = (engine(), 0);
        e.isolate(0, "plex");
        e.isolate(0, "api");
        while e.poll_event().is_some() {}
        let t = Instant::now();
        for i in 0..N {
            now += 100;
            black_box(e.begin(now, "GET", black_box(URLS[i % URLS.len()])));
        }
        refused.push(t.elapsed().as_nanos() as f64 / N as f64);
    }

    let r = (
        median(refused.clone()),
        refused.iter().copied().fold(f64::MAX, f64::min),
        refused.iter().copied().fold(0.0, f64::max),
    );
    println!("| begin refused by an open breaker | {:.0} ({:.0}–{:.0}) | |", r.0, r.1, r.2);

    // The heap the engine holds as requests go by.
    println!("\nHeap held by one engine (bytes, live allocations after its construction included):\n");
    println!("| requests | heap |");
    println!("|---:|---:|");
    let base = live();
    let (mut e, mut now) = (engine(), 0);
    let built = live() - base;
    println!("| 0 (new) | {built} |");
    let mut done = 0;
    for target in [1_000, 100_000, 1_000_000] {
        decide(&mut e, &mut now, target - done, &URLS);
        done = target;
        println!("| {target} | {} |", live() - base);
    }
    black_box(&e);
}
