//! The default policy as Wasm (through the engine) and the same crate built
//! natively must agree on every decision, whichever way the host calls it.

use std::time::Duration;

use azimuth_policy::embedded::DEFAULT_POLICY;
use azimuth_policy::instance::{CallLimits, PolicyInstance};
use azimuth_policy::{CallPath, Candidate, Failure, Request, Source};
use azimuth_policy_default as native;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::native_types::{
    CACHE_STATES, FAILURE_KINDS, failure_to_native, step_from_native, to_native,
};
use crate::support::{StartUp, engine, wrapped};

const LIMITS: CallLimits = CallLimits {
    call_timeout: Duration::from_secs(10),
    memory_cap: 16 << 20,
};

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

/// A failure of one of `candidates` (or of the UFS) of any kind, after a
/// few retries and some bytes delivered.
fn random_failure(rng: &mut StdRng, candidates: usize) -> Failure {
    Failure {
        source: if candidates == 0 || rng.random_bool(0.2) {
            Source::Ufs
        } else {
            Source::Worker(rng.random_range(0..candidates as u32))
        },
        kind: FAILURE_KINDS[rng.random_range(0..FAILURE_KINDS.len())],
        retries: rng.random_range(0..5),
        delivered: rng.random_range(0..1 << 30),
    }
}

#[test]
fn default_policy_as_wasm_and_native_agree_on_10000_random_reads_and_failures() {
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
        // The same failure, of a random source of this read, to both.
        let failure = random_failure(&mut rng, candidates.len());
        let wasm = engine.failover(&request, &candidates, &failure);
        assert_eq!(wasm.fallback, None, "case {case}: failover fell back");
        let expected = native::failover(
            &native_request,
            &native_candidates,
            &failure_to_native(&failure),
        );
        assert_eq!(
            wasm.value,
            step_from_native(expected),
            "case {case}: {failure:?} after {request:?} {candidates:?}"
        );
    }
    assert_eq!(engine.stats().fallbacks(), 0);
}

#[test]
fn a_policy_of_another_shape_takes_the_component_call_and_decides_the_same() {
    let engine = engine();
    let component = engine
        .compile(&wrapped(DEFAULT_POLICY, StartUp::Quick), "wrapped default")
        .expect("the wrapped default is a valid policy");
    assert_eq!(component.call_path(), CallPath::Component);
    let why = component.why_not_direct().expect("a reason");
    assert!(why.contains("nested component"), "{why}");
    // The embedded default itself is called directly.
    let direct = engine.compile(DEFAULT_POLICY, "default").expect("loads");
    assert_eq!(direct.call_path(), CallPath::Direct);
    assert!(
        PolicyInstance::on_path(&component, LIMITS, CallPath::Direct).is_err(),
        "a component of another shape cannot be forced onto the direct path"
    );

    engine.swap(component);
    let mut rng = StdRng::seed_from_u64(0x5a9e);
    for case in 0..2_000 {
        let (request, candidates) = random_read(&mut rng);
        let (native_request, native_candidates) = to_native(&request, &candidates);
        let wasm = engine.rank(&request, &candidates);
        assert_eq!(wasm.fallback, None, "case {case}");
        let expected = native::rank(&native_request, &native_candidates);
        assert_eq!(
            (wasm.value.workers, wasm.value.passive_cache_to),
            (expected.workers, expected.passive_cache_to),
            "case {case}: {request:?} {candidates:?}"
        );
    }
    assert_eq!(engine.stats().fallbacks(), 0);
}
