//! The 2026-02-16 incident replayed through the engine on a manual clock: the
//! server hangs at t = 60 s and comes back at t = 180 s while a player asks for a
//! thumbnail every 2 s and a video range every 10 s. Prints what the engine
//! decided and when, and how much traffic reached the hung server.
//!
//! Run: `cargo run --example incident` (or `npm start`).

#[path = "../tests/sim/mod.rs"]
mod sim;

use player_resilience::engine::resilience::Event;
use sim::{Reply, Sim, FAST_MS};

const THUMB: &str =
    "/api/v1/proxy/plex/photo/:/transcode?width=240&height=135&url=/library/parts/7/indexes/sd/0&X-Plex-Token=secret";
const VIDEO: &str = "/api/v1/proxy/plex/stream/7?X-Plex-Token=secret";

fn main() {
    let (hang, back, end) = (60_000, 180_000, 300_000);
    let mut sim = Sim::new(Sim::config(), 20260216, move |t, url| {
        if (hang..back).contains(&t) && url.contains("/proxy/plex/") {
            Reply::Status(504, 60_000) // the proxy's own 60 s timeout, then 504
        } else {
            Reply::Status(200, FAST_MS)
        }
    });
    sim.every(0, end, 2_000, THUMB);
    sim.every(0, end, 10_000, VIDEO);
    sim.run_until(end);

    println!("The 2026-02-16 incident through player-resilience (default config)");
    println!("server hangs at t = {} s, back at t = {} s\n", hang / 1000, back / 1000);
    for (t, event) in &sim.events {
        let line = match event {
            Event::Notice(n) => format!("notice   {:<12} \"{}\"", n.key, n.text),
            Event::State { service, from, to, .. } => {
                format!("breaker  {service}: {} → {}", from.as_str(), to.as_str())
            }
            Event::Retry { attempt, delay_ms, .. } => format!("retry    attempt {attempt} in {delay_ms} ms"),
            Event::Probe { healthy, .. } => format!("probe    {}", if *healthy { "healthy" } else { "failed" }),
        };
        println!("t = {:>7.3} s  {line}", *t as f64 / 1000.0);
    }
    let made = sim.ended.len();
    println!("\nrequests the player made:            {made}");
    println!("requests that reached the hung server: {}", sim.requests_between(hang, back));
    println!("health probes while it was down:       {}", sim.probes_between(hang, back));
}
