//! The host's contract types converted to the native build of the default
//! policy's (the same WIT, bound by wit-bindgen instead of wasmtime). Shared
//! by the differential test and the decision benchmark.

use azimuth::policy::{CacheState, Candidate, Request};
use azimuth_policy_default as native;

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
