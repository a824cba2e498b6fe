//! Both sides of the boundary apply the canonical ABI by hand: the SDK in the
//! policy (`policies/sdk/src/abi.rs`) and the host's direct call path
//! (`host/policy/src/direct/abi.rs`). So every field must arrive exactly: the
//! `test-echo` policy answers with what it received, and the same crate built
//! natively says what that should be. wasmtime's component call and
//! wit-bindgen's glue, neither written here, are the references.

use std::time::Duration;

use azimuth_policy::instance::{CallLimits, PolicyInstance};
use azimuth_policy::{CallPath, Candidate, Failure, FailureKind, NextStep, Request, Source};
use azimuth_policy_test_echo as echo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::native_types::{CACHE_STATES, to_native};
use crate::support::{engine, policy};

/// A value from the edges of `u64` or anywhere between.
fn wide(rng: &mut StdRng) -> u64 {
    match rng.random_range(0..4) {
        0 => 0,
        1 => u64::MAX,
        2 => 1 << rng.random_range(0..64),
        _ => rng.random(),
    }
}

fn random_read(rng: &mut StdRng, n: usize) -> (Request, Vec<Candidate>) {
    let request = Request {
        prefer_cached_replicas: rng.random(),
        passive_cache: rng.random(),
        ufs_fallback: rng.random(),
        file_length: rng.random_bool(0.5).then(|| wide(rng)),
        offset: wide(rng),
        length: rng.random_bool(0.5).then(|| wide(rng)),
        attempt: rng.random(),
        seed: wide(rng),
    };
    let candidates = (0..n)
        .map(|_| Candidate {
            cached_bytes: wide(rng),
            rtt_us: rng.random(),
            cluster: rng.random(),
            cache: CACHE_STATES[rng.random_range(0..4)],
            local: rng.random(),
            healthy: rng.random(),
        })
        .collect();
    (request, candidates)
}

fn random_failure(rng: &mut StdRng) -> (Failure, echo::Failure) {
    let worker = rng.random();
    let (source, native_source) = if rng.random() {
        (Source::Worker(worker), echo::Source::Worker(worker))
    } else {
        (Source::Ufs, echo::Source::Ufs)
    };
    let kinds = [
        (FailureKind::Refused, echo::FailureKind::Refused),
        (FailureKind::Timeout, echo::FailureKind::Timeout),
        (FailureKind::IoError, echo::FailureKind::IoError),
        (FailureKind::Corrupt, echo::FailureKind::Corrupt),
        (FailureKind::NotFound, echo::FailureKind::NotFound),
    ];
    let (kind, native_kind) = kinds[rng.random_range(0..kinds.len())];
    let retries = rng.random();
    let delivered = wide(rng);
    (
        Failure {
            source,
            kind,
            retries,
            delivered,
        },
        echo::Failure {
            source: native_source,
            kind: native_kind,
            retries,
            delivered,
        },
    )
}

/// Both ways of exporting a policy (the SDK's glue, and wit-bindgen's own
/// with a post-return function), each called both ways (directly, and
/// through wasmtime's component call).
#[test]
fn every_field_of_every_argument_reaches_the_policy_and_back() {
    let engine = engine();
    for features in [&[][..], &["wit-bindgen-glue"]] {
        let bytes = policy("test-echo", features);
        if !features.is_empty() {
            // The point of this build: a lift with a post-return, which the
            // direct path must call after reading the answer.
            let post_return = b"cabi_post_azimuth:policy/routing@0.1.0#rank";
            assert!(
                bytes.windows(post_return.len()).any(|w| w == post_return),
                "wit-bindgen's glue has a post-return for rank"
            );
        }
        let component = engine
            .compile(&bytes, "test-echo")
            .expect("the echo policy loads");
        assert_eq!(
            component.call_path(),
            CallPath::Direct,
            "{features:?}: {:?}",
            component.why_not_direct()
        );
        // Only the SDK's glue has an input buffer; lists longer than it
        // (128 candidates) still go through `cabi_realloc`, and the sizes
        // below cross that line both ways.
        assert_eq!(component.takes_input_buffer(), features.is_empty());
        for path in [CallPath::Direct, CallPath::Component] {
            let limits = CallLimits {
                call_timeout: Duration::from_secs(10),
                memory_cap: 64 << 20,
            };
            let instance = PolicyInstance::on_path(&component, limits, path).expect("instantiates");
            echo_round_trips(instance, &format!("{features:?} on the {path} path"));
        }
    }
}

fn echo_round_trips(mut instance: PolicyInstance, what: &str) {
    let mut rng = StdRng::seed_from_u64(0xab1);
    // Sizes go up and down so the policy's reused answer buffer both grows
    // and is left longer than the answer.
    for case in 0..2_000 {
        let n = match case % 5 {
            0 => 0,
            1 => rng.random_range(1..8),
            2 => rng.random_range(8..100),
            3 => rng.random_range(100..700),
            _ => 1,
        };
        let (request, candidates) = random_read(&mut rng, n);
        let (native_request, native_candidates) = to_native(&request, &candidates);
        let plan = instance
            .rank(&request, &candidates)
            .unwrap_or_else(|e| panic!("{what}, case {case}: rank failed: {e}"));
        let words = echo::echo(&native_request, &native_candidates);
        assert_eq!(
            plan.passive_cache_to,
            Some(echo::fnv1a(&words)),
            "{what}, case {case}: {request:?} {candidates:?}"
        );
        assert_eq!(plan.workers, words[..n], "{what}, case {case}");
        assert_eq!(plan.then_ufs, request.ufs_fallback, "{what}, case {case}");

        let (failure, native_failure) = random_failure(&mut rng);
        let step = instance
            .failover(&request, &candidates, &failure)
            .unwrap_or_else(|e| panic!("{what}, case {case}: failover failed: {e}"));
        let expected = echo::failover(&native_request, &native_candidates, &native_failure);
        let echo::NextStep::RetryAfterMs(hash) = expected else {
            panic!("the native echo answers with a hash");
        };
        assert_eq!(
            step,
            NextStep::RetryAfterMs(hash),
            "{what}, case {case}: {failure:?}"
        );
    }
}
