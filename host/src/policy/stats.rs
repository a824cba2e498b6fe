//! Counters of what the policy engine did, and their Prometheus rendering.
//!
//! Plain atomics: a decision bumps one counter, so the hot path pays one
//! relaxed increment and nothing else.

use std::sync::atomic::{AtomicU64, Ordering};

use super::engine::FallbackReason;
use crate::prometheus;

/// What the engine has done since it started.
#[derive(Debug, Default)]
pub struct PolicyStats {
    pub(crate) decisions: AtomicU64,
    pub(crate) fallback_deadline: AtomicU64,
    pub(crate) fallback_memory: AtomicU64,
    pub(crate) fallback_trap: AtomicU64,
    pub(crate) fallback_invalid: AtomicU64,
    pub(crate) fallback_quarantined: AtomicU64,
    pub(crate) quarantines: AtomicU64,
    pub(crate) swaps: AtomicU64,
    pub(crate) swaps_refused: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    /// Decisions asked of the engine (ranks and failovers).
    pub decisions: u64,
    /// Decisions that fell back because the policy ran past its deadline.
    pub fallback_deadline: u64,
    /// Decisions that fell back because the policy hit its memory cap.
    pub fallback_memory: u64,
    /// Decisions that fell back because the policy trapped or could not be instantiated.
    pub fallback_trap: u64,
    /// Decisions that fell back because the policy's answer was invalid.
    pub fallback_invalid: u64,
    /// Decisions that went to the default because the active policy is quarantined.
    pub fallback_quarantined: u64,
    /// Times a policy was quarantined.
    pub quarantines: u64,
    /// Policies swapped in.
    pub swaps: u64,
    /// Policies refused at swap time (invalid component).
    pub swaps_refused: u64,
}

impl StatsSnapshot {
    /// Decisions that did not come from the active policy, for any reason.
    pub fn fallbacks(&self) -> u64 {
        self.fallback_deadline
            + self.fallback_memory
            + self.fallback_trap
            + self.fallback_invalid
            + self.fallback_quarantined
    }
}

impl PolicyStats {
    pub(crate) fn count_fallback(&self, reason: &FallbackReason) {
        use super::instance::CallError;
        let counter = match reason {
            FallbackReason::Call(CallError::Deadline(_)) => &self.fallback_deadline,
            FallbackReason::Call(CallError::MemoryCap(_)) => &self.fallback_memory,
            FallbackReason::Call(CallError::Trap(_) | CallError::Instantiate(_)) => {
                &self.fallback_trap
            }
            FallbackReason::Invalid(_) => &self.fallback_invalid,
            FallbackReason::Quarantined => &self.fallback_quarantined,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            decisions: get(&self.decisions),
            fallback_deadline: get(&self.fallback_deadline),
            fallback_memory: get(&self.fallback_memory),
            fallback_trap: get(&self.fallback_trap),
            fallback_invalid: get(&self.fallback_invalid),
            fallback_quarantined: get(&self.fallback_quarantined),
            quarantines: get(&self.quarantines),
            swaps: get(&self.swaps),
            swaps_refused: get(&self.swaps_refused),
        }
    }
}

/// Renders the counters and the active policy in Prometheus text format.
pub fn render_prometheus(s: &StatsSnapshot, active_sha256: &str, quarantined: bool) -> String {
    let mut out = String::new();
    for (name, help, value) in [
        (
            "azimuth_policy_decisions_total",
            "Decisions asked of the policy engine.",
            s.decisions,
        ),
        (
            "azimuth_policy_quarantines_total",
            "Policies quarantined after repeated failures.",
            s.quarantines,
        ),
        (
            "azimuth_policy_swaps_total",
            "Policies swapped in.",
            s.swaps,
        ),
        (
            "azimuth_policy_swaps_refused_total",
            "Policy components refused at swap time.",
            s.swaps_refused,
        ),
    ] {
        prometheus::family(&mut out, name, "counter", help).sample(&[], value);
    }
    let mut fallbacks = prometheus::family(
        &mut out,
        "azimuth_policy_fallbacks_total",
        "counter",
        "Decisions made by the default policy because the active one failed.",
    );
    for (reason, value) in [
        ("deadline", s.fallback_deadline),
        ("memory", s.fallback_memory),
        ("trap", s.fallback_trap),
        ("invalid", s.fallback_invalid),
        ("quarantined", s.fallback_quarantined),
    ] {
        fallbacks.sample(&[("reason", reason)], value);
    }
    let quarantined = quarantined.to_string();
    prometheus::family(
        &mut out,
        "azimuth_policy_active_info",
        "gauge",
        "The active policy (value 1), by sha256.",
    )
    .sample(
        &[("sha256", active_sha256), ("quarantined", &quarantined)],
        1,
    );
    out
}
