//! Broken policies: the host survives each, answers with the default policy,
//! counts the failure, and quarantines a policy that keeps failing.

use std::time::{Duration, Instant};

use azimuth_policy::engine::FallbackReason;
use azimuth_policy::instance::CallError;
use azimuth_policy::plan::InvalidAnswer;
use azimuth_policy::{CompileError, Failure, FailureKind, PolicyConfig, PolicyEngine, Source};

use azimuth_policy::embedded::DEFAULT_POLICY;

use crate::support::{StartUp, disputed_read, engine, policy, wrapped};

/// Swaps in the misbehaving policy built with `fault`, makes one decision,
/// and checks it came from the default policy; returns the fallback reason.
fn one_decision_with(engine: &PolicyEngine, fault: &str) -> FallbackReason {
    let (request, candidates) = disputed_read();
    let expected = engine.rank(&request, &candidates).value;
    engine
        .compile_and_swap(&policy("misbehaving", &[fault]), fault)
        .expect("a misbehaving policy still loads");
    let decision = engine.rank(&request, &candidates);
    assert_eq!(
        decision.value, expected,
        "the default policy's plan stands in"
    );
    assert_eq!(decision.policy, engine.default_policy());
    decision
        .fallback
        .expect("the decision is marked as a fallback")
}

/// The deadline of the engines that run endless policies: short, so that
/// each test waits little for it.
const DEADLINE: Duration = Duration::from_millis(20);

fn short_deadline_engine() -> PolicyEngine {
    PolicyEngine::new(PolicyConfig {
        call_timeout: DEADLINE,
        ..PolicyConfig::default()
    })
    .unwrap()
}

#[test]
fn endless_loop_is_interrupted_at_its_deadline_and_the_default_decides() {
    let engine = short_deadline_engine();
    let started = Instant::now();
    let reason = one_decision_with(&engine, "endless-loop");
    assert_eq!(reason, FallbackReason::Call(CallError::Deadline(DEADLINE)));
    // Generous bound: the point is that the loop was cut, not how precisely.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(engine.stats().fallback_deadline, 1);
}

