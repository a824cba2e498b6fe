//! One routing decision with 6 and with 64 candidates: the default policy run
//! as Wasm through the engine (what the read path pays); one instance called
//! bare, on the direct path the engine uses and through wasmtime's component
//! call (the engine's own overhead is the difference from the direct row);
//! and the same crate compiled natively (the floor).
//!
//! Run: `cargo bench -p azimuth-policy --bench decision`

use std::hint::black_box;

use azimuth_policy::instance::{CallLimits, PolicyInstance};
use azimuth_policy::{CacheState, CallPath, Candidate, PolicyConfig, PolicyEngine, Request};
use azimuth_policy_default as native;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

#[path = "../../../tests/all/native_types.rs"]
mod native_types;
use native_types::to_native;

/// A read with prefer-cached and passive cache on, candidates spread over
/// three clusters with mixed cache states and one unhealthy worker in eight.
fn scenario(n: usize) -> (Request, Vec<Candidate>) {
    let request = Request {
        prefer_cached_replicas: true,
        passive_cache: true,
        ufs_fallback: true,
        file_length: Some(1 << 20),
        offset: 0,
        length: None,
        attempt: 0,
        seed: 7,
    };
    let candidates = (0..n)
        .map(|i| Candidate {
            local: i % 3 == 0,
            cluster: (i % 3) as u8,
            cache: [
                CacheState::Full,
                CacheState::None,
                CacheState::Partial,
                CacheState::Unknown,
            ][i % 4],
            cached_bytes: (i as u64) << 12,
            healthy: i % 8 != 5,
            rtt_us: 100 + i as u32,
        })
        .collect();
    (request, candidates)
}

fn decision(c: &mut Criterion) {
    let engine = PolicyEngine::new(PolicyConfig::default()).expect("engine starts");
    let component = engine
        .compile(azimuth_policy::embedded::DEFAULT_POLICY, "bench")
        .expect("default loads");
    let limits = CallLimits {
        call_timeout: std::time::Duration::from_secs(10),
        memory_cap: 16 << 20,
    };
    let mut direct =
        PolicyInstance::on_path(&component, limits, CallPath::Direct).expect("instantiates");
    let mut through_component =
        PolicyInstance::on_path(&component, limits, CallPath::Component).expect("instantiates");
    let mut group = c.benchmark_group("decision");
    for n in [6, 64] {
        let (request, candidates) = scenario(n);
        let (native_request, native_candidates) = to_native(&request, &candidates);
        group.bench_with_input(BenchmarkId::new("wasm-engine", n), &n, |b, _| {
            b.iter(|| black_box(engine.rank(black_box(&request), black_box(&candidates))))
        });
        group.bench_with_input(BenchmarkId::new("wasm-direct-call", n), &n, |b, _| {
            b.iter(|| black_box(direct.rank(black_box(&request), black_box(&candidates))))
        });
        group.bench_with_input(BenchmarkId::new("wasm-component-call", n), &n, |b, _| {
            b.iter(|| {
                black_box(through_component.rank(black_box(&request), black_box(&candidates)))
            })
        });
        group.bench_with_input(BenchmarkId::new("native", n), &n, |b, _| {
            b.iter(|| {
                black_box(native::rank(
                    black_box(&native_request),
                    black_box(&native_candidates),
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
