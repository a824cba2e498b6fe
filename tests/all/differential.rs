//! The default policy as Wasm (through the engine) and the same crate built
//! natively must agree on every decision.

use azimuth::policy::{Candidate, Failure, FailureKind, NextStep, Request, Source};
use azimuth_policy_default as native;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::native_types::{CACHE_STATES, to_native};
use crate::support::engine;

fn random_read(rng: &mut StdRng) -> (Request, Vec<Candidate>) {
    let request = Request {
        prefer_cached_replicas: rng.random(),
        passive_cache: rng.random(),
        ufs_fallback: rng.random(),
        file_length: rng
            .random_bool(0.7)
            .then(|| rng.random_range(0..1u64 << 40)),
        offset: rng.random_range(0..1 << 20),
        length: rng.random_bool(0.5).then(|| rng.random_range(0..1 << 20)),
        attempt: rng.random_range(0..4),
        seed: rng.random(),
    };
    let clusters = rng.random_range(1..=4u8);
    let n = rng.random_range(0..=70);
    let candidates = (0..n)
        .map(|_| {
            let cluster = rng.random_range(0..clusters);
            Candidate {
                local: cluster == 0,
                cluster,
                cache: CACHE_STATES[rng.random_range(0..4)],
                cached_bytes: rng.random_range(0..1 << 30),
                healthy: rng.random_bool(0.8),
                rtt_us: rng.random_range(0..5000),
            }
        })
        .collect();
    (request, candidates)
}

#[test]
fn default_policy_as_wasm_and_native_agree_on_10000_random_reads() {
    let engine = engine();
    let mut rng = StdRng::seed_from_u64(0xa217);
    for case in 0..10_000 {
        let (request, candidates) = random_read(&mut rng);
        let (native_request, native_candidates) = to_native(&request, &candidates);
        let wasm = engine.rank(&request, &candidates);
        assert_eq!(
            wasm.fallback, None,
            "case {case}: the default policy failed"
        );
        let expected = native::rank(&native_request, &native_candidates);
        assert_eq!(
            (
                &wasm.value.workers,
                wasm.value.then_ufs,
                wasm.value.passive_cache_to
            ),
            (
                &expected.workers,
                expected.then_ufs,
                expected.passive_cache_to
            ),
            "case {case}: {request:?} {candidates:?}"
        );
        if case % 10 == 0 {
            let failure = Failure {
                source: if candidates.is_empty() {
                    Source::Ufs
                } else {
                    Source::Worker(0)
                },
                kind: FailureKind::Timeout,
                retries: 0,
                delivered: 0,
            };
            let native_failure = native::Failure {
                source: native::Source::Ufs,
                kind: native::FailureKind::Timeout,
                retries: 0,
                delivered: 0,
            };
            assert_eq!(
                engine.failover(&request, &candidates, &failure).value,
                NextStep::NextSource
            );
            assert!(matches!(
                native::failover(&native_request, &native_candidates, &native_failure),
                native::NextStep::NextSource
            ));
        }
    }
    assert_eq!(engine.stats().fallbacks(), 0);
}
