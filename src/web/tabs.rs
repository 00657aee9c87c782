//! Sharing with the page's other tabs: breaker changes over a BroadcastChannel,
//! and an election so only one tab probes a failing server.

use gloo_events::EventListener;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{AbortController, BroadcastChannel, MessageEvent, Storage};

/// A prober lease lasts this long; the holder renews it every [`LEASE_RENEW_MS`].
const LEASE_MS: u64 = 15_000;
/// How often the lease holder renews it and the others look for a free one.
pub const LEASE_RENEW_MS: u64 = 5_000;

/// A channel to the other tabs of this origin using the same key.
pub struct Channel {
    channel: BroadcastChannel,
    _on_message: EventListener,
}

impl Channel {
    /// Joins the channel `name`; `None` where BroadcastChannel is missing.
    pub fn join(name: &str, mut on_message: impl FnMut(JsValue) + 'static) -> Option<Self> {
        let channel = BroadcastChannel::new(name).ok()?;
        let on_message = EventListener::new(&channel, "message", move |event| {
            if let Some(event) = event.dyn_ref::<MessageEvent>() {
                on_message(event.data());
            }
        });
        Some(Self { channel, _on_message: on_message })
    }

    /// Sends `message` to the other tabs (structured clone).
    pub fn post(&self, message: &JsValue) {
        let _ = self.channel.post_message(message);
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.close();
    }
}

/// How this tab learns whether it is the one that probes.
pub enum Election {
    /// Holds (or queues for) a Web Lock: the holder probes until it releases it.
    Lock {
        /// Cancels the queued request if the lock was never granted.
        cancel: AbortController,
        /// Resolving it releases a granted lock.
        release: Function,
    },
    /// No Web Locks: a lease in localStorage, renewed by its holder.
    Lease(Lease),
}

impl Election {
    /// Queues for the Web Lock `name`, calling `on_elected` once it is granted.
    /// Falls back to a localStorage lease where Web Locks are missing; `None` when
    /// neither exists (this tab then probes on its own).
    pub fn join(name: &str, tab: u64, on_elected: impl FnOnce() + 'static) -> Option<Self> {
        match request_lock(name, on_elected) {
            Some(election) => Some(election),
            None => Lease::open(name, tab).map(Election::Lease),
        }
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        match self {
            Election::Lock { cancel, release } => {
                cancel.abort();
                let _ = release.call0(&JsValue::UNDEFINED);
            }
            Election::Lease(lease) => lease.give_up(),
        }
    }
}

/// `navigator.locks.request(name, { signal }, callback)`, where the callback
/// holds the lock until `release` is called.
fn request_lock(name: &str, on_elected: impl FnOnce() + 'static) -> Option<Election> {
    let navigator = web_sys::window()?.navigator();
    let locks = Reflect::get(&navigator, &"locks".into()).ok().filter(JsValue::is_object)?;
    let request = Reflect::get(&locks, &"request".into()).ok()?.dyn_into::<Function>().ok()?;
    let cancel = AbortController::new().ok()?;
    let mut release = None;
    let held = Promise::new(&mut |resolve, _reject| release = Some(resolve));
    let release = release?;
    let granted = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        on_elected();
        held.into()
    });
    let options = Object::new();
    let _ = Reflect::set(&options, &"signal".into(), &cancel.signal());
    let pending = request.call3(&locks, &name.into(), &options, &granted).ok()?;
    // Cancelling a queued request rejects it; that is expected, not an error.
    if let Ok(pending) = pending.dyn_into::<Promise>() {
        super::browser::quietly(pending);
    }
    Some(Election::Lock { cancel, release })
}

/// A prober lease in localStorage: `"<tab> <expires at, Unix ms>"`.
pub struct Lease {
    storage: Storage,
    key: String,
    tab: String,
}

impl Lease {
    fn open(name: &str, tab: u64) -> Option<Self> {
        let storage = web_sys::window()?.local_storage().ok()??;
        Some(Self { storage, key: name.to_owned(), tab: tab.to_string() })
    }

    /// Takes or renews the lease if it is free, expired or ours; whether we hold it.
    pub fn claim(&self, wall_clock_ms: u64) -> bool {
        let current = self.storage.get_item(&self.key).ok().flatten().unwrap_or_default();
        let mut parts = current.split(' ');
        let holder = parts.next().unwrap_or_default();
        let expires = parts.next().and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
        if holder != self.tab && expires > wall_clock_ms {
            return false;
        }
        let lease = format!("{} {}", self.tab, wall_clock_ms.saturating_add(LEASE_MS));
        self.storage.set_item(&self.key, &lease).is_ok()
    }

    /// Frees the lease if we hold it, so another tab takes over at once.
    fn give_up(&self) {
        let current = self.storage.get_item(&self.key).ok().flatten().unwrap_or_default();
        if current.split(' ').next() == Some(self.tab.as_str()) {
            let _ = self.storage.remove_item(&self.key);
        }
    }
}
