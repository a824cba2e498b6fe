//! `azimuth demo`, run as a user would, checked by its report and by what
//! it leaves behind: nothing.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::processes::wait_for;
use crate::support::{azimuth, show};

/// True when nothing listens at `address` any more.
fn closed(address: &str) -> bool {
    TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_millis(500)).is_err()
}

#[test]
fn the_demo_without_etcd_fails_no_read_fails_over_refills_by_passive_cache_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let run = azimuth(&[
        "demo",
        "--static",
        "--phase-seconds",
        "2",
        "--report",
        json.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", show(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("every check passed"), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(report["membership"].as_str().unwrap().starts_with("static"));
    let phases = report["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 4);
    for phase in phases {
        assert!(phase["reads"].as_u64().unwrap() > 0, "{phase}");
        assert_eq!(phase["failed"], 0, "{phase}");
        assert_eq!(phase["mismatched"], 0, "{phase}");
    }
    let tier = |phase: usize, name: &str| phases[phase]["reads_by_tier"][name].as_u64().unwrap();
    assert_eq!(
        tier(0, "local_cached"),
        phases[0]["reads"].as_u64().unwrap()
    );
    assert!(tier(1, "remote_cached") > 0);
    assert!(tier(2, "remote_cached") > 0 && tier(2, "local_cached") > 0);
    assert_eq!(phases[3]["cross_zone_bytes"], 0);
    // Zone a is trusted again by then: zone-local reads it, not the UFS.
    assert_eq!(tier(3, "ufs"), 0, "{}", phases[3]);
    assert_ne!(report["plan_before"], report["plan_after"]);
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["passed"] == true)
    );
    for worker in report["workers"].as_array().unwrap() {
        let address = worker[1].as_str().unwrap();
        assert!(closed(address), "worker {worker} still listens");
    }
    let demo_dir = report["dir"].as_str().unwrap();
    assert!(
        !std::path::Path::new(demo_dir).exists(),
        "{demo_dir} was left behind"
    );
}

#[test]
fn the_demo_kept_running_with_etcd_stops_everything_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_azimuth"))
        .args(["demo", "--phase-seconds", "1", "--keep-running"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let last = line.contains("policy check");
            let _ = tx.send(line);
            if last {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(180)) {
        let done = line.contains("policy check");
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    assert!(text.contains("every check passed"), "{text}");
    assert!(
        text.contains("membership: etcd at http://127.0.0.1:"),
        "{text}"
    );
    let addresses: Vec<String> = printed
        .iter()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("etcd: http://")
                .map(str::to_owned)
                .or_else(|| {
                    l.trim()
                        .starts_with("worker ")
                        .then(|| l.rsplit_once("http://").unwrap().1.to_owned())
                })
        })
        .collect();
    assert_eq!(addresses.len(), 7, "etcd and six workers: {text}");
    assert!(
        addresses.iter().all(|a| !closed(a)),
        "the playground should be up"
    );
    let site = printed
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("azimuth --conf ")?
                .split_once(" read ")
                .map(|(s, _)| s.to_owned())
        })
        .expect("a read command to try");
    let read = azimuth(&[
        "--conf",
        &site,
        "read",
        "datasets/part-0001",
        "--length",
        "100",
    ]);
    assert!(read.status.success(), "{}", show(&read));
    assert_eq!(read.stdout.len(), 100);

    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_for(Duration::from_secs(30), || child.try_wait().unwrap());
    assert!(status.is_some(), "the demo did not stop on Ctrl-C");
    for address in &addresses {
        assert!(closed(address), "{address} still listens after Ctrl-C");
    }
    let dir = std::path::Path::new(&site).parent().unwrap();
    assert!(!dir.exists(), "{} was left behind", dir.display());
}
