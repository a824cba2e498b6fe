//! The host's contract types converted to the native build of the default
//! policy's (the same WIT, bound by wit-bindgen instead of wasmtime). Shared
//! by the differential test and the decision benchmark.

use azimuth_policy::{CacheState, Candidate, Failure, FailureKind, NextStep, Request, Source};
use azimuth_policy_default as native;

/// Every failure kind, for tests that draw one at random.
#[allow(dead_code)] // the decision bench shares this file and does not use it
pub const FAILURE_KINDS: [FailureKind; 5] = [
    FailureKind::Refused,
    FailureKind::Timeout,
    FailureKind::IoError,
    FailureKind::Corrupt,
    FailureKind::NotFound,
];

/// Every cache state, for tests that draw one at random.
#[allow(dead_code)] // the decision bench shares this file and does not use it
pub const CACHE_STATES: [CacheState; 4] = [
    CacheState::Unknown,
    CacheState::None,
    CacheState::Partial,
    CacheState::Full,
];

/// The same request and candidates, as the native policy takes them.
pub fn to_native(
    request: &Request,
    candidates: &[Candidate],
) -> (native::Request, Vec<native::Candidate>) {
    let r = native::Request {
        prefer_cached_replicas: request.prefer_cached_replicas,
        passive_cache: request.passive_cache,
        ufs_fallback: request.ufs_fallback,
        file_length: request.file_length,
        offset: request.offset,
        length: request.length,
        attempt: request.attempt,
        seed: request.seed,
    };
    let c = candidates
        .iter()
        .map(|c| native::Candidate {
            local: c.local,
            cluster: c.cluster,
            cache: match c.cache {
                CacheState::Unknown => native::CacheState::Unknown,
                CacheState::None => native::CacheState::None,
                CacheState::Partial => native::CacheState::Partial,
                CacheState::Full => native::CacheState::Full,
            },
            cached_bytes: c.cached_bytes,
            healthy: c.healthy,
            rtt_us: c.rtt_us,
        })
        .collect();
    (r, c)
}

/// The same failure, as the native policy takes it.
#[allow(dead_code)] // the decision bench shares this file and does not use it
pub fn failure_to_native(failure: &Failure) -> native::Failure {
    native::Failure {
        source: match failure.source {
            Source::Worker(i) => native::Source::Worker(i),
            Source::Ufs => native::Source::Ufs,
        },
        kind: match failure.kind {
            FailureKind::Refused => native::FailureKind::Refused,
            FailureKind::Timeout => native::FailureKind::Timeout,
            FailureKind::IoError => native::FailureKind::IoError,
            FailureKind::Corrupt => native::FailureKind::Corrupt,
            FailureKind::NotFound => native::FailureKind::NotFound,
        },
        retries: failure.retries,
        delivered: failure.delivered,
    }
}

/// The native policy's failover answer, as the host's type.
#[allow(dead_code)] // the decision bench shares this file and does not use it
pub fn step_from_native(step: native::NextStep) -> NextStep {
    match step {
        native::NextStep::NextSource => NextStep::NextSource,
        native::NextStep::RetryAfterMs(ms) => NextStep::RetryAfterMs(ms),
        native::NextStep::GiveUp => NextStep::GiveUp,
    }
}
