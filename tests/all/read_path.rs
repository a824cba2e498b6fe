//! The read path across zones with real etcd, real workers (three clusters
//! of two) and a local-directory UFS: where reads go, failover when a zone
//! dies, mid-stream failures, and UFS fallback.

use std::path::Path;
use std::time::Duration;

use rand::{Rng, SeedableRng};

use crate::processes::wait_for;
use crate::zones::{CLUSTERS, Zones, load, served_by_cluster};

#[test]
fn reads_go_to_the_local_zone_and_prefer_cached_picks_a_fully_cached_remote_replica() {
    let zones = Zones::start();
    let f = zones.file("f", 300_000);
    let client = zones.client("plain", "");
    let (bytes, explain) = zones.read(&client, "f", 0, None);
    assert!(bytes.unwrap() == f, "{explain}");
    assert_eq!(served_by_cluster(&explain), CLUSTERS[0], "{explain}");
    let (bytes, explain) = zones.read(&client, "f", 1234, Some(5000));
    assert!(bytes.unwrap() == f[1234..6234], "{explain}");

    // g is cached by its replica in cluster b only.
    let g = zones.file("g", 200_000);
    let ring = azimuth_client::ring::HashRing::new(["b1", "b2"]);
    let b_for_g = ring.replicas("g", 1)[0].to_owned();
    load(&zones.address_of(&b_for_g), Path::new("g"));

    let cached = zones.client(
        "cached",
        "alluxio.user.replica.prefer.cached.replicas=true\n",
    );
    let (bytes, explain) = zones.read(&cached, "g", 0, None);
    assert!(bytes.unwrap() == g, "{explain}");
    assert_eq!(
        explain.served_by.as_deref(),
        Some(format!("worker {b_for_g}").as_str()),
        "{explain}"
    );
    let b = explain
        .candidates
        .iter()
        .find(|c| c.worker == b_for_g)
        .unwrap();
    assert_eq!(b.cache, "full", "{explain}");
    let shown = explain.to_string();
    assert!(
        shown.contains("cache full") && shown.contains("served by worker"),
        "{shown}"
    );

    // The same through the command line.
    let out = zones.site.dir.path().join("f.out");
    let conf = zones.site.dir.path().join("client-plain.properties");
    let run = crate::support::azimuth(&[
        "--conf",
        conf.to_str().unwrap(),
        "read",
        "f",
        "--offset",
        "10",
        "--length",
        "90000",
        "--explain",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", crate::support::show(&run));
    assert!(std::fs::read(&out).unwrap() == f[10..90010]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("served by worker a"), "{stderr}");
}

#[test]
fn killing_the_local_zone_under_eight_readers_fails_no_read_and_moves_reads_away() {
    let mut zones = Zones::start();
    let data = std::sync::Arc::new(zones.file("f", 3 << 20));
    let client = zones.client("readers", "");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..8u64)
        .map(|seed| {
            let (client, data, stop) = (client.clone(), data.clone(), stop.clone());
            zones.runtime.spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let mut clusters = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let offset = rng.random_range(0..data.len() as u64 - 1);
                    let length = rng.random_range(1..=(data.len() as u64 - offset).min(1 << 20));
                    let (bytes, explain) = client.read_all("f", offset, Some(length)).await;
                    let bytes = bytes.unwrap_or_else(|e| panic!("a read failed: {e}\n{explain}"));
                    let want = &data[offset as usize..(offset + length) as usize];
                    assert!(bytes == want, "wrong bytes\n{explain}");
                    clusters.push(served_by_cluster(&explain));
                }
                clusters
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    zones.worker_mut("a1").kill();
    zones.worker_mut("a2").kill();
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        let clusters = zones.runtime.block_on(reader).expect("no reader failed");
        assert!(clusters.iter().any(|c| c == CLUSTERS[0]), "{clusters:?}");
        let last = clusters.last().unwrap();
        assert_ne!(last, CLUSTERS[0], "reads still go to the dead zone");
        assert_ne!(last, "ufs", "another zone should serve before the UFS");
    }
}

#[test]
fn a_worker_killed_mid_stream_leaves_the_bytes_exact() {
    let mut zones = Zones::start();
    let data = zones.file("big", 48 << 20);
    let client = zones.client("stream", "");
    // Cache it in the local replica first, so the stream is long-lived.
    let (bytes, explain) = zones.read(&client, "big", 0, None);
    assert!(bytes.unwrap() == data);
    let served = explain.served_by.unwrap();
    let id = served.trim_start_matches("worker ").to_owned();

    let mut workers = std::mem::take(&mut zones.workers);
    let mut stream = zones
        .runtime
        .block_on(async { client.read("big", 0, None) });
    let mut got = Vec::with_capacity(data.len());
    let mut killed_at = None;
    zones.runtime.block_on(async {
        use futures::StreamExt;
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.expect("the read survives"));
            if killed_at.is_none() && got.len() > 4 << 20 {
                workers.iter_mut().find(|w| w.id == id).unwrap().kill();
                killed_at = Some(got.len());
            }
        }
    });
    let explain = stream.explain();
    assert!(killed_at.is_some());
    assert_eq!(got.len(), data.len(), "{explain}");
    assert!(got == data, "bytes differ after the failover\n{explain}");
    assert!(explain.attempts.len() >= 2, "{explain}");
    assert_eq!(explain.attempts[0].source, served, "{explain}");
    assert!(explain.attempts[0].outcome != "served", "{explain}");
    assert_eq!(
        explain.attempts.iter().map(|a| a.bytes).sum::<u64>(),
        data.len() as u64,
        "attempts overlap or leave a gap: {explain}"
    );
}

