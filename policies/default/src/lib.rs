//! Azimuth's default routing policy: the source order its users already know.
//!
//! With `prefer-cached-replicas`: local workers that have fully cached the file,
//! then remote workers that have, then the other local workers, then the other
//! remote workers, then the UFS. Without it: local workers, remote workers, the
//! UFS. The UFS comes last and only when fallback is allowed; unhealthy workers
//! are left out; within a tier the host's (hash-ring) order is kept. After a
//! failure the read goes on to the next source.
//!
//! The same source builds to the Wasm component the host embeds and, natively,
//! to the library the host's differential test and benchmark compare it with.

pub use azimuth_policy_sdk::{
    CacheState, Candidate, Failure, FailureKind, NextStep, Plan, Request, Source,
};

/// Tiers in the order they are tried; `None` leaves the candidate out.
fn tier(request: &Request, candidate: &Candidate) -> Option<usize> {
    if !candidate.healthy {
        return None;
    }
    let remote = usize::from(!candidate.local);
    if !request.prefer_cached_replicas {
        return Some(remote);
    }
    let uncached = usize::from(candidate.cache != CacheState::Full);
    Some(uncached * 2 + remote)
}

/// Orders the sources for one read (see the crate docs for the rules).
pub fn rank(request: &Request, candidates: &[Candidate]) -> Plan {
    // A counting sort over at most four tiers: stable, one allocation, and
    // linear in the number of candidates.
    let mut counts = [0usize; 4];
    for candidate in candidates {
        if let Some(t) = tier(request, candidate) {
            counts[t] += 1;
        }
    }
    let mut starts = [0usize; 4];
    for t in 1..4 {
        starts[t] = starts[t - 1] + counts[t - 1];
    }
    let total = starts[3] + counts[3];
    let mut workers = vec![0u32; total];
    for (index, candidate) in candidates.iter().enumerate() {
        if let Some(t) = tier(request, candidate) {
            workers[starts[t]] = index as u32;
            starts[t] += 1;
        }
    }
    let passive_cache_to = match workers.first() {
        Some(&first) if request.passive_cache && !candidates[first as usize].local => candidates
            .iter()
            .position(|c| c.local && c.healthy)
            .map(|i| i as u32),
        _ => None,
    };
    Plan {
        workers,
        then_ufs: request.ufs_fallback,
        passive_cache_to,
    }
}

/// After any failure, go on to the next source of the plan.
pub fn failover(_request: &Request, _candidates: &[Candidate], _failure: &Failure) -> NextStep {
    NextStep::NextSource
}

azimuth_policy_sdk::policy!(rank: rank, failover: failover);
