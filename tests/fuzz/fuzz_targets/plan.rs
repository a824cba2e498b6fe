//! The host's check of a policy's plan and failover answers: whatever a
//! policy answers, an accepted plan names each candidate at most once, in
//! range, and a passive replica only in the client's cluster.
#![no_main]

use azimuth_policy::plan::{MAX_RETRY_DELAY_MS, validate_next_step, validate_plan};
use azimuth_policy::{CacheState, Candidate, NextStep, Plan, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    // Up to 80 candidates: both sides of the host's 64-candidate bitset.
    let n = (head % 81) as usize;
    let (described, answer) = rest.split_at(rest.len().min(n));
    let candidates: Vec<Candidate> = (0..n)
        .map(|i| {
            let bits = described.get(i).copied().unwrap_or(0);
            Candidate {
                local: bits & 1 != 0,
                cluster: bits >> 4,
                cache: CacheState::None,
                cached_bytes: 0,
                healthy: bits & 2 != 0,
                rtt_us: 0,
            }
        })
        .collect();
    let flags = answer.first().copied().unwrap_or(0);
    let request = Request {
        prefer_cached_replicas: false,
        passive_cache: true,
        ufs_fallback: flags & 1 != 0,
        file_length: None,
        offset: 0,
        length: None,
        attempt: 0,
        seed: 0,
    };
    let indices = answer.get(1..).unwrap_or_default();
    let plan = Plan {
        workers: indices.iter().skip(1).map(|&b| u32::from(b)).collect(),
        then_ufs: flags & 2 != 0,
        passive_cache_to: (flags & 4 != 0)
            .then(|| u32::from(indices.first().copied().unwrap_or(0))),
    };
    if validate_plan(&request, &candidates, &plan).is_ok() {
        let mut seen = vec![false; n];
        for &w in &plan.workers {
            let w = w as usize;
            assert!(w < n && !seen[w], "{plan:?}");
            seen[w] = true;
        }
        assert!(!plan.then_ufs || request.ufs_fallback);
        if let Some(p) = plan.passive_cache_to {
            assert!(candidates[p as usize].local);
        }
    }
    let delay = u32::from_le_bytes([flags, indices.first().copied().unwrap_or(0), 0, 0]) << 8;
    let step = NextStep::RetryAfterMs(delay);
    assert_eq!(
        validate_next_step(&step).is_ok(),
        delay <= MAX_RETRY_DELAY_MS
    );
});