#[test]
fn endless_loop_after_the_engine_idled_is_still_interrupted_at_its_deadline() {
    let engine = short_deadline_engine();
    engine
        .compile_and_swap(&policy("misbehaving", &["endless-loop"]), "endless-loop")
        .expect("a misbehaving policy still loads");
    // The decision below must wake the clock, or the loop would run on
    // unchecked.
    wait_for_the_epoch_clock_to_sleep(&engine);
    let (request, candidates) = disputed_read();
    let (sent, received) = std::sync::mpsc::channel();
    let deciding = engine.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        let decision = deciding.rank(&request, &candidates);
        let _ = sent.send((decision.fallback, started.elapsed()));
    });
    let (fallback, took) = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the endless loop was not interrupted within 10 s");
    assert_eq!(
        fallback,
        Some(FallbackReason::Call(CallError::Deadline(DEADLINE)))
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// Waits for `engine`'s epoch clock to sleep, as it does after a second
/// without a call.
fn wait_for_the_epoch_clock_to_sleep(engine: &PolicyEngine) {
    let started = Instant::now();
    while !engine.epoch_clock_sleeps() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the epoch clock still ticks after {:?} without a call",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn endless_start_up_swapped_in_after_the_engine_idled_is_interrupted_and_the_default_decides() {
    let engine = short_deadline_engine();
    let endless = engine
        .compile(
            &wrapped(DEFAULT_POLICY, StartUp::Endless),
            "endless start-up",
        )
        .expect("a policy whose start-up never ends still loads");
    // Swapping makes an instance ahead of need, running the start-up code:
    // it must wake the clock, or the swap would never return.
    wait_for_the_epoch_clock_to_sleep(&engine);
    let (sent, received) = std::sync::mpsc::channel();
    let swapping = engine.clone();
    std::thread::spawn(move || {
        swapping.swap(endless);
        let (request, candidates) = disputed_read();
        let _ = sent.send(swapping.rank(&request, &candidates).fallback);
    });
    let fallback = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the endless start-up was not interrupted within 10 s");
    assert_eq!(
        fallback,
        Some(FallbackReason::Call(CallError::Deadline(DEADLINE))),
        "the decision's own instance runs the start-up again, to its deadline"
    );
}

#[test]
fn memory_hog_hits_its_cap_and_the_default_decides() {
    let engine = PolicyEngine::new(PolicyConfig {
        memory_limit: 4 << 20,
        ..PolicyConfig::default()
    })
    .unwrap();
    let reason = one_decision_with(&engine, "memory-hog");
    assert_eq!(reason, FallbackReason::Call(CallError::MemoryCap(4 << 20)));
    assert_eq!(engine.stats().fallback_memory, 1);
}

#[test]
fn trapping_policy_falls_back_and_is_counted() {
    let engine = engine();
    let reason = one_decision_with(&engine, "trap");
    assert!(
        matches!(reason, FallbackReason::Call(CallError::Trap(_))),
        "{reason:?}"
    );
    assert_eq!(engine.stats().fallback_trap, 1);
}

#[test]
fn out_of_range_index_is_an_invalid_plan_and_falls_back() {
    let engine = engine();
    let reason = one_decision_with(&engine, "out-of-range");
    assert_eq!(
        reason,
        FallbackReason::Invalid(InvalidAnswer::IndexOutOfRange {
            index: 7,
            candidates: 2
        })
    );
    assert_eq!(engine.stats().fallback_invalid, 1);
}

#[test]
fn duplicate_index_is_an_invalid_plan_and_falls_back() {
    let engine = engine();
    let reason = one_decision_with(&engine, "duplicate");
    assert_eq!(reason, FallbackReason::Invalid(InvalidAnswer::Duplicate(0)));
    assert_eq!(engine.stats().fallback_invalid, 1);
}

#[test]
fn out_of_range_retry_delay_is_an_invalid_failover_and_falls_back() {
    let engine = engine();
    engine
        .compile_and_swap(&policy("misbehaving", &["out-of-range"]), "bad")
        .unwrap();
    let (request, candidates) = disputed_read();
    let failure = Failure {
        source: Source::Worker(0),
        kind: FailureKind::Timeout,
        retries: 0,
        delivered: 0,
    };
    let decision = engine.failover(&request, &candidates, &failure);
    assert_eq!(decision.value, azimuth_policy::NextStep::NextSource);
    assert_eq!(
        decision.fallback,
        Some(FallbackReason::Invalid(InvalidAnswer::RetryTooLong(
            u32::MAX
        )))
    );
}

#[test]
fn policy_that_keeps_failing_is_quarantined_until_replaced() {
    let engine = PolicyEngine::new(PolicyConfig {
        quarantine_after: 3,
        ..PolicyConfig::default()
    })
    .unwrap();
    engine
        .compile_and_swap(&policy("misbehaving", &["trap"]), "trap")
        .unwrap();
    let (request, candidates) = disputed_read();
    for _ in 0..3 {
        let reason = engine.rank(&request, &candidates).fallback.unwrap();
        assert!(matches!(reason, FallbackReason::Call(CallError::Trap(_))));
    }
    assert!(engine.active_is_quarantined());
    assert_eq!(engine.stats().quarantines, 1);
    // Quarantined: the policy is no longer called at all.
    for _ in 0..10 {
        assert_eq!(
            engine.rank(&request, &candidates).fallback,
            Some(FallbackReason::Quarantined)
        );
    }
    let stats = engine.stats();
    assert_eq!((stats.fallback_trap, stats.fallback_quarantined), (3, 10));
    let mut metrics = String::new();
    azimuth_cluster::prometheus::policy_engine(&mut metrics, &engine);
    assert!(metrics.contains("quarantined=\"true\""), "{metrics}");

    let replacement = engine
        .compile_and_swap(&policy("lowest-latency", &[]), "ll")
        .unwrap();
    let decision = engine.rank(&request, &candidates);
    assert_eq!(decision.fallback, None);
    assert_eq!(decision.policy, replacement);
    assert!(!engine.active_is_quarantined());
}

#[test]
fn policy_that_imports_is_refused_at_load_naming_the_import() {
    let engine = engine();
    let before = engine.active();
    let err = engine
        .compile_and_swap(&policy("test-imports", &[]), "imports")
        .expect_err("a policy with imports is refused");
    assert!(
        matches!(&err, CompileError::Imports(names) if names == &["log".to_string()]),
        "{err:?}"
    );
    assert!(err.to_string().contains("imports `log`"), "{err}");
    assert_eq!(engine.active(), before, "the active policy stays");
    assert_eq!(engine.stats().swaps_refused, 1);
}

#[test]
fn bytes_that_are_not_a_component_are_refused_and_the_old_policy_stays() {
    let engine = engine();
    let good = engine
        .compile_and_swap(&policy("lowest-latency", &[]), "ll")
        .unwrap();
    assert!(matches!(
        engine.compile_and_swap(b"\0asm garbage", "garbage"),
        Err(CompileError::NotAComponent(_))
    ));
    assert_eq!(engine.active(), good);
    let (request, candidates) = disputed_read();
    assert_eq!(engine.rank(&request, &candidates).policy, good);
}

/// The default policy's plan for `request`, and the raw-ABI policy's
/// decision for it with its fault picked by `seed` (see
/// policies/misbehaving/src/raw.rs).
fn raw_decision(
    engine: &PolicyEngine,
    seed: u64,
) -> (
    azimuth_policy::Plan,
    azimuth_policy::Decision<azimuth_policy::Plan>,
) {
    let (mut request, candidates) = disputed_read();
    request.seed = seed;
    let policy = engine.active();
    let default = PolicyEngine::new(PolicyConfig::default())
        .unwrap()
        .rank(&request, &candidates)
        .value;
    let decision = engine.rank(&request, &candidates);
    assert!(
        decision.fallback.is_some() || decision.policy == policy,
        "seed {seed}"
    );
    (default, decision)
}

#[test]
fn answers_outside_memory_misaligned_or_huge_fall_back_are_counted_and_the_policy_keeps_serving() {
    let engine = engine();
    engine
        .compile_and_swap(&policy("misbehaving", &["raw-abi"]), "raw-abi")
        .expect("the raw policy is a valid component");
    // Its valid answer first: every candidate, then the UFS.
    let (_, valid) = raw_decision(&engine, 0);
    assert_eq!(valid.fallback, None);
    assert_eq!(valid.value.workers, [0, 1]);
    let faults: [(u64, &str); 5] = [
        (1, "return pointer/length out of bounds"),
        (2, "not aligned to 4"),
        (3, "workers"),
        (4, "list pointer/length out of bounds"),
        (5, "not aligned to 4"),
    ];
    for (seed, why) in faults {
        let (default, decision) = raw_decision(&engine, seed);
        let reason = decision.fallback.expect("a fallback");
        assert!(reason.to_string().contains(why), "seed {seed}: {reason}");
        assert_eq!(decision.value, default, "seed {seed}: the default decides");
        // Between faults a valid call, so that the policy is not
        // quarantined: each fault alone costs one decision, no more.
        let (_, valid) = raw_decision(&engine, 0);
        assert_eq!(valid.fallback, None, "after seed {seed}");
    }
    let stats = engine.stats();
    assert_eq!(
        (stats.fallback_trap, stats.fallback_invalid),
        (4, 1),
        "bad pointers are traps, a list longer than the candidates an invalid plan"
    );

    // failover's answer out of memory: the default answers instead.
    let (mut request, candidates) = disputed_read();
    request.seed = 1;
    let failure = azimuth_policy::Failure {
        source: azimuth_policy::Source::Worker(0),
        kind: FailureKind::Timeout,
        retries: 0,
        delivered: 0,
    };
    let step = engine.failover(&request, &candidates, &failure);
    assert!(step.fallback.is_some(), "{:?}", step.fallback);
    let mut metrics = String::new();
    azimuth_cluster::prometheus::policy_engine(&mut metrics, &engine);
    assert!(metrics.contains("reason=\"trap\"} 5"), "{metrics}");
}

#[test]
fn memory_grown_to_the_cap_is_refused_and_a_garbage_realloc_falls_back() {
    let engine = PolicyEngine::new(PolicyConfig {
        memory_limit: 8 << 20,
        ..PolicyConfig::default()
    })
    .unwrap();
    let raw = engine
        .compile_and_swap(&policy("misbehaving", &["raw-abi"]), "raw-abi")
        .unwrap();
    // Grows until memory.grow answers -1 at the cap, then answers validly:
    // the cap held, and the policy's own plan stands.
    let (_, grown) = raw_decision(&engine, 6);
    assert_eq!((grown.policy.clone(), grown.fallback), (raw.clone(), None));
    assert_eq!(grown.value.workers, [0, 1]);
    let (_, after) = raw_decision(&engine, 0);
    assert_eq!(after.value.workers, [0, 1]);
    // From seed 7 on, its cabi_realloc answers a pointer past the end of
    // memory: the host refuses to write there, and the default decides.
    let (_, armed) = raw_decision(&engine, 7);
    assert_eq!(armed.fallback, None);
    let (default, garbage) = raw_decision(&engine, 0);
    // A trap, not the memory cap the earlier call ran into.
    let reason = garbage.fallback.expect("a fallback");
    assert!(
        matches!(&reason, FallbackReason::Call(CallError::Trap(why)) if why.contains("realloc")),
        "{reason}"
    );
    assert_eq!(garbage.value, default);
}

#[test]
fn components_of_the_wrong_world_or_malformed_are_refused_and_the_old_policy_stays() {
    let engine = engine();
    let good = engine
        .compile_and_swap(&policy("lowest-latency", &[]), "ll")
        .unwrap();
    // A valid component that exports nothing: not the policy world.
    let empty = wasm_encoder::Component::new().finish();
    let err = engine
        .compile_and_swap(&empty, "empty")
        .expect_err("a component of another world is refused");
    assert!(err.to_string().contains("routing"), "{err}");
    // A component's preamble, then a section that runs past the end.
    let mut malformed = wasm_encoder::Component::new().finish();
    malformed.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0x0f, 0, 1, 2]);
    assert!(engine.compile_and_swap(&malformed, "malformed").is_err());
    // A core module where a component belongs.
    let core = wasm_encoder::Module::new().finish();
    assert!(engine.compile_and_swap(&core, "core").is_err());
    assert_eq!(engine.active(), good);
    let (request, candidates) = disputed_read();
    let decision = engine.rank(&request, &candidates);
    assert_eq!((decision.policy, decision.fallback), (good, None));
    assert_eq!(engine.stats().swaps_refused, 3);
}