#[test]
fn with_every_worker_dead_reads_come_from_the_ufs_and_without_fallback_the_error_lists_them() {
    let mut zones = Zones::start();
    let f = zones.file("f", 100_000);
    let client = zones.client("ufs", "");
    let strict = zones.client("strict", "alluxio.dora.client.ufs.fallback.enabled=false\n");
    for worker in &mut zones.workers {
        worker.kill();
    }
    let (bytes, explain) = zones.read(&client, "f", 0, None);
    assert!(bytes.unwrap() == f, "{explain}");
    assert_eq!(explain.served_by.as_deref(), Some("ufs"), "{explain}");
    assert_eq!(
        explain.attempts.len(),
        4,
        "three workers, then the UFS: {explain}"
    );

    let (result, explain) = zones.read(&strict, "f", 0, None);
    let error = result.unwrap_err();
    assert!(
        error.contains("worker ") && error.contains("refused") && error.contains("not the UFS"),
        "{error}\n{explain}"
    );
}

#[test]
fn a_policy_that_always_retries_cannot_hold_a_read_and_the_retry_ceilings_say_why_it_moved_on() {
    let mut zones = Zones::start();
    let data = zones.file("r", 50_000);
    let policy_file = zones.site.write("always-retry.wasm", "");
    std::fs::write(
        &policy_file,
        crate::support::policy("misbehaving", &["always-retry"]),
    )
    .unwrap();
    let policy_line = format!("azimuth.policy.path={}\n", policy_file.display());
    let per_source = zones.client(
        "per-source",
        &format!("{policy_line}azimuth.client.retry.limit.per.source=2\n"),
    );
    let total = zones.client(
        "total",
        &format!(
            "{policy_line}azimuth.client.retry.limit.per.source=100\n\
             azimuth.client.retry.limit.total=100ms\n"
        ),
    );
    // Every worker refuses; the policy answers each refusal with a retry.
    for worker in &mut zones.workers {
        worker.kill();
    }

    let (bytes, explain) = zones.read(&per_source, "r", 0, None);
    assert!(bytes.as_deref() == Ok(&data[..]), "{explain}");
    assert_eq!(explain.served_by.as_deref(), Some("ufs"), "{explain}");
    // Three workers tried once and retried twice each, then the UFS.
    assert_eq!(explain.attempts.len(), 3 * 3 + 1, "{explain}");
    let thens: Vec<&str> = explain.attempts[..3]
        .iter()
        .map(|a| a.then.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        thens,
        [
            "retry after 20 ms",
            "retry after 20 ms",
            "next source (the per-source retry limit is reached)"
        ],
        "{explain}"
    );

    // With retries per source all but unbounded, the read's total retry
    // time ends them: 100 ms is five retries of 20 ms, then each source is
    // tried once.
    let (bytes, explain) = zones.read(&total, "r", 0, None);
    assert!(bytes.as_deref() == Ok(&data[..]), "{explain}");
    assert_eq!(explain.attempts.len(), 6 + 1 + 1 + 1, "{explain}");
    assert_eq!(
        explain.attempts[5].then.as_deref(),
        Some("next source (the read's total retry time is reached)"),
        "{explain}"
    );
    assert_eq!(explain.served_by.as_deref(), Some("ufs"), "{explain}");
}

