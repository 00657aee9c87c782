//! The page's event listeners, by event name.

use js_sys::Function;

/// The events a page can listen to, as passed to `on(name, listener)`.
pub const EVENT_NAMES: [&str; 6] = ["notice", "state", "retry", "probe", "metrics", "fallback"];

/// Listeners registered with `on`, each with an id for its unsubscribe function.
#[derive(Default)]
pub struct Listeners {
    next_id: u32,
    entries: Vec<(u32, &'static str, Function)>,
}

impl Listeners {
    /// Adds a listener; `None` for an unknown event name.
    pub fn add(&mut self, name: &str, listener: Function) -> Option<u32> {
        let name = EVENT_NAMES.into_iter().find(|n| *n == name)?;
        self.next_id = self.next_id.wrapping_add(1);
        self.entries.push((self.next_id, name, listener));
        Some(self.next_id)
    }

    /// Removes the listener with this id, if still there.
    pub fn remove(&mut self, id: u32) {
        self.entries.retain(|(i, _, _)| *i != id);
    }

    /// Whether anyone listens to `name`.
    pub fn any(&self, name: &str) -> bool {
        self.entries.iter().any(|(_, n, _)| *n == name)
    }

    /// The listeners of `name`, copied so they can be called without a borrow held.
    pub fn of(&self, name: &str) -> Vec<Function> {
        self.entries.iter().filter(|(_, n, _)| *n == name).map(|(_, _, f)| f.clone()).collect()
    }

    /// Drops every listener.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
