//! The read path across zones with real etcd, real workers (three clusters
//! of two) and a local-directory UFS: where reads go, failover when a zone
//! dies, mid-stream failures, and UFS fallback.

use std::path::{Path, PathBuf};
use std::time::Duration;

use azimuth::client::Client;
use azimuth::client::explain::Explain;
use azimuth::config::SiteConfig;
use rand::{Rng, SeedableRng};

use crate::processes::{Etcd, Site, Worker, wait_for};

const CLUSTERS: [&str; 3] = ["alx-ns-alluxio-a", "alx-ns-alluxio-b", "alx-ns-2-alluxio-c"];

/// Three clusters of two workers sharing one etcd and one UFS directory.
struct Zones {
    site: Site,
    _etcd: Etcd,
    ufs: PathBuf,
    topology: PathBuf,
    workers: Vec<Worker>,
    runtime: tokio::runtime::Runtime,
}

impl Zones {
    fn start() -> Self {
        let site = Site::new();
        let etcd = Etcd::start("reads");
        let ufs = site.dir.path().join("ufs");
        std::fs::create_dir_all(&ufs).unwrap();
        let topology = site.topology(&[(&CLUSTERS, &etcd.url)]);
        let confs = site.multi_az_confs(&CLUSTERS, &topology, "");
        let ufs_arg = ufs.display().to_string();
        let workers = confs
            .iter()
            .zip(["a", "b", "c"])
            .flat_map(|(conf, z)| {
                let ufs_arg = ufs_arg.clone();
                [1, 2].map(move |n| Worker::start(conf, &format!("{z}{n}"), &["--ufs", &ufs_arg]))
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Zones {
            site,
            _etcd: etcd,
            ufs,
            topology,
            workers,
            runtime,
        }
    }

    /// A UFS file of `len` random bytes; returns them.
    fn file(&self, name: &str, len: usize) -> Vec<u8> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(len as u64);
        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        std::fs::write(self.ufs.join(name), &data).unwrap();
        data
    }

    /// A client of cluster a with `extra` site lines, once it sees all six
    /// workers.
    fn client(&self, name: &str, extra: &str) -> Client {
        let conf = self.site.write(
            &format!("client-{name}.properties"),
            &format!(
                "alluxio.cluster.name={}\nalluxio.multi.cluster.enabled=true\n\
                 alluxio.multi.cluster.config.path={}\nalluxio.dora.client.ufs.root={}\n{extra}",
                CLUSTERS[0],
                self.topology.display(),
                self.ufs.display()
            ),
        );
        let config = SiteConfig::load(Some(&conf), |_| {}).unwrap();
        let client = self.runtime.block_on(Client::connect(&config)).unwrap();
        let seen = wait_for(Duration::from_secs(15), || {
            let (_, explain) = self.read(&client, "absent-probe", 0, Some(0));
            (explain.candidates.len() == 3).then_some(())
        });
        assert!(seen.is_some(), "the client never saw all three clusters");
        client
    }

    fn read(
        &self,
        client: &Client,
        path: &str,
        offset: u64,
        length: Option<u64>,
    ) -> (Result<Vec<u8>, String>, Explain) {
        let (result, explain) = self.runtime.block_on(client.read_all(path, offset, length));
        (
            result.map(|b| b.to_vec()).map_err(|e| e.to_string()),
            explain,
        )
    }

    fn worker_mut(&mut self, id: &str) -> &mut Worker {
        self.workers.iter_mut().find(|w| w.id == id).unwrap()
    }

    fn address_of(&self, id: &str) -> String {
        self.workers
            .iter()
            .find(|w| w.id == id)
            .unwrap()
            .address
            .clone()
    }
}

fn served_by_cluster(explain: &Explain) -> String {
    let served = explain.served_by.clone().expect("served");
    let id = served.trim_start_matches("worker ");
    explain
        .candidates
        .iter()
        .find(|c| c.worker == id)
        .map_or_else(|| served.clone(), |c| c.cluster.clone())
}

fn load(address: &str, path: &Path) {
    let response = reqwest::blocking::Client::new()
        .post(format!("http://{address}/load/{}", path.display()))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

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
    let ring = azimuth::client::ring::HashRing::new(["b1", "b2"]);
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
