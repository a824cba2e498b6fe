//! A routing policy for sites where cross-zone traffic costs more than the
//! UFS: reads never leave the client's zone.
//!
//! Order: the healthy local workers — those that have fully cached the file
//! first when `prefer-cached-replicas` is on — then the UFS when fallback is
//! allowed. Workers of other clusters are read only when nothing else may
//! serve (no healthy local worker and UFS fallback off), so a dead local
//! zone sends reads to the UFS (in the same region) instead of across zones.
//! It names no passive cache target: the local replica caches the file as
//! it serves it anyway. After a failure the read goes on to the next source.
//!
//! Build: `azimuth policy build policies/zone-local`

pub use azimuth_policy_sdk::{
    CacheState, Candidate, Failure, FailureKind, NextStep, Plan, Request, Source,
};

/// Orders the sources for one read.
pub fn rank(request: &Request, candidates: &[Candidate]) -> Plan {
    let mut workers: Vec<u32> = (0..candidates.len() as u32)
        .filter(|&i| candidates[i as usize].local && candidates[i as usize].healthy)
        .collect();
    if request.prefer_cached_replicas {
        // Stable: within each group the host's (hash-ring) order is kept.
        workers.sort_by_key(|&i| candidates[i as usize].cache != CacheState::Full);
    }
    if workers.is_empty() && !request.ufs_fallback {
        // Crossing zones beats failing the read.
        workers = (0..candidates.len() as u32)
            .filter(|&i| candidates[i as usize].healthy)
            .collect();
    }
    Plan {
        workers,
        then_ufs: request.ufs_fallback,
        passive_cache_to: None,
    }
}

/// After any failure, go on to the next source of the plan.
pub fn failover(_request: &Request, _candidates: &[Candidate], _failure: &Failure) -> NextStep {
    NextStep::NextSource
}

azimuth_policy_sdk::policy!(rank: rank, failover: failover);

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(local: bool, cache: CacheState) -> Candidate {
        Candidate {
            cached_bytes: 0,
            rtt_us: 0,
            cluster: u8::from(!local),
            cache,
            local,
            healthy: true,
        }
    }

    fn request(prefer_cached_replicas: bool) -> Request {
        Request {
            prefer_cached_replicas,
            passive_cache: true,
            ufs_fallback: true,
            file_length: None,
            offset: 0,
            length: None,
            attempt: 0,
            seed: 0,
        }
    }

    #[test]
    fn only_local_workers_then_the_ufs_cached_first_when_asked() {
        let candidates = [
            candidate(true, CacheState::None),
            candidate(false, CacheState::Full),
            candidate(true, CacheState::Full),
        ];
        let plan = rank(&request(true), &candidates);
        assert_eq!(plan.workers, [2, 0]);
        assert!(plan.then_ufs);
        assert_eq!(plan.passive_cache_to, None);
        assert_eq!(rank(&request(false), &candidates).workers, [0, 2]);
        let mut dead = candidates;
        dead[0].healthy = false;
        dead[2].healthy = false;
        assert!(rank(&request(true), &dead).workers.is_empty());
        let mut strict = request(true);
        strict.ufs_fallback = false;
        assert_eq!(
            rank(&strict, &dead).workers,
            [1],
            "remote rather than nothing"
        );
    }
}
