//! Circuit breaker (to be written).

use serde::{Deserialize, Serialize};

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BreakerState {
    /// Calls flow; failures are counted.
    Closed,
    /// Calls fail fast; only probes reach the server.
    Open,
    /// A limited number of trial calls test the server.
    HalfOpen,
    /// Forced open by the operator until reset.
    Isolated,
}

impl BreakerState {
    /// Every state, in a fixed order (for metrics tables).
    pub const ALL: [BreakerState; 4] =
        [BreakerState::Closed, BreakerState::Open, BreakerState::HalfOpen, BreakerState::Isolated];

    /// The camelCase name used in JSON and events.
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "halfOpen",
            BreakerState::Isolated => "isolated",
        }
    }
}