#[test]
fn swapping_the_policy_file_under_a_workload_fails_no_read_and_later_reads_follow_the_new_policy() {
    let zones = Zones::start();
    let data = std::sync::Arc::new(zones.file("s", 1 << 20));
    // s is cached in cluster b only: the default policy (prefer cached on)
    // reads it there; zone-local never leaves cluster a.
    let ring = azimuth_client::ring::HashRing::new(["b1", "b2"]);
    load(&zones.address_of(ring.replicas("s", 1)[0]), Path::new("s"));
    let policy = zones.site.dir.path().join("policy.wasm");
    let default =
        std::fs::read(crate::support::repo().join("host/policy/assets/default-policy.wasm"));
    std::fs::write(&policy, default.unwrap()).unwrap();
    let zone_local = crate::support::policy("zone-local", &[]);
    let zone_local_sha = azimuth_policy::sha256_hex(&zone_local);
    let client = zones.client(
        "swap",
        &format!(
            "alluxio.user.replica.prefer.cached.replicas=true\nazimuth.policy.path={}\n",
            policy.display()
        ),
    );

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // How many readers have had a read decided by the new policy.
    let switched_readers = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let readers: Vec<_> = (0..4u64)
        .map(|seed| {
            let (client, data, stop) = (client.clone(), data.clone(), stop.clone());
            let switched_readers = switched_readers.clone();
            let zone_local_sha = zone_local_sha.clone();
            zones.runtime.spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let mut seen = Vec::new();
                let mut counted = false;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let offset = rng.random_range(0..data.len() as u64 - 4096);
                    let (bytes, explain) = client.read_all("s", offset, Some(4096)).await;
                    let bytes = bytes.unwrap_or_else(|e| panic!("a read failed: {e}\n{explain}"));
                    assert!(bytes == data[offset as usize..offset as usize + 4096]);
                    let new = explain.policy.contains(&zone_local_sha);
                    if new && !counted {
                        counted = true;
                        switched_readers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    seen.push((new, served_by_cluster(&explain)));
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let staged = zones.site.dir.path().join("policy.wasm.new");
    std::fs::write(&staged, &zone_local).unwrap();
    std::fs::rename(&staged, &policy).unwrap();
    // The watcher polls, then compiles the new component off the async
    // workers; a debug build under the full suite's load can take seconds, so
    // wait for the swap to reach every reader rather than a fixed time, then
    // let the readers run on under the new policy.
    wait_for(Duration::from_secs(60), || {
        (switched_readers.load(std::sync::atomic::Ordering::Relaxed) == 4).then_some(())
    });
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        let seen = zones.runtime.block_on(reader).expect("no read failed");
        let switched = seen
            .iter()
            .position(|(new, _)| *new)
            .expect("the swap took");
        assert!(switched > 0, "reads before the swap ran the default");
        assert!(
            seen[switched..].iter().all(|(new, _)| *new),
            "no read went back"
        );
        for (new, cluster) in &seen {
            let want = if *new { CLUSTERS[0] } else { CLUSTERS[1] };
            assert_eq!(cluster, want, "policy zone-local: {new}");
        }
    }
}

#[test]
fn a_zone_that_stops_answering_costs_one_bounded_wait_then_is_skipped_until_it_answers_again() {
    let zones = Zones::start();
    let data = std::sync::Arc::new(zones.file("f", 1 << 20));
    let client = zones.client(
        "stalled",
        "azimuth.client.first.byte.timeout=400ms\nazimuth.client.connect.timeout=400ms\n",
    );
    let run = |client: &azimuth_client::Client, reads: u64| {
        let readers: Vec<_> = (0..4u64)
            .map(|seed| {
                let (client, data) = (client.clone(), data.clone());
                zones.runtime.spawn(async move {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                    let mut seen = Vec::new();
                    for _ in 0..reads {
                        let offset = rng.random_range(0..data.len() as u64 - 65_536);
                        let (bytes, explain) = client.read_all("f", offset, Some(65_536)).await;
                        let bytes =
                            bytes.unwrap_or_else(|e| panic!("a read failed: {e}\n{explain}"));
                        assert!(bytes == data[offset as usize..offset as usize + 65_536]);
                        let timed_out = explain
                            .attempts
                            .iter()
                            .any(|a| a.outcome.starts_with("timeout"));
                        seen.push((served_by_cluster(&explain), timed_out));
                    }
                    seen
                })
            })
            .collect::<Vec<_>>();
        readers
            .into_iter()
            .flat_map(|r| zones.runtime.block_on(r).expect("no read failed"))
            .collect::<Vec<_>>()
    };
    assert!(run(&client, 20).iter().all(|(c, _)| c == CLUSTERS[0]));

    for id in ["a1", "a2"] {
        zones.workers.iter().find(|w| w.id == id).unwrap().pause();
    }
    let stalled = run(&client, 20);
    let waits = stalled.iter().filter(|(_, t)| *t).count();
    assert!(
        waits >= 1,
        "the first reads should meet the timeout: {stalled:?}"
    );
    assert!(
        waits <= 4,
        "once marked, the zone is skipped: {waits} reads waited"
    );
    assert!(stalled.iter().all(|(c, _)| c != CLUSTERS[0]));

    // Back within the lease TTL: the background probe trusts it again.
    for id in ["a1", "a2"] {
        zones.workers.iter().find(|w| w.id == id).unwrap().resume();
    }
    let back = wait_for(Duration::from_secs(40), || {
        let seen = run(&client, 1);
        seen.iter().all(|(c, _)| c == CLUSTERS[0]).then_some(())
    });
    assert!(back.is_some(), "reads never came back to the local zone");
    let stats = client.stats();
    assert_eq!(stats.failed_reads, 0, "{stats:?}");
    assert!(stats.failovers >= 1, "{stats:?}");
}

#[test]
fn a_ufs_file_rewritten_during_a_read_gives_one_versions_bytes_or_an_error_never_a_mix() {
    let zones = Zones::start_over(None, "alluxio.user.file.passive.cache.enabled=false\n");
    let client = zones.client("rewrite", "");
    for round in 0..3u8 {
        let old = zones.file("rewritten", 24 << 20);
        let new: Vec<u8> = old.iter().map(|b| b ^ (round + 1)).collect();
        let mut stream = zones
            .runtime
            .block_on(async { client.read("rewritten", 0, None) });
        let mut got = Vec::with_capacity(old.len());
        let mut rewritten = false;
        let mut failed = None;
        zones.runtime.block_on(async {
            use futures::StreamExt;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(chunk) => got.extend_from_slice(&chunk),
                    Err(e) => {
                        failed = Some(e.to_string());
                        break;
                    }
                }
                if !rewritten && got.len() > 2 << 20 {
                    std::fs::write(zones.ufs.join("rewritten"), &new).unwrap();
                    rewritten = true;
                }
            }
        });
        let explain = stream.explain();
        assert!(rewritten);
        match failed {
            // Cut short with an error: what came is the old version's.
            Some(_) => assert!(
                got.len() < old.len() && got == old[..got.len()],
                "round {round}: mixed bytes before the error\n{explain}"
            ),
            None => assert!(
                got == old || got == new,
                "round {round}: a whole read mixed two versions\n{explain}"
            ),
        }
    }
}

