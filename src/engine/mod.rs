//! The resilience engine: pure, sans-IO, clock-injected.
//!
//! Nothing here touches the browser, reads a clock or a global RNG: every method
//! takes `now` (monotonic milliseconds) and returns decisions or events, so every
//! policy is tested natively with a manual clock. Nothing here panics on any input
//! (a panic in wasm kills the module for the whole page).
//!
//! | part | file |
//! |---|---|
//! | typed config, defaults, validation | [`config`] |
//! | the JSON-like value tree callers pass in and get back | [`value`] |
//! | strict typed reading of a value, with path-naming errors | `reader` |
//! | URL → service and class; outcome → verdict | [`classify`] |
//! | per-service circuit breaker and its rolling window | [`breaker`], [`window`] |
//! | backoff delays, retry decisions, retry budget, `Retry-After` | [`backoff`], [`retry`], [`budget`], [`retry_after`] |
//! | health probes while open | [`probe`] |
//! | user notices | [`notify`] |
//! | the playback session (stall, fallback, resume) | [`playback`] |
//! | which thumbnail to prefetch next, which to drop | [`prefetch`] |
//! | counters, latency histogram, time in state | [`metrics`] |
//! | reports to the backend, rate-limited | [`report`] |
//! | secret redaction | [`redact`] |
//! | seeded jitter | [`rng`] |
//! | the engine that drives them all | [`resilience`] |
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod classify;
pub mod config;
pub mod metrics;
pub mod notify;
pub mod playback;
pub mod prefetch;
pub mod probe;
mod reader;
pub mod redact;
pub mod report;
pub mod resilience;
pub mod retry;
pub mod retry_after;
pub mod rng;
pub mod value;
pub mod window;

/// Monotonic milliseconds: an instant (from an arbitrary origin) or a duration.
pub type Millis = u64;
