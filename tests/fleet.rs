//! A fleet of 100 players with the default config through a 2-minute outage
//! (tests/sim/fleet.rs): the server is spared while it is down, gets no
//! thundering herd when it comes back, and every player is back soon after.
//! `cargo run --release --example fleet` measures 1 to 10 000 players and the
//! other clients; the bounds here are those measurements with a margin.

mod sim;

use player_resilience::engine::resilience::Engine;
use sim::fleet::{self, Group, Scenario};
use sim::naive::Naive;
use sim::Sim;

#[test]
fn a_hundred_players_spare_the_server_and_come_back_without_a_herd() {
    // Given 100 players with the default config (125 requests per second in
    // all), a server down from t = 60 s to t = 180 s, then serving 1.5× that.
    let scenario = Scenario { end_ms: 180_000 + 120_000, ..Scenario::standard(100) };
    let normal = scenario.normal_rps();
    let o = fleet::run(scenario, |_, seed| Engine::new(Sim::config(), seed, 0));

    // While it is down and the breakers are open, the server gets probes and the
    // api breaker's half-open trials only (measured: 8.3 rps, 7 % of the normal rate).
    assert!(o.open.mean <= 0.2 * normal, "last outage minute: {:.1} rps of {normal}", o.open.mean);

    // When it comes back, no herd: the breakers close one player at a time
    // (probes jittered over 15-18 s), so the first 10 s stay under the normal
    // rate plus a margin (measured: 113 rps, 0.9×), and nothing is refused.
    let peak = f64::from(o.after_10s_peak);
    assert!(peak <= 1.2 * normal, "peak {peak} rps in the first 10 s after, normal {normal}");
    assert_eq!(o.rejected_after, 0, "the server refused requests in its first minute back");

    // Every player is back within 25 s: its next probe is due at most 18 s after
    // the server returns (15 s spacing + a fifth of jitter), the half-open
    // trials take one round trip (measured: all back in 15 s).
    let plex_all = o.back[Group::Plex as usize][2].expect("every player's plex calls succeed again");
    assert!(plex_all <= 25.0, "the last player's plex calls were back {plex_all} s after the server");
    let api_all = o.back[Group::Api as usize][2].expect("every player's api calls succeed again");
    assert!(api_all <= 25.0, "the last player's api calls were back {api_all} s after the server");
}

#[test]
fn the_incidents_naive_retries_make_the_herd_these_bounds_catch() {
    // Given the same outage for 20 players retrying 429/5xx 20 times at a flat
    // 500 ms without a breaker: the server's refusals are retried at once, and
    // the first 10 s after it comes back see many times the normal rate
    // (measured: 650 rps, 26×), far past the bound above.
    let scenario = Scenario { end_ms: 180_000 + 120_000, ..Scenario::standard(20) };
    let normal = scenario.normal_rps();
    let o = fleet::run(scenario, |_, _| Naive::new());
    let peak = f64::from(o.after_10s_peak);
    assert!(peak >= 10.0 * normal, "peak {peak} rps in the first 10 s after, normal {normal}");
    assert!(o.open.mean >= normal, "no breaker: the dead server gets at least the normal rate");
}
