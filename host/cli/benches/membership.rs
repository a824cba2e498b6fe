//! How fast membership and policy changes reach a client, with real etcd and
//! worker processes (release build):
//! - a worker killed with SIGKILL until it leaves a client's view, against
//!   its lease TTL (the bound we promise);
//! - a worker stopped with SIGTERM until it leaves the view;
//! - `policy publish` until every worker reports the new sha256.
//!
//! Run: `cargo bench -p azimuth --bench membership` (needs `etcd` on PATH).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use azimuth_cluster::membership::MembershipView;
use azimuth_policy::sha256_hex;
use azimuth_policy_tools::builder::{BuildOptions, build_policy};

#[path = "../../../tests/all/processes.rs"]
#[allow(dead_code)]
mod processes;
use processes::{Etcd, Site, ViewFollower, Worker};

const TRIALS: usize = 5;

fn ids(v: &MembershipView) -> Vec<String> {
    ViewFollower::ids(v)
}

fn summary(name: &str, samples: &mut [Duration], reference: Option<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = samples[samples.len() / 2];
    let ratio = reference.map_or(String::new(), |r| {
        format!("  median/TTL {:.2}", median.as_secs_f64() / r.as_secs_f64())
    });
    println!(
        "{name:<44} min {:>7.1} ms  median {:>7.1} ms  max {:>7.1} ms{ratio}",
        ms(samples[0]),
        ms(median),
        ms(samples[samples.len() - 1])
    );
}

fn removal(etcd: &Etcd, ttl_secs: u64) {
    let site = Site::new();
    let extra = format!("alluxio.worker.failure.detection.timeout={ttl_secs}s\n");
    let conf = site.single_cluster("bench", &etcd.url, &extra);
    let follower = ViewFollower::one_cluster("bench", &etcd.url);
    let (mut killed, mut stopped) = (Vec::new(), Vec::new());
    for trial in 0..TRIALS {
        let id = format!("k{ttl_secs}-{trial}");
        let mut worker = Worker::start(&conf, &id, &[]);
        follower
            .wait(Duration::from_secs(10), |v| ids(v).contains(&id))
            .expect("worker registers");
        // Let a few renewals happen, as in a worker that has been up a while.
        std::thread::sleep(Duration::from_millis(1200));
        let t = Instant::now();
        worker.kill();
        let (_, seen) = follower
            .wait(Duration::from_secs(ttl_secs * 3), |v| !ids(v).contains(&id))
            .expect("removed");
        killed.push(seen - t);

        let id = format!("s{ttl_secs}-{trial}");
        let mut worker = Worker::start(&conf, &id, &[]);
        follower
            .wait(Duration::from_secs(10), |v| ids(v).contains(&id))
            .expect("worker registers");
        let t = Instant::now();
        worker.terminate();
        let (_, seen) = follower
            .wait(Duration::from_secs(10), |v| !ids(v).contains(&id))
            .expect("removed");
        stopped.push(seen - t);
    }
    let ttl = Duration::from_secs(ttl_secs);
    summary(
        &format!("SIGKILL -> gone from view (TTL {ttl_secs}s)"),
        &mut killed,
        Some(ttl),
    );
    summary(
        &format!("SIGTERM -> gone from view (TTL {ttl_secs}s)"),
        &mut stopped,
        None,
    );
}

fn publish(etcd: &Etcd) {
    let site = Site::new();
    let conf = site.single_cluster("bench", &etcd.url, "azimuth.policy.name=bench\n");
    let follower = ViewFollower::one_cluster("bench", &etcd.url);
    let _workers: Vec<Worker> = (0..3)
        .map(|i| Worker::start(&conf, &format!("p{i}"), &[]))
        .collect();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let components: Vec<Vec<u8>> = ["lowest-latency", "default"]
        .iter()
        .map(|name| {
            build_policy(&BuildOptions {
                crate_dir: repo.join("policies").join(name),
                features: vec![],
                toolchain: None,
            })
            .expect("policy builds")
            .component
        })
        .collect();
    let mut samples = Vec::new();
    for trial in 0..TRIALS {
        let wasm = &components[trial % 2];
        let sha = sha256_hex(wasm);
        let file = site.write("policy.wasm", "");
        std::fs::write(&file, wasm).unwrap();
        let t = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_azimuth"))
            .arg("--conf")
            .arg(&conf)
            .args(["policy", "publish"])
            .arg(&file)
            .args(["--name", "bench"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let (_, seen) = follower
            .wait(Duration::from_secs(20), |v| {
                v.workers().count() == 3
                    && v.workers()
                        .all(|w| w.policy_sha256.as_deref() == Some(sha.as_str()))
            })
            .expect("every worker swaps");
        samples.push(seen - t);
    }
    summary(
        "policy publish -> 3 of 3 workers report it",
        &mut samples,
        None,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let etcd = Etcd::start("bench");
    println!(
        "{TRIALS} trials each; one etcd {} on loopback; a client view followed in-process",
        etcd.url
    );
    removal(&etcd, 2);
    removal(&etcd, 5);
    publish(&etcd);
}
