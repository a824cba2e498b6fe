//! A routing policy for latency-sensitive readers: the fastest replica that
//! holds the whole file wins, whatever its zone.
//!
//! Order: healthy workers that have fully cached the file, fastest observed
//! round trip first (in any cluster); then the other healthy local workers,
//! fastest first; then the other healthy remote workers, fastest first; then
//! the UFS when fallback is allowed. A worker with no observed latency (0)
//! sorts after every measured one; ties keep the host's order. It prefers
//! cached replicas whatever `prefer-cached-replicas` says: that is its point.
//!
//! Passive cache: as the default, the first healthy local worker when the
//! first source is remote. Failover: a transient I/O error is retried once
//! after 20 ms; a file the UFS does not have is given up on (no worker will
//! have it either); anything else goes on to the next source.
//!
//! Build: `azimuth policy build policies/lowest-latency`

pub use azimuth_policy_sdk::{
    CacheState, Candidate, Failure, FailureKind, NextStep, Plan, Request, Source,
};

/// Sort key: tier first, then latency with "not observed" last.
fn key(candidate: &Candidate) -> (u8, u32) {
    let tier = if candidate.cache == CacheState::Full {
        0
    } else if candidate.local {
        1
    } else {
        2
    };
    let rtt = if candidate.rtt_us == 0 {
        u32::MAX
    } else {
        candidate.rtt_us
    };
    (tier, rtt)
}

/// Orders the sources for one read.
pub fn rank(request: &Request, candidates: &[Candidate]) -> Plan {
    let mut workers: Vec<u32> = (0..candidates.len() as u32)
        .filter(|&i| candidates[i as usize].healthy)
        .collect();
    // Stable: equal keys keep the host's (hash-ring) order.
    workers.sort_by_key(|&i| key(&candidates[i as usize]));
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

/// Decides what to do after a failure.
pub fn failover(_request: &Request, _candidates: &[Candidate], failure: &Failure) -> NextStep {
    match (failure.kind, failure.source) {
        (FailureKind::IoError, _) if failure.retries == 0 => NextStep::RetryAfterMs(20),
        (FailureKind::NotFound, Source::Ufs) => NextStep::GiveUp,
        _ => NextStep::NextSource,
    }
}

azimuth_policy_sdk::policy!(rank: rank, failover: failover);
