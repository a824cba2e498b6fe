//! A zone whose packets are dropped, not refused: zone a's workers are
//! reached through a proxy the test controls (they advertise 127.0.0.2,
//! where the proxy listens, and serve on 127.0.0.1), and the proxy stops
//! forwarding in the middle of a read. Nothing is refused and no connection
//! closes: bytes just stop, as when a zone's network drops every packet.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use azimuth_client::Client;
use azimuth_cluster::config::SiteConfig;
use futures::StreamExt;

use crate::processes::{Etcd, Site, Worker, free_port, wait_for};
use crate::zones::CLUSTERS;

/// A TCP forwarder from `127.0.0.2:port` to `127.0.0.1:port` that can stop
/// forwarding: while dropping, it accepts and reads but passes nothing on,
/// either way.
struct DroppingProxy {
    dropping: Arc<AtomicBool>,
}

impl DroppingProxy {
    fn start(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.2", port)).expect("127.0.0.2 is loopback");
        let dropping = Arc::new(AtomicBool::new(false));
        let flag = dropping.clone();
        std::thread::spawn(move || {
            for downstream in listener.incoming().flatten() {
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else {
                    continue;
                };
                for (from, to) in [
                    (
                        downstream.try_clone().unwrap(),
                        upstream.try_clone().unwrap(),
                    ),
                    (upstream, downstream),
                ] {
                    let flag = flag.clone();
                    std::thread::spawn(move || pump(from, to, &flag));
                }
            }
        });
        DroppingProxy { dropping }
    }

    fn drop_packets(&self, dropping: bool) {
        self.dropping.store(dropping, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`; while `dropping`, what it reads is lost.
fn pump(mut from: TcpStream, mut to: TcpStream, dropping: &AtomicBool) {
    let mut buffer = vec![0u8; 16 << 10];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                // Held, not closed: the peer sees silence, never an error.
                while dropping.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[test]
fn reads_route_around_a_zone_that_drops_packets_mid_stream_and_trust_it_again_once_it_answers() {
    let site = Site::new();
    let etcd = Etcd::start("dropped");
    let ufs = site.dir.path().join("ufs");
    std::fs::create_dir_all(&ufs).unwrap();
    let data: Vec<u8> = (0..(32u32 << 20)).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(ufs.join("big"), &data).unwrap();
    let topology = site.topology(&[(&CLUSTERS, &etcd.url)]);
    let timeouts = "azimuth.client.connect.timeout=300ms\nazimuth.client.first.byte.timeout=1s\n";
    let confs = site.multi_az_confs(&CLUSTERS, &topology, timeouts);
    let ufs_arg = ufs.display().to_string();
    let mut proxies = Vec::new();
    let mut workers = Vec::new();
    for (conf, zone) in confs.iter().zip(["a", "b", "c"]) {
        for n in [1, 2] {
            let id = format!("{zone}{n}");
            let mut args = vec!["--ufs".to_owned(), ufs_arg.clone()];
            if zone == "a" {
                let port = free_port();
                proxies.push(DroppingProxy::start(port));
                args.extend(
                    [
                        "--listen",
                        &format!("127.0.0.1:{port}"),
                        "--host",
                        "127.0.0.2",
                    ]
                    .map(str::to_owned),
                );
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            workers.push(Worker::start(conf, &id, &args));
        }
    }

    let client_conf = site.write(
        "client.properties",
        &format!(
            "alluxio.cluster.name={}\nalluxio.multi.cluster.enabled=true\n\
             alluxio.multi.cluster.config.path={}\nalluxio.dora.client.ufs.root={}\n{timeouts}",
            CLUSTERS[0],
            topology.display(),
            ufs.display()
        ),
    );
    let config = SiteConfig::load(Some(&client_conf), |_| {}).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client: Client = runtime.block_on(Client::connect(&config)).unwrap();
    let seen = wait_for(Duration::from_secs(15), || {
        (client.view().workers().count() == 6).then_some(())
    });
    assert!(seen.is_some(), "the client never saw the six workers");

    // Cached in zone a first (read through its proxy), so that the read
    // below streams from there for long.
    let (read, explain) = runtime.block_on(client.read_all("big", 0, None));
    assert!(read.unwrap().as_ref() == &data[..], "{explain}");
    let first = explain.served_by.clone().unwrap();
    assert!(
        first.starts_with("worker a"),
        "zone a serves first: {explain}"
    );
    let started = Instant::now();
    let mut stream = runtime.block_on(async { client.read("big", 0, None) });
    let mut got = Vec::with_capacity(data.len());
    let mut dropped_at = None;
    runtime.block_on(async {
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.expect("the read survives the dropped zone"));
            if dropped_at.is_none() && got.len() > 2 << 20 {
                for proxy in &proxies {
                    proxy.drop_packets(true);
                }
                dropped_at = Some(got.len());
            }
        }
    });
    let took = started.elapsed();
    let explain = stream.explain();
    assert!(dropped_at.is_some());
    assert!(got == data, "bytes differ after routing around\n{explain}");
    assert!(
        explain.attempts[0].outcome.contains("timeout"),
        "the dropped zone's read ends by its timeout: {explain}"
    );
    let last = explain.served_by.clone().unwrap();
    assert!(
        !last.starts_with("worker a"),
        "another zone or the UFS finishes the read: {explain}"
    );
    // The first-byte timeout (1 s) for the silent stream, plus the rest of
    // 32 MiB from another zone on a loaded machine.
    assert!(took < Duration::from_secs(15), "{took:?}\n{explain}");

    // While dropping, new reads leave zone a out at once: it is not trusted.
    let (read, explain) = runtime.block_on(client.read_all("big", 0, Some(1000)));
    assert!(read.unwrap().as_ref() == &data[..1000], "{explain}");
    assert!(
        !explain
            .served_by
            .as_deref()
            .unwrap()
            .starts_with("worker a"),
        "{explain}"
    );

    // Once it answers again, a probe trusts it, and it serves its zone again.
    for proxy in &proxies {
        proxy.drop_packets(false);
    }
    let trusted = wait_for(Duration::from_secs(40), || {
        let (read, explain) = runtime.block_on(client.read_all("big", 0, Some(1000)));
        assert!(read.unwrap().as_ref() == &data[..1000], "{explain}");
        explain
            .served_by
            .as_deref()
            .is_some_and(|s| s.starts_with("worker a"))
            .then_some(())
    });
    assert!(
        trusted.is_some(),
        "zone a was not trusted again after it answered"
    );
    drop(workers);
}
