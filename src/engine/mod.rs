//! The resilience engine: pure, sans-IO, clock-injected.
//!
//! Nothing here touches the browser, reads a clock or a global RNG: every method
//! takes `now` (monotonic milliseconds) and returns decisions or events, so every
//! policy is tested natively with a manual clock. Nothing here panics on any input
//! (a panic in wasm kills the module for the whole page).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)
)]

pub mod breaker;
pub mod classify;
pub mod config;
pub mod rng;

/// Monotonic milliseconds: an instant (from an arbitrary origin) or a duration.
pub type Millis = u64;
