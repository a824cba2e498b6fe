//! Counters of what the policy engine did, as numbers.
//!
//! Plain atomics: a decision bumps one counter, so the hot path pays one
//! relaxed increment and nothing else. The engine hands them out as an
//! [`EngineStats`]; rendering them (Prometheus text, a metrics registry of
//! the embedder's) is done outside this crate.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::FallbackReason;
use crate::instance::CallError;

/// The engine's live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
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

/// What the engine has done since it started, read at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Decisions asked of the engine (ranks and failovers).
    pub decisions: u64,
    /// Decisions that fell back because the policy ran past its deadline
    /// (or its deadline could not be measured: the CPU clock failed).
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
    /// Policies refused at swap time (invalid, or not what was published).
    pub swaps_refused: u64,
}

impl EngineStats {
    /// Decisions that did not come from the active policy, for any reason.
    pub fn fallbacks(&self) -> u64 {
        self.fallback_deadline
            + self.fallback_memory
            + self.fallback_trap
            + self.fallback_invalid
            + self.fallback_quarantined
    }

    /// The fallback counters with the reason each counts, as metrics label them.
    pub fn fallbacks_by_reason(&self) -> [(&'static str, u64); 5] {
        [
            ("deadline", self.fallback_deadline),
            ("memory", self.fallback_memory),
            ("trap", self.fallback_trap),
            ("invalid", self.fallback_invalid),
            ("quarantined", self.fallback_quarantined),
        ]
    }
}

impl Counters {
    pub(crate) fn count_fallback(&self, reason: &FallbackReason) {
        let counter = match reason {
            FallbackReason::Call(CallError::Deadline(_) | CallError::CpuClock(_)) => {
                &self.fallback_deadline
            }
            FallbackReason::Call(CallError::MemoryCap(_)) => &self.fallback_memory,
            FallbackReason::Call(CallError::Trap(_) | CallError::Instantiate(_)) => {
                &self.fallback_trap
            }
            FallbackReason::Call(CallError::InvalidAnswer(_)) | FallbackReason::Invalid(_) => {
                &self.fallback_invalid
            }
            FallbackReason::Quarantined => &self.fallback_quarantined,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub(crate) fn snapshot(&self) -> EngineStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EngineStats {
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
