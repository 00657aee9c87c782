//! A fleet of simulated players, each its own [`Sim`] (its own policy, clock
//! position and seed), against one shared server that is healthy, then down,
//! then back with a capacity limit. Players advance in one global time order, so
//! the server sees their requests as they would arrive. Measures the load at the
//! server and how long each player takes to be back.
//!
//! The server: before `down` it answers everything in 20 ms. During the outage a
//! request hangs until the proxy's 504 at 60 s (clients with shorter timeouts give
//! up first). From `up` it answers in 20 ms, but only the first `capacity`
//! requests of each wall second (probes included); the rest get a 503 at once.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

use player_resilience::engine::breaker::BreakerState;
use player_resilience::engine::resilience::Event;
use player_resilience::engine::rng::Rng;
use player_resilience::engine::Millis;

use super::policy::Policy;
use super::{Ended, Reply, Sim, FAST_MS};

/// A metadata request (service `api`, which has no probe URL).
pub const METADATA: &str = "/api/v1/play/4242";
/// A seek thumbnail (service `plex`).
pub const THUMBNAIL: &str =
    "/api/v1/proxy/plex/photo/:/transcode?width=240&height=135&minSize=1&upscale=1&url=/library/parts/7/indexes/sd/12000";
/// A video range request (service `plex`, class video).
pub const VIDEO: &str = "/api/v1/proxy/plex/stream/7";
/// Requests per second of one healthy player: metadata and a thumbnail every
/// 2 s, a video range every 4 s.
pub const PLAYER_RPS: f64 = 1.25;
/// The proxy answers a hung request with a 504 after this long.
pub const PROXY_TIMEOUT_MS: Millis = 60_000;

/// The two services of the default config, by the URLs the player asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `/api/v1/proxy/plex/…`: thumbnails and video; probes `/identity`.
    Plex = 0,
    /// Other `/api/v1/…`: metadata; no probe URL.
    Api = 1,
}

impl Group {
    fn of(url: &str) -> Self {
        if url.contains("/proxy/plex/") {
            Group::Plex
        } else {
            Group::Api
        }
    }
}

/// What one fleet run does.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub players: usize,
    /// The server goes down at this time...
    pub down_ms: Millis,
    /// ...and comes back at this time...
    pub up_ms: Millis,
    /// ...and the run ends at this time.
    pub end_ms: Millis,
    /// Capacity after `up`, as a multiple of the fleet's healthy rate.
    pub capacity_factor: f64,
    pub seed: u64,
}

impl Scenario {
    /// Down at 60 s for 2 minutes, 5 minutes after, capacity 1.5 × normal.
    pub fn standard(players: usize) -> Self {
        Self { players, down_ms: 60_000, up_ms: 180_000, end_ms: 480_000, capacity_factor: 1.5, seed: 20260216 }
    }

    /// The fleet's healthy request rate.
    pub fn normal_rps(&self) -> f64 {
        self.players as f64 * PLAYER_RPS
    }

    /// Requests served per second after `up` (at least 1).
    pub fn capacity(&self) -> u32 {
        (self.capacity_factor * self.normal_rps()).ceil().max(1.0) as u32
    }
}

/// Mean and peak of requests per second over a span.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    pub mean: f64,
    pub peak: u32,
}

/// What a fleet run measured. Times are seconds after the server came back;
/// `None`: not reached by the end of the run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub players: usize,
    pub normal_rps: f64,
    pub capacity: u32,
    /// Before the outage (from 10 s, once every player has started).
    pub healthy: Rate,
    pub outage: Rate,
    /// The outage's last minute (breakers open, if the policy has them).
    pub open: Rate,
    /// The first minute after `up`.
    pub after: Rate,
    /// Peak in the first 10 s after `up`.
    pub after_10s_peak: u32,
    /// 503s for capacity in the first minute after `up`.
    pub rejected_after: u64,
    /// From when on every second's calls succeed at ≥ 95 %.
    pub calls_95: Option<f64>,
    /// Per player, when its last failed call ended (0 if none after `up`):
    /// median, 95th percentile and maximum, per service group.
    pub back: [[Option<f64>; 3]; 2],
    /// When the last breaker of the fleet closed for good, per group (`None`
    /// also when the policy has no breakers).
    pub breakers_closed: [Option<f64>; 2],
    /// Arrivals at the server, per second of the run.
    pub arrivals: Vec<u32>,
}

struct Server {
    scenario: Scenario,
    arrivals: Vec<u32>,
    rejected: Vec<u32>,
}

impl Server {
    fn reply(&mut self, now: Millis) -> Reply {
        let second = (now / 1_000) as usize;
        if let Some(a) = self.arrivals.get_mut(second) {
            *a += 1;
        }
        let s = &self.scenario;
        if (s.down_ms..s.up_ms).contains(&now) {
            return Reply::Status(504, PROXY_TIMEOUT_MS);
        }
        let served = self.arrivals.get(second).copied().unwrap_or(0) - self.rejected.get(second).copied().unwrap_or(0);
        if now >= s.up_ms && served > s.capacity() {
            if let Some(r) = self.rejected.get_mut(second) {
                *r += 1;
            }
            return Reply::Status(503, FAST_MS);
        }
        Reply::Status(200, FAST_MS)
    }
}

