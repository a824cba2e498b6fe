//! Policies that break the contract in each way a host must survive. Each
//! cargo feature selects one fault; the host's tests build them with
//! `azimuth policy build policies/misbehaving --features <fault>`. A policy
//! that imports something is `policies/test-imports`.

use azimuth_policy_sdk::{Candidate, Failure, NextStep, Plan, Request};

/// Does this crate's fault, or returns when the selected fault is in the answer.
fn misbehave() {
    if cfg!(feature = "endless-loop") {
        let mut spins = 0u64;
        loop {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
    }
    if cfg!(feature = "memory-hog") {
        let mut hoard = Vec::new();
        loop {
            hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
        }
    }
    if cfg!(feature = "trap") {
        panic!("a policy bug");
    }
}

/// Ranks with the selected fault.
pub fn rank(request: &Request, candidates: &[Candidate]) -> Plan {
    misbehave();
    let n = candidates.len() as u32;
    let workers = if cfg!(feature = "out-of-range") {
        vec![n + 5]
    } else if cfg!(feature = "duplicate") {
        vec![0, 0]
    } else {
        (0..n).collect()
    };
    Plan {
        workers,
        then_ufs: request.ufs_fallback,
        passive_cache_to: None,
    }
}

/// Answers a failure with the selected fault.
pub fn failover(_request: &Request, _candidates: &[Candidate], _failure: &Failure) -> NextStep {
    misbehave();
    if cfg!(any(feature = "out-of-range", feature = "duplicate")) {
        NextStep::RetryAfterMs(u32::MAX)
    } else if cfg!(feature = "always-retry") {
        // Valid every time, and never lets go of the source.
        NextStep::RetryAfterMs(20)
    } else {
        NextStep::NextSource
    }
}

#[cfg(not(feature = "raw-abi"))]
azimuth_policy_sdk::policy!(rank: rank, failover: failover);

#[cfg(all(target_arch = "wasm32", feature = "raw-abi"))]
mod raw;