#[test]
fn a_worker_restarted_at_another_address_is_trusted_again_at_once_not_probed_at_the_old_one() {
    let mut zones = Zones::start();
    let data = zones.file("f", 100_000);
    let client = zones.client("restart", "");
    let (read, explain) = zones.read(&client, "f", 0, None);
    assert!(read.unwrap() == data);
    let first = explain.served_by.unwrap();
    let id = first.trim_start_matches("worker ").to_owned();
    let old_address = zones.address_of(&id);
    zones.worker_mut(&id).kill();
    // The read meets the dead worker: it is distrusted, and its probe starts.
    let (read, explain) = zones.read(&client, "f", 0, None);
    assert!(read.unwrap() == data, "{explain}");
    assert!(!client.trusts(&id), "{explain}");
    // Back within its lease (5 s), on a new port: the same id, a new process.
    zones.worker_mut(&id).restart();
    assert_ne!(zones.address_of(&id), old_address);
    let started = std::time::Instant::now();
    let trusted = wait_for(Duration::from_secs(10), || client.trusts(&id).then_some(()));
    assert!(
        trusted.is_some(),
        "{id} was not trusted again at its new address (its probe kept asking the old one)"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "trusted again only after {:?}",
        started.elapsed()
    );
    let (read, explain) = zones.read(&client, "f", 0, None);
    assert!(read.unwrap() == data);
    assert_eq!(
        explain.served_by.as_deref(),
        Some(first.as_str()),
        "{explain}"
    );
}
