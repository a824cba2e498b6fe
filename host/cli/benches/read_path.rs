//! The read path end to end, with real etcd and three clusters of two real
//! worker processes (release build), on loopback:
//!
//! - latency of 4 KiB and 64 KiB cached reads through the client, against a
//!   plain HTTP GET of the same bytes from the same worker, interleaved in
//!   the same run (p50, p99, and the client's extra cost);
//! - failover: the first read and the later reads after the local zone is
//!   killed (connections refused), and after it stops answering (SIGSTOP:
//!   connections are accepted and nothing answers, as when packets are
//!   dropped), against the steady state before.
//!
//! Run: `cargo bench -p azimuth --bench read_path` (needs `etcd` on PATH).

use std::time::{Duration, Instant};

use azimuth_client::Client;

#[path = "../../../tests/all/processes.rs"]
#[allow(dead_code)]
mod processes;
#[path = "../../../tests/all/zones.rs"]
#[allow(dead_code)]
mod zones;
use zones::{CLUSTERS, Zones, served_by_cluster};

const LATENCY_SAMPLES: usize = 3000;
const FAILOVER_SAMPLES: usize = 1000;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The worker of cluster a holding `path`, and its address.
fn local_replica(zones: &Zones, path: &str) -> String {
    let ring = azimuth_client::ring::HashRing::new(["a1", "a2"]);
    zones.address_of(ring.replicas(path, 1)[0])
}

fn latency(zones: &Zones, client: &Client, label: &str) {
    let data = zones.file("hot", 1 << 20);
    let address = local_replica(zones, "hot");
    zones::load(&address, std::path::Path::new("hot"));
    // The reference: one kept-alive connection of hyper's, driven by the
    // task that reads, the least a GET can cost in Rust. (hyper_util's
    // pooled client, the reference before, runs each connection in a task
    // of its own: 40-60 us more per GET here, more than the read path's GET
    // /files now costs; see host/client/src/connections.rs.)
    let mut http = zones.runtime.block_on(PlainGet::connect(&address));
    println!("\n{label}: {LATENCY_SAMPLES} reads of each size, interleaved with plain GETs");
    println!(
        "{:<8} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "size", "client p50", "GET p50", "client p99", "GET p99", "p50 ratio", "p50 extra"
    );
    for size in [4096u64, 65_536] {
        let (mut through, mut plain) = (Vec::new(), Vec::new());
        zones.runtime.block_on(async {
            for i in 0..LATENCY_SAMPLES + 200 {
                let offset = (i as u64 * 7919 * 4096) % (data.len() as u64 - size);
                let through_client = async {
                    let t = Instant::now();
                    let (bytes, _) = client.read_all("hot", offset, Some(size)).await;
                    assert_eq!(bytes.expect("read").len() as u64, size);
                    t.elapsed()
                };
                let plain_get = async {
                    let t = Instant::now();
                    let request = http::Request::get("/files/hot")
                        .header("Host", &address)
                        .header("Range", format!("bytes={offset}-{}", offset + size - 1))
                        .body(http_body_util::Empty::new())
                        .unwrap();
                    assert_eq!(http.get(request).await, size);
                    t.elapsed()
                };
                // Alternate which goes first: the second of a pair meets a
                // worker still finishing the first.
                let (client_time, get_time) = if i % 2 == 0 {
                    let c = through_client.await;
                    (c, plain_get.await)
                } else {
                    let g = plain_get.await;
                    (through_client.await, g)
                };
                if i >= 200 {
                    through.push(client_time);
                    plain.push(get_time);
                }
            }
        });
        let (c50, g50) = (percentile(&mut through, 0.5), percentile(&mut plain, 0.5));
        let (c99, g99) = (percentile(&mut through, 0.99), percentile(&mut plain, 0.99));
        println!(
            "{:<8} {:>9.1} us {:>9.1} us {:>9.1} us {:>9.1} us {:>9.2}x {:>7.1} us",
            format!("{} KiB", size / 1024),
            us(c50),
            us(g50),
            us(c99),
            us(g99),
            us(c50) / us(g50),
            us(c50) - us(g50)
        );
    }
}

/// A GET on one HTTP/1.1 connection that the calling task drives itself.
struct PlainGet {
    send: hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    connection: hyper::client::conn::http1::Connection<
        hyper_util::rt::TokioIo<tokio::net::TcpStream>,
        http_body_util::Empty<bytes::Bytes>,
    >,
}

