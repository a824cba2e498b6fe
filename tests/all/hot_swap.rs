//! Swapping the active policy while decisions are being made.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use azimuth_policy::file_watch::spawn_file_watch;

use crate::support::{disputed_read, engine, policy};

#[test]
fn swapping_while_threads_decide_fails_no_decision_and_takes_effect() {
    let engine = engine();
    let (request, candidates) = disputed_read();
    let default_plan = engine.rank(&request, &candidates);
    let latency = engine
        .compile(&policy("lowest-latency", &[]), "lowest-latency")
        .unwrap();
    let latency_id = latency.id().clone();
    let default_id = default_plan.policy.clone();

    let stop = Arc::new(AtomicBool::new(false));
    let decided_by_new = Arc::new(AtomicU64::new(0));
    // Threads that have decided with the new policy: every one must.
    let switched_threads = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (engine, stop, decided_by_new, switched_threads) = (
                engine.clone(),
                stop.clone(),
                decided_by_new.clone(),
                switched_threads.clone(),
            );
            let (request, candidates, default_id, latency_id) = (
                request,
                candidates.clone(),
                default_id.clone(),
                latency_id.clone(),
            );
            std::thread::spawn(move || {
                let mut decisions = 0u64;
                let mut switched = false;
                while !stop.load(Ordering::Relaxed) {
                    let d = engine.rank(&request, &candidates);
                    assert_eq!(d.fallback, None, "no decision fails during a swap");
                    // Each plan is the old policy's or the new one's, never a mix.
                    if d.policy == default_id {
                        assert!(!switched, "a thread went back to the old policy");
                        assert_eq!(d.value.workers, [0, 1]);
                    } else {
                        if !switched {
                            switched = true;
                            switched_threads.fetch_add(1, Ordering::Relaxed);
                        }
                        assert_eq!(d.policy, latency_id);
                        assert_eq!(d.value.workers, [1, 0]);
                        assert_eq!(d.value.passive_cache_to, Some(0));
                        decided_by_new.fetch_add(1, Ordering::Relaxed);
                    }
                    decisions += 1;
                }
                decisions
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    engine.swap(latency);
    let deadline = Instant::now() + Duration::from_secs(10);
    while (decided_by_new.load(Ordering::Relaxed) < 1000
        || switched_threads.load(Ordering::Relaxed) < 4)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let total: u64 = threads
        .into_iter()
        .map(|t| t.join().expect("no decision thread panicked"))
        .sum();
    assert!(
        decided_by_new.load(Ordering::Relaxed) >= 1000,
        "the swap took effect"
    );
    assert_eq!(
        switched_threads.load(Ordering::Relaxed),
        4,
        "every deciding thread follows the swap"
    );
    assert!(
        total > decided_by_new.load(Ordering::Relaxed),
        "decisions were made before the swap too"
    );
    assert_eq!(engine.active(), latency_id);
    assert_eq!(engine.stats().fallbacks(), 0);
}

/// Writes `bytes` to `path` the way `azimuth policy build` does: whole, then renamed.
fn replace_file(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_policy_file_swaps_valid_components_and_refuses_invalid_ones() {
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.wasm");
    let latency = policy("lowest-latency", &[]);
    let latency_sha = azimuth_policy::sha256_hex(&latency);
    let default_sha = engine.default_policy().sha256.clone();
    let watcher = spawn_file_watch(engine.clone(), path.clone(), Duration::from_millis(20));

    // No file yet: the default stays.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(engine.active().sha256, default_sha);

    replace_file(&path, &latency);
    wait_for("the new policy", || engine.active().sha256 == latency_sha).await;

    // A corrupt component is refused and the old policy stays active.
    let mut corrupt = latency.clone();
    let middle = corrupt.len() / 2;
    corrupt.truncate(middle);
    replace_file(&path, &corrupt);
    wait_for("the refusal", || engine.stats().swaps_refused == 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(engine.active().sha256, latency_sha);
    assert_eq!(
        engine.stats().swaps_refused,
        1,
        "the same bad bytes are refused once"
    );

    // A policy that imports something is refused too.
    replace_file(&path, &policy("test-imports", &[]));
    wait_for("the second refusal", || engine.stats().swaps_refused == 2).await;
    assert_eq!(engine.active().sha256, latency_sha);

    replace_file(&path, azimuth_policy::embedded::DEFAULT_POLICY);
    wait_for("the default again", || {
        engine.active().sha256 == default_sha
    })
    .await;
    let mut metrics = String::new();
    azimuth_cluster::prometheus::policy_engine(&mut metrics, &engine);
    assert!(
        metrics.contains(&format!("sha256=\"{default_sha}\"")),
        "{metrics}"
    );
    watcher.abort();
}
