//! Passive caching and preloading into the client's cluster, with real etcd,
//! three clusters of two real workers, and a local-directory UFS.

use std::path::Path;
use std::time::Duration;

use azimuth_client::ring::HashRing;
use azimuth_client::stats::Tier;

use crate::processes::wait_for;
use crate::zones::{CLUSTERS, Zones, load, served_by_cluster};

const PASSIVE: &str = "alluxio.user.replica.prefer.cached.replicas=true\n\
                       alluxio.user.file.passive.cache.enabled=true\n";

/// The replica of `path` among `workers` (replication 1).
fn replica(workers: [&str; 2], path: &str) -> String {
    HashRing::new(workers).replicas(path, 1)[0].to_owned()
}

fn fully_cached(address: &str, path: &str) -> bool {
    reqwest::blocking::get(format!("http://{address}/status/{path}"))
        .and_then(|r| r.json::<serde_json::Value>())
        .is_ok_and(|status| status["fully_cached"] == true)
}

#[test]
fn after_a_remote_read_the_next_read_of_the_file_is_served_by_the_local_replica() {
    let zones = Zones::start();
    let data = zones.file("p", 3 << 20);
    let (remote, local) = (replica(["b1", "b2"], "p"), replica(["a1", "a2"], "p"));
    load(&zones.address_of(&remote), Path::new("p"));
    let client = zones.client("passive", PASSIVE);

    let (bytes, explain) = zones.read(&client, "p", 0, None);
    assert!(bytes.unwrap() == data, "{explain}");
    assert_eq!(served_by_cluster(&explain), CLUSTERS[1], "{explain}");
    assert_eq!(explain.passive_cache_to.as_deref(), Some(local.as_str()));
    let target = zones.workers.iter().find(|w| w.id == local).unwrap();
    let cached = wait_for(Duration::from_secs(20), || {
        fully_cached(&target.address, "p").then_some(())
    });
    assert!(cached.is_some(), "{local} never cached p");
    let hits_before = target.metric("azimuth_worker_cache_hits_total");
    let served_before = target.metric("azimuth_worker_bytes_served_total");

    let (bytes, explain) = zones.read(&client, "p", 0, None);
    assert!(bytes.unwrap() == data, "{explain}");
    assert_eq!(
        explain.served_by.as_deref(),
        Some(format!("worker {local}").as_str()),
        "{explain}"
    );
    // The local worker served it from its cache: every page a hit, no UFS.
    assert_eq!(
        target.metric("azimuth_worker_bytes_served_total") - served_before,
        data.len() as u64
    );
    assert_eq!(
        target.metric("azimuth_worker_cache_hits_total") - hits_before,
        3
    );
    assert_eq!(
        target.metric("azimuth_worker_ufs_bytes_read_total"),
        data.len() as u64,
        "the file came from the UFS once, when it was loaded"
    );
    let stats = client.stats();
    assert_eq!(stats.reads_of(Tier::RemoteCached), 1, "{stats:?}");
    assert_eq!(stats.reads_of(Tier::LocalCached), 1, "{stats:?}");
    assert_eq!(stats.cross_zone_bytes, data.len() as u64, "{stats:?}");
    assert!(client.metrics().contains(&format!(
        "azimuth_client_reads_total{{cluster=\"{}\",tier=\"local_cached\"}} 1",
        CLUSTERS[0]
    )));
}

#[test]
fn fifty_concurrent_remote_reads_load_the_file_into_the_local_cluster_once() {
    let zones = Zones::start();
    let data = std::sync::Arc::new(zones.file("q", 24 << 20));
    let (remote, local) = (replica(["b1", "b2"], "q"), replica(["a1", "a2"], "q"));
    load(&zones.address_of(&remote), Path::new("q"));
    // Five client processes' worth of clients, ten reads each, all at once:
    // merged within each client, and across them by the worker.
    let clients: Vec<_> = (0..5)
        .map(|n| zones.client(&format!("burst{n}"), PASSIVE))
        .collect();
    let reads: Vec<_> = (0..50u64)
        .map(|n| {
            let (client, data) = (clients[n as usize % 5].clone(), data.clone());
            zones.runtime.spawn(async move {
                let offset = n * 400_000;
                let (bytes, explain) = client.read_all("q", offset, Some(65_536)).await;
                let bytes = bytes.unwrap_or_else(|e| panic!("{e}\n{explain}"));
                assert!(bytes == data[offset as usize..offset as usize + 65_536]);
                served_by_cluster(&explain)
            })
        })
        .collect();
    let served: Vec<String> = reads
        .into_iter()
        .map(|r| zones.runtime.block_on(r).unwrap())
        .collect();
    let remote_reads = served.iter().filter(|c| *c == CLUSTERS[1]).count();
    assert!(
        remote_reads >= 10,
        "the burst should mostly go remote: {served:?}"
    );

    let target = zones.workers.iter().find(|w| w.id == local).unwrap();
    let cached = wait_for(Duration::from_secs(30), || {
        fully_cached(&target.address, "q").then_some(())
    });
    assert!(cached.is_some(), "{local} never cached q");
    assert_eq!(
        target.metric("azimuth_worker_ufs_bytes_read_total"),
        data.len() as u64,
        "{remote_reads} remote reads loaded q more than once"
    );
    let other = zones
        .workers
        .iter()
        .find(|w| w.id.starts_with('a') && w.id != local)
        .unwrap();
    assert_eq!(other.metric("azimuth_worker_ufs_bytes_read_total"), 0);
}

#[test]
fn load_preloads_a_directory_into_the_callers_cluster_and_reports_what_it_did() {
    let zones = Zones::start();
    std::fs::create_dir_all(zones.ufs.join("set/deeper")).unwrap();
    let files = ["set/one", "set/two", "set/deeper/three"];
    let mut total = 0;
    for (n, name) in files.iter().enumerate() {
        total += zones.file(name, 100_000 * (n + 1)).len();
    }
    let conf = zones.site.dir.path().join("client-loader.properties");
    drop(zones.client("loader", ""));
    let run = crate::support::azimuth(&["--conf", conf.to_str().unwrap(), "load", "set"]);
    assert!(run.status.success(), "{}", crate::support::show(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains(&format!(
            "loaded 3 of 3 files ({total} bytes) into cluster {}",
            CLUSTERS[0]
        )) && stdout.contains(&format!(
            "{total} bytes fetched from the UFS, 0 already cached"
        )),
        "{stdout}"
    );
    for name in files {
        let holder = zones.address_of(&replica(["a1", "a2"], name));
        assert!(fully_cached(&holder, name), "{name} is not on its replica");
    }

    let again =
        crate::support::azimuth(&["--conf", conf.to_str().unwrap(), "load", "set/one", "set"]);
    assert!(again.status.success(), "{}", crate::support::show(&again));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains("loaded 3 of 3 files") && stdout.contains("3 already cached"),
        "{stdout}"
    );

    let missing =
        crate::support::azimuth(&["--conf", conf.to_str().unwrap(), "load", "nothing/here"]);
    assert_eq!(
        missing.status.code(),
        Some(1),
        "{}",
        crate::support::show(&missing)
    );
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("nothing/here: no such file or directory in the UFS"),
        "{stderr}"
    );
}
