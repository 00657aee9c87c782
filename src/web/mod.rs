//! The browser layer (wasm32 only): the one place that touches the browser. It
//! drives the engine with real time, fetch, timers, storage and other tabs, and is
//! the package's JS API.
//!
//! A panic in wasm kills the module for the whole page, so, as in the engine,
//! nothing here may unwrap, index or panic; the core's `RefCell` is only ever
//! borrowed with `try_borrow*`.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod api;
mod attempt;
mod browser;
mod convert;
mod errors;
mod fetch;
mod listeners;
mod report;
mod runtime;
mod storage;
mod tabs;
mod toasts;
mod types;
mod video;

pub use api::{create_resilience, validate_config, Resilience, VideoHandle};

/// A much smaller allocator than the default dlmalloc (about 3 KB less gzipped).
/// The module allocates little and briefly (strings, small vectors), so a free
/// list is enough.
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());