impl PlainGet {
    async fn connect(address: &str) -> Self {
        let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (send, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .unwrap();
        Self { send, connection }
    }

    /// Sends `request` and reads the body to its end; its length.
    async fn get(&mut self, request: http::Request<http_body_util::Empty<bytes::Bytes>>) -> u64 {
        use std::future::{Future, poll_fn};
        use std::pin::Pin;
        let Self { send, connection } = self;
        poll_fn(|cx| {
            assert!(Pin::new(&mut *connection).poll(cx).is_pending(), "closed");
            send.poll_ready(cx)
        })
        .await
        .unwrap();
        let mut answer = std::pin::pin!(send.send_request(request));
        let response = poll_fn(|cx| {
            let _ = Pin::new(&mut *connection).poll(cx);
            answer.as_mut().poll(cx)
        })
        .await
        .unwrap();
        let mut body = response.into_body();
        let mut length = 0;
        loop {
            let frame = poll_fn(|cx| {
                let _ = Pin::new(&mut *connection).poll(cx);
                hyper::body::Body::poll_frame(Pin::new(&mut body), cx)
            })
            .await;
            match frame {
                None => return length,
                Some(frame) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        length += data.len() as u64;
                    }
                }
            }
        }
    }
}

/// Sequential 64 KiB reads of `f`; their latencies and the clusters that served.
fn reads(zones: &Zones, client: &Client, n: usize) -> (Vec<Duration>, Vec<String>, usize) {
    let (mut times, mut served, mut failed) = (Vec::new(), Vec::new(), 0);
    zones.runtime.block_on(async {
        for i in 0..n {
            let offset = (i as u64 * 104_729) % ((1 << 20) - 65_536);
            let t = Instant::now();
            let (bytes, explain) = client.read_all("f", offset, Some(65_536)).await;
            times.push(t.elapsed());
            match bytes {
                Ok(b) if b.len() == 65_536 => served.push(served_by_cluster(&explain)),
                _ => failed += 1,
            }
        }
    });
    (times, served, failed)
}

fn failover(stop_answering: bool) {
    let mut zones = Zones::start();
    zones.file("f", 1 << 20);
    let client = zones.client(
        "failover",
        "azimuth.client.first.byte.timeout=500ms\nazimuth.client.connect.timeout=500ms\n",
    );
    reads(&zones, &client, 200); // Warm: cached in the local replica and in b.
    let (mut steady, served, _) = reads(&zones, &client, FAILOVER_SAMPLES);
    assert!(served.iter().all(|c| c == CLUSTERS[0]));
    let steady50 = percentile(&mut steady, 0.5);
    // Warm the replica in the next zone too, so later reads compare cached
    // with cached.
    for w in ["a1", "a2"] {
        zones.worker_mut(w).pause();
    }
    reads(&zones, &client, 200);
    for w in ["a1", "a2"] {
        zones.worker_mut(w).resume();
    }
    std::thread::sleep(Duration::from_secs(3)); // The probes trust a again.
    reads(&zones, &client, 50);

    for w in ["a1", "a2"] {
        if stop_answering {
            zones.worker_mut(w).pause();
        } else {
            zones.worker_mut(w).kill();
        }
    }
    let (first, _, first_failed) = reads(&zones, &client, 1);
    let (mut later, served, failed) = reads(&zones, &client, FAILOVER_SAMPLES);
    let later50 = percentile(&mut later, 0.5);
    let how = if stop_answering {
        "stops answering (SIGSTOP), timeouts 500 ms"
    } else {
        "killed (connections refused)"
    };
    println!(
        "{:<56} {:>10.1} us {:>12.1} us {:>12.1} us {:>8.2}x {:>7} {}",
        format!("local zone {how}"),
        us(steady50),
        us(first[0]),
        us(later50),
        us(later50) / us(steady50),
        first_failed + failed,
        served.last().map_or("-", String::as_str)
    );
    if stop_answering {
        for w in ["a1", "a2"] {
            zones.worker_mut(w).resume();
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument filters nothing here.
    let zones = Zones::start();
    let plain = zones.client("latency", "");
    latency(&zones, &plain, "cached reads, prefer-cached off (no probe)");
    let probing = zones.client(
        "probing",
        "alluxio.user.replica.prefer.cached.replicas=true\n",
    );
    latency(
        &zones,
        &probing,
        "cached reads, prefer-cached on (status probes, remembered 1 s)",
    );
    drop(zones);

    println!(
        "\nfailover, 64 KiB sequential reads ({FAILOVER_SAMPLES} after the event)\n{:<56} {:>13} {:>15} {:>15} {:>9} {:>7} now served by",
        "event", "steady p50", "first read", "later p50", "ratio", "failed"
    );
    failover(false);
    failover(true);
}
