//! The embedding examples (`examples/embedding/`), built by `cargo test`
//! with the crates they show and run here as an embedder would run them.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{policy, repo, show};
use crate::zones::{CLUSTERS, Zones};

/// An example's binary: `cargo test` builds the examples of every package
/// into `examples/` beside the test binaries' `deps/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.is_file(),
        "{} is not built: run the tests with `cargo test --workspace`, which builds the examples",
        path.display()
    );
    path
}

#[test]
fn the_rank_example_ranks_with_the_policy_crate_alone_and_takes_a_policy_file() {
    let out = Command::new(example("rank-requests"))
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("policy embedded:default"), "{text}");
    // The default order: fully cached first with prefer-cached (a2 is
    // unhealthy, so b1), local first without; a remote first source leaves
    // a passive replica on the healthy local worker.
    assert!(
        text.contains("prefer cached true: send to b1 > a1 > c1 > origin; copy to a1"),
        "{text}"
    );
    assert!(
        text.contains("prefer cached false: send to a1 > b1 > c1 > origin; copy to nowhere"),
        "{text}"
    );
    assert!(text.contains("2 decisions, 0 fallbacks"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lowest-latency.wasm");
    std::fs::write(&file, policy("lowest-latency", &[])).unwrap();
    let out = Command::new(example("rank-requests"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("policy {}", file.display())),
        "{text}"
    );
    // Fully cached and fastest first, whatever the setting.
    assert!(
        text.contains("prefer cached false: send to b1 > a1 > c1 > origin; copy to a1"),
        "{text}"
    );
}

/// The HTTP example serving reads for a client of the first cluster.
struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(zones: &Zones) -> Self {
        let conf = zones.site.write(
            "http-reads.properties",
            &format!(
                "alluxio.cluster.name={}\nalluxio.multi.cluster.enabled=true\n\
                 alluxio.multi.cluster.config.path={}\nalluxio.dora.client.ufs.root={}\n",
                CLUSTERS[0],
                zones.topology.display(),
                zones.ufs.display()
            ),
        );
        let mut child = Command::new(example("http-reads"))
            .arg(&conf)
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("the example printed {line:?}"))
            .to_owned();
        Server { child, address }
    }

    fn get(&self, path: &str, range: Option<&str>) -> (u16, Vec<u8>) {
        let mut request = reqwest::blocking::Client::new()
            .get(format!("http://{}/{path}", self.address))
            .timeout(Duration::from_secs(30));
        if let Some(range) = range {
            request = request.header("Range", range);
        }
        let response = request.send().unwrap();
        (
            response.status().as_u16(),
            response.bytes().unwrap().to_vec(),
        )
    }
}

#[test]
fn the_http_example_serves_reads_through_the_client_and_they_fail_over_across_zones() {
    let mut zones = Zones::start();
    let data = zones.file("served", 300_000);
    let server = Server::start(&zones);
    // The client follows membership: wait until a read is served by a worker.
    let served = crate::processes::wait_for(Duration::from_secs(20), || {
        let (status, body) = server.get("served", None);
        (status == 200 && body == data).then_some(())
    });
    assert!(served.is_some(), "the example never served the file");
    let (status, body) = server.get("served", Some("bytes=1000-70999"));
    assert_eq!(status, 206);
    assert!(body == data[1000..71_000], "ranged bytes differ");

    for id in ["a1", "a2"] {
        zones.worker_mut(id).kill();
    }
    let (status, body) = server.get("served", Some("bytes=250000-"));
    assert_eq!(status, 206);
    assert!(body == data[250_000..], "bytes after the zone died differ");

    let metrics = reqwest::blocking::get(format!("http://{}/metrics", server.address))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("azimuth_client_failovers_total{cluster=\"alx-ns-alluxio-a\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("azimuth_policy_active_info"), "{metrics}");
    let (status, body) = server.get("no/such/file", None);
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
}
