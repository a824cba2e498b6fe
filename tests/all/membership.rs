//! Membership across zones with real etcd and worker processes: the three
//! deployment patterns, workers dying and stopping, etcd restarting.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::processes::{Etcd, Site, ViewFollower, Worker, wait_for};
use crate::support::{azimuth, show};

const CLUSTERS: [&str; 3] = ["alx-ns-alluxio-a", "alx-ns-alluxio-b", "alx-ns-2-alluxio-c"];

/// Site files for the three clusters, each naming its cluster and the topology.
fn site_files(site: &Site, topology: &Path, extra: &str) -> Vec<PathBuf> {
    site.multi_az_confs(&CLUSTERS, topology, extra)
}

/// Starts two workers per cluster; returns them.
fn two_workers_each(confs: &[PathBuf]) -> Vec<Worker> {
    confs
        .iter()
        .zip(["a", "b", "c"])
        .flat_map(|(conf, z)| [1, 2].map(|n| Worker::start(conf, &format!("{z}{n}"), &[])))
        .collect()
}

/// `info nodes --json` from every cluster's site file lists all six workers
/// under their clusters.
fn assert_everyone_sees_six(confs: &[PathBuf]) {
    for conf in confs {
        let listed = wait_for(Duration::from_secs(10), || {
            let out = azimuth(&["--conf", conf.to_str().unwrap(), "info", "nodes", "--json"]);
            let view: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            let mut seen: Vec<(String, String)> = view["groups"]
                .as_array()?
                .iter()
                .flat_map(|g| g["workers"].as_array().cloned().unwrap_or_default())
                .map(|w| {
                    (
                        w["cluster"].as_str().unwrap().to_owned(),
                        w["id"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            seen.sort();
            (out.status.success() && seen.len() == 6).then_some(seen)
        })
        .unwrap_or_else(|| {
            panic!(
                "info nodes with {} never listed six workers",
                conf.display()
            )
        });
        let expected: Vec<(String, String)> = CLUSTERS
            .iter()
            .zip(["a", "b", "c"])
            .flat_map(|(c, z)| [1, 2].map(|n| (c.to_string(), format!("{z}{n}"))))
            .collect();
        let mut expected = expected;
        expected.sort();
        assert_eq!(listed, expected);
    }
    // The table groups workers under their cluster.
    let out = azimuth(&["--conf", confs[0].to_str().unwrap(), "info", "nodes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    for cluster in CLUSTERS {
        assert!(
            text.contains(&format!("cluster {cluster} (etcd ")),
            "{text}"
        );
    }
}

/// Registers two workers in each cluster, with each cluster's etcd at
/// `urls[i]`, and checks that every cluster sees all six.
fn six_workers_seen_from_everywhere(urls: [&str; 3], extra: &str) {
    let site = Site::new();
    let topology = site.topology(&[
        (&[CLUSTERS[0]], urls[0]),
        (&[CLUSTERS[1]], urls[1]),
        (&[CLUSTERS[2]], urls[2]),
    ]);
    let confs = site_files(&site, &topology, extra);
    let _workers = two_workers_each(&confs);
    assert_everyone_sees_six(&confs);
}

#[test]
fn info_nodes_lists_all_six_workers_with_an_etcd_per_cluster() {
    let etcds: Vec<Etcd> = ["ea", "eb", "ec"].iter().map(|n| Etcd::start(n)).collect();
    six_workers_seen_from_everywhere([&etcds[0].url, &etcds[1].url, &etcds[2].url], "");
}

#[test]
fn info_nodes_lists_all_six_workers_with_one_shared_etcd() {
    let etcd = Etcd::start("shared");
    six_workers_seen_from_everywhere([&etcd.url; 3], "");
}

#[test]
fn info_nodes_lists_all_six_workers_with_an_external_etcd() {
    let etcd = Etcd::start("external");
    let extra = format!("alluxio.etcd.endpoints={}\n", etcd.url);
    six_workers_seen_from_everywhere([&etcd.url; 3], &extra);
}

#[test]
fn info_nodes_reports_an_unreachable_group_and_lists_the_others() {
    let live = Etcd::start("live");
    let mut dead = Etcd::start("dead");
    let site = Site::new();
    let topology = site.topology(&[(&[CLUSTERS[0]], &live.url), (&[CLUSTERS[1]], &dead.url)]);
    let confs = site_files(&site, &topology, "");
    let _a1 = Worker::start(&confs[0], "a1", &[]);
    let info_nodes = || azimuth(&["--conf", confs[0].to_str().unwrap(), "info", "nodes"]);
    // A worker announces its address before its registration reaches etcd
    // (it serves even while etcd is down): wait until it is listed.
    wait_for(Duration::from_secs(10), || {
        let out = info_nodes();
        (out.status.success() && String::from_utf8_lossy(&out.stdout).contains("a1")).then_some(())
    })
    .expect("a1 registered with both etcds up");
    dead.kill();
    let out = info_nodes();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stdout.contains("a1"), "{}", show(&out));
    assert!(
        stdout.contains(&format!(
            "cluster {} (etcd {}: UNREACHABLE",
            CLUSTERS[1], dead.url
        )),
        "{}",
        show(&out)
    );
    assert!(
        stderr.contains(&format!(
            "etcd {} of cluster(s) {} is unreachable",
            dead.url, CLUSTERS[1]
        )),
        "{}",
        show(&out)
    );
}

/// One cluster with a 3 s lease, followed in-process like a client.
fn one_cluster(etcd: &Etcd, ttl: &str) -> (Site, PathBuf, ViewFollower) {
    let site = Site::new();
    let extra = format!("alluxio.worker.failure.detection.timeout={ttl}\n");
    let conf = site.single_cluster("alx-a", &etcd.url, &extra);
    let follower = ViewFollower::one_cluster("alx-a", &etcd.url);
    (site, conf, follower)
}

#[test]
fn dead_workers_leave_the_view_within_the_lease_ttl_and_stopped_ones_within_a_second() {
    let etcd = Etcd::start("life");
    let (_site, conf, follower) = one_cluster(&etcd, "3s");
    let mut w1 = Worker::start(&conf, "w1", &[]);
    let mut w2 = Worker::start(&conf, "w2", &[]);
    let _w3 = Worker::start(&conf, "w3", &[]);
    let all = |v: &azimuth_cluster::membership::MembershipView| {
        ViewFollower::ids(v) == ["w1", "w2", "w3"]
    };
    assert!(
        follower.wait(Duration::from_secs(10), all).is_some(),
        "{:?}",
        follower.view()
    );

    let killed = Instant::now();
    w1.kill();
    let (_, seen) = follower
        .wait(Duration::from_secs(10), |v| {
            !ViewFollower::ids(v).contains(&"w1".into())
        })
        .expect("a killed worker leaves the view");
    let after_kill = seen - killed;
    // The lease (3 s) plus etcd's expiry granularity (up to ~1 s).
    assert!(
        after_kill <= Duration::from_millis(4500),
        "killed worker left after {after_kill:?}"
    );

    let stopped = Instant::now();
    assert!(w2.terminate().success(), "a worker exits 0 after SIGTERM");
    let (_, seen) = follower
        .wait(Duration::from_secs(5), |v| {
            !ViewFollower::ids(v).contains(&"w2".into())
        })
        .expect("a stopped worker leaves the view");
    assert!(
        seen - stopped <= Duration::from_secs(1),
        "stopped worker left after {:?}",
        seen - stopped
    );

    let _w1_again = Worker::start(&conf, "w1", &[]);
    assert!(
        follower
            .wait(Duration::from_secs(5), |v| ViewFollower::ids(v)
                == ["w1", "w3"])
            .is_some(),
        "a restarted worker comes back: {:?}",
        follower.view()
    );
}

#[test]
fn after_an_etcd_restart_workers_reregister_and_no_stale_entry_remains() {
    let mut etcd = Etcd::start("phoenix");
    let (_site, conf, follower) = one_cluster(&etcd, "3s");
    let _survivor = Worker::start(&conf, "survivor", &[]);
    let mut casualty = Worker::start(&conf, "casualty", &[]);
    let both = |v: &azimuth_cluster::membership::MembershipView| {
        ViewFollower::ids(v) == ["casualty", "survivor"]
    };
    assert!(follower.wait(Duration::from_secs(10), both).is_some());

    etcd.kill();
    // The view goes stale but keeps what it knew: reads must go on.
    let (view, _) = follower
        .wait(Duration::from_secs(10), |v| {
            matches!(
                v.groups[0].status,
                azimuth_cluster::membership::GroupStatus::Stale { .. }
            )
        })
        .expect("the view is marked stale while etcd is down");
    assert_eq!(ViewFollower::ids(&view), ["casualty", "survivor"]);

    // A worker dies while etcd is down: nobody can see it go.
    casualty.kill();
    std::thread::sleep(Duration::from_secs(1));
    etcd.restart();

    let (view, _) = follower
        .wait(Duration::from_secs(15), |v| {
            v.groups[0].status == azimuth_cluster::membership::GroupStatus::Live
                && ViewFollower::ids(v) == ["survivor"]
        })
        .unwrap_or_else(|| {
            panic!(
                "the view recovers without the dead worker: {:?}",
                follower.view()
            )
        });
    assert_eq!(view.groups[0].workers.len(), 1);

    // The survivor's key stays alive past several TTLs (its lease is kept alive again).
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(ViewFollower::ids(&follower.view()), ["survivor"]);
}

#[test]
fn static_membership_lists_workers_from_a_file_without_etcd() {
    let site = Site::new();
    let workers_file = site.write("workers", "");
    let conf = site.static_cluster(&workers_file, "");
    let worker = Worker::start(&conf, "w1", &[]);
    std::fs::write(&workers_file, format!("w1 {}\n", worker.address)).unwrap();
    let out = azimuth(&["--conf", conf.to_str().unwrap(), "info", "nodes", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["groups"][0]["status"]["state"], "static");
    assert_eq!(view["groups"][0]["workers"][0]["id"], "w1");
    let port: u64 = worker.address.rsplit_once(':').unwrap().1.parse().unwrap();
    assert_eq!(view["groups"][0]["workers"][0]["ports"]["http"], port);
}

#[test]
fn a_worker_whose_lease_is_revoked_registers_again() {
    let etcd = Etcd::start("revoke");
    let (_site, conf, follower) = one_cluster(&etcd, "3s");
    let _worker = Worker::start(&conf, "w1", &[]);
    assert!(
        follower
            .wait(Duration::from_secs(10), |v| ViewFollower::ids(v) == ["w1"])
            .is_some()
    );

    // Revoke its lease behind its back, as an operator or a lost lease would.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let revoked = runtime.block_on(async {
        let target = azimuth_cluster::etcd::EtcdTarget {
            endpoints: vec![etcd.url.clone()],
            credentials: None,
            tls: None,
        };
        let mut client = target.connect().await.unwrap();
        let key = azimuth_cluster::membership::keys::worker_key("alx-a", "w1");
        let lease = client.get(key, None).await.unwrap().kvs()[0].lease();
        client.lease_revoke(lease).await.unwrap();
        lease
    });
    let gone = follower.wait(Duration::from_secs(5), |v| ViewFollower::ids(v).is_empty());
    assert!(gone.is_some(), "revoking lease {revoked} removes the key");
    let back = follower.wait(Duration::from_secs(10), |v| ViewFollower::ids(v) == ["w1"]);
    assert!(
        back.is_some(),
        "the worker registers again under a new lease"
    );
}
