//! Policies distributed through etcd: published once, followed by every
//! worker of every cluster; corrupt or invalid components are refused.

use std::path::Path;
use std::time::{Duration, Instant};

use azimuth_cluster::etcd::EtcdTarget;
use azimuth_cluster::membership::keys::{policy_meta_key, policy_wasm_key};
use azimuth_policy::embedded::DEFAULT_POLICY;
use azimuth_policy::sha256_hex;

use crate::processes::{Etcd, Site, Worker, wait_for};
use crate::support::{azimuth, policy, show};

const CLUSTERS: [&str; 3] = ["alx-ns-alluxio-a", "alx-ns-alluxio-b", "alx-ns-2-alluxio-c"];

/// `policy status --json`: each worker's (cluster/id, sha256).
fn worker_policies(conf: &Path) -> Vec<(String, Option<String>)> {
    let out = status(conf, &["--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                format!(
                    "{}/{}",
                    w["cluster"].as_str().unwrap(),
                    w["id"].as_str().unwrap()
                ),
                w["policy_sha256"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// Waits until all three workers report `sha`; returns how long it took.
fn all_run(conf: &Path, sha: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    wait_for(limit, || {
        let workers = worker_policies(conf);
        (workers.len() == 3 && workers.iter().all(|(_, s)| s.as_deref() == Some(sha)))
            .then(|| start.elapsed())
    })
}

/// `policy publish FILE --name routing` with the site file `conf`.
fn publish(conf: &Path, file: &Path) -> std::process::Output {
    azimuth(&[
        "--conf",
        conf.to_str().unwrap(),
        "policy",
        "publish",
        file.to_str().unwrap(),
        "--name",
        "routing",
    ])
}

/// `policy status --name routing` with `extra` flags.
fn status(conf: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--conf",
        conf.to_str().unwrap(),
        "policy",
        "status",
        "--name",
        "routing",
    ];
    args.extend_from_slice(extra);
    azimuth(&args)
}

/// Writes a policy straight into one etcd, bypassing `publish`'s checks.
fn write_raw(url: &str, name: &str, wasm: &[u8], claimed_sha: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let target = EtcdTarget::new(&[url.to_owned()], &Default::default());
        let mut client = target.connect().await.unwrap();
        let meta = serde_json::json!({"sha256": claimed_sha, "size": wasm.len(), "published_at_ms": 0, "source": "test"});
        client.put(policy_wasm_key(name), wasm.to_vec(), None).await.unwrap();
        client.put(policy_meta_key(name), meta.to_string(), None).await.unwrap();
    });
}

#[test]
fn a_published_policy_reaches_every_worker_and_bad_ones_are_refused() {
    let etcds: Vec<Etcd> = ["pa", "pb", "pc"].iter().map(|n| Etcd::start(n)).collect();
    let site = Site::new();
    let topology = site.topology(&[
        (&[CLUSTERS[0]], &etcds[0].url),
        (&[CLUSTERS[1]], &etcds[1].url),
        (&[CLUSTERS[2]], &etcds[2].url),
    ]);
    let confs = site.multi_az_confs(&CLUSTERS, &topology, "azimuth.policy.name=routing\n");
    let workers: Vec<Worker> = confs.iter().map(|c| Worker::start(c, "w1", &[])).collect();
    let conf = &confs[0];

    // Nothing published yet: everyone runs the embedded default.
    let default_sha = sha256_hex(DEFAULT_POLICY);
    assert!(
        all_run(conf, &default_sha, Duration::from_secs(20)).is_some(),
        "{:?}",
        worker_policies(conf)
    );

    // Publish: every worker of every cluster swaps, without restart.
    let lowest = policy("lowest-latency", &[]);
    let lowest_sha = sha256_hex(&lowest);
    let file = site.write("lowest-latency.wasm", "");
    std::fs::write(&file, &lowest).unwrap();
    let out = publish(conf, &file);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches(&format!("published routing (sha256 {lowest_sha}"))
            .count(),
        3,
        "{}",
        show(&out)
    );
    let took = all_run(conf, &lowest_sha, Duration::from_secs(20));
    assert!(
        took.is_some(),
        "not every worker swapped: {:?}",
        worker_policies(conf)
    );

    // `publish` refuses a component that is not a policy, and writes nothing.
    let junk = site.write("junk.wasm", "not wasm at all");
    let out = publish(conf, &junk);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a usable policy"),
        "{}",
        show(&out)
    );

    // Bytes that do not match the stored sha256, and a component that does
    // not load (it imports a function): nobody switches.
    let refused_before: Vec<u64> = workers
        .iter()
        .map(|w| w.metric("azimuth_policy_swaps_refused_total"))
        .collect();
    write_raw(
        &etcds[0].url,
        "routing",
        DEFAULT_POLICY,
        &lowest_sha.replace(&lowest_sha[..4], "0000"),
    );
    let importing = policy("test-imports", &[]);
    write_raw(
        &etcds[1].url,
        "routing",
        &importing,
        &sha256_hex(&importing),
    );
    // Evidence that each refused: the engines of the workers of a and b
    // counted one refusal more (the third etcd was not written to).
    let refused = |w: &Worker| w.metric("azimuth_policy_swaps_refused_total");
    let refusals = wait_for(Duration::from_secs(20), || {
        let counts: Vec<u64> = workers.iter().map(refused).collect();
        (counts[0] > refused_before[0] && counts[1] > refused_before[1]).then_some(counts)
    });
    assert!(
        refusals.is_some(),
        "the workers of a and b did not refuse: {:?} before, {:?} now",
        refused_before,
        workers.iter().map(refused).collect::<Vec<_>>()
    );
    assert_eq!(
        refused(&workers[2]),
        refused_before[2],
        "c saw no bad policy"
    );
    assert!(
        worker_policies(conf)
            .iter()
            .all(|(_, s)| s.as_deref() == Some(lowest_sha.as_str())),
        "a worker switched to a refused policy: {:?}",
        worker_policies(conf)
    );
    let out = status(conf, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("UNUSABLE, hosts refuse it"), "{}", show(&out));

    // Publishing a good one again still works after the refusals.
    let default_file = site.write("default.wasm", "");
    std::fs::write(&default_file, DEFAULT_POLICY).unwrap();
    let out = publish(conf, &default_file);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        all_run(conf, &default_sha, Duration::from_secs(20)).is_some(),
        "{:?}",
        worker_policies(conf)
    );
    let out = status(conf, &[]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3 of 3 workers run the published routing"),
        "{}",
        show(&out)
    );
}
