//! player-resilience: keeps a web video player's session going when its media
//! server fails.
//!
//! - [`engine`] is the whole policy (breakers, retries, probes, notices, playback),
//!   pure and clock-injected: every method takes `now` and returns decisions.
//! - `web` (wasm32 only) is the thin browser layer that drives the engine.
#![forbid(unsafe_code)]

pub mod engine;

#[cfg(target_arch = "wasm32")]
pub mod web;