/// Per-player bookkeeping of what the run measures.
#[derive(Default, Clone, Copy)]
struct Player {
    last_failure: [Option<Millis>; 2],
    /// When each group's breaker last closed, and whether it is closed now.
    closed_at: [Option<Millis>; 2],
    open: [bool; 2],
}

/// Runs `scenario` with one player per policy that `policy(i, seed)` makes.
pub fn run<P: Policy>(scenario: Scenario, mut policy: impl FnMut(usize, u64) -> P) -> Outcome {
    let seconds = (scenario.end_ms / 1_000) as usize + 1;
    let server = Rc::new(RefCell::new(Server { scenario, arrivals: vec![0; seconds], rejected: vec![0; seconds] }));
    let mut calls = vec![(0u32, 0u32); seconds];
    let mut offsets = Rng::new(scenario.seed);
    let mut sims: Vec<Sim<P>> = (0..scenario.players)
        .map(|i| {
            let seed = scenario.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let server = Rc::clone(&server);
            let mut sim = Sim::with_policy(policy(i, seed), move |t, _url| server.borrow_mut().reply(t));
            let end = scenario.end_ms;
            sim.log_hits = false;
            sim.repeat(offsets.between(0, 1_999), end, 2_000, METADATA);
            sim.repeat(offsets.between(0, 1_999), end, 2_000, THUMBNAIL);
            sim.repeat(offsets.between(0, 3_999), end, 4_000, VIDEO);
            sim
        })
        .collect();
    let mut players = vec![Player::default(); scenario.players];

    let mut due: BinaryHeap<Reverse<(Millis, usize)>> =
        sims.iter().enumerate().filter_map(|(i, s)| s.next_time().map(|t| Reverse((t, i)))).collect();
    while let Some(Reverse((t, i))) = due.pop() {
        if t > scenario.end_ms {
            break;
        }
        let sim = &mut sims[i];
        sim.run_until(t);
        let player = &mut players[i];
        for (at, url, ended) in sim.ended.drain(..) {
            let ok = matches!(ended, Ended::Delivered(200..=299));
            let second = (at / 1_000) as usize;
            if let Some(c) = calls.get_mut(second) {
                c.0 += 1;
                c.1 += u32::from(ok);
            }
            if !ok && at >= scenario.up_ms {
                player.last_failure[Group::of(&url) as usize] = Some(at);
            }
        }
        for (at, event) in sim.events.drain(..) {
            if let Event::State { service, to, .. } = event {
                let g = if service == "plex" { Group::Plex } else { Group::Api } as usize;
                player.open[g] = to != BreakerState::Closed;
                if to == BreakerState::Closed {
                    player.closed_at[g] = Some(at);
                }
            }
        }
        if let Some(next) = sim.next_time() {
            due.push(Reverse((next, i)));
        }
    }

    let server = server.borrow();
    let rate = |from: Millis, to: Millis| {
        let span = &server.arrivals[(from / 1_000) as usize..(to / 1_000) as usize];
        Rate {
            mean: span.iter().map(|&a| f64::from(a)).sum::<f64>() / span.len().max(1) as f64,
            peak: span.iter().copied().max().unwrap_or(0),
        }
    };
    let up = scenario.up_ms;
    let after_s = |t: Millis| t.saturating_sub(up) as f64 / 1_000.0;
    let up_s = (up / 1_000) as usize;
    let calls_95 = (up_s..seconds)
        .rev()
        .find(|&s| calls[s].0 > 0 && f64::from(calls[s].1) < 0.95 * f64::from(calls[s].0))
        .map_or(Some(0.0), |s| (s + 1 < seconds - 60).then(|| (s + 1 - up_s) as f64));
    let tail = scenario.end_ms.saturating_sub(60_000);
    let mut back = [[None; 3]; 2];
    let mut breakers_closed = [None; 2];
    for g in 0..2 {
        let mut times: Vec<Option<Millis>> = players
            .iter()
            .map(|p| match p.last_failure[g] {
                Some(t) if t >= tail => None,
                t => Some(t.unwrap_or(up).max(up)),
            })
            .collect();
        times.sort_by_key(|t| t.unwrap_or(Millis::MAX));
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].map(after_s);
        back[g] = [at(0.5), at(0.95), at(1.0)];
        let ever = players.iter().any(|p| p.closed_at[g].is_some());
        if ever && players.iter().all(|p| !p.open[g]) {
            breakers_closed[g] = players.iter().filter_map(|p| p.closed_at[g]).max().map(after_s);
        }
    }
    Outcome {
        players: scenario.players,
        normal_rps: scenario.normal_rps(),
        capacity: scenario.capacity(),
        healthy: rate(10_000, scenario.down_ms),
        outage: rate(scenario.down_ms, up),
        open: rate(up.saturating_sub(60_000).max(scenario.down_ms), up),
        after: rate(up, up + 60_000),
        after_10s_peak: rate(up, up + 10_000).peak,
        rejected_after: server.rejected[up_s..up_s + 60].iter().map(|&r| u64::from(r)).sum(),
        calls_95,
        back,
        breakers_closed,
        arrivals: server.arrivals.clone(),
    }
}
