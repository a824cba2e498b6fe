//! A worker under clients that hold it: half-sent requests are cut off at
//! the header deadline, oversized headers get 431, connections past the cap
//! are closed at once and counted — and all the while other clients are
//! served, and the worker serves everyone again once the flood stops.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::processes::{Site, Worker, wait_for};

/// A worker alone in its cluster, with `extra` site lines.
fn worker(extra: &str) -> (Site, Worker) {
    let site = Site::new();
    let worker = Worker::start(&site.lone_cluster(extra), "w1", &[]);
    (site, worker)
}

/// A whole `GET path` on a fresh connection: the status code.
fn get(address: &str, path: &str) -> u16 {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Whether the server has closed `stream` (a read sees the end, or a reset).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut byte = [0u8; 1024];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return true,
            Ok(_) => continue, // an answer (408, say) before the close
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn half_sent_requests_are_cut_off_at_the_header_deadline_while_others_are_served() {
    let (_site, worker) = worker("azimuth.worker.http.header.timeout=1s\n");
    let mut held: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(&worker.address).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // While they hang, others are served.
    assert_eq!(get(&worker.address, "/healthz"), 200);
    let started = Instant::now();
    let cut = wait_for(Duration::from_secs(10), || {
        held.iter_mut()
            .all(closed_by_server)
            .then_some(started.elapsed())
    });
    let cut = cut.expect("the half-sent requests were still held after 10 s");
    assert!(cut < Duration::from_secs(4), "cut off only after {cut:?}");
    assert_eq!(get(&worker.address, "/healthz"), 200);
    assert_eq!(
        worker.metric("azimuth_worker_connections_open"),
        1,
        "only /metrics' own"
    );
}

#[test]
fn oversized_headers_get_431_and_the_worker_goes_on() {
    let (_site, worker) = worker("azimuth.worker.http.max.header.bytes=16KB\n");
    let mut stream = TcpStream::connect(&worker.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let big = "x".repeat(40 << 10);
    let _ = write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"
    );
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    // Headers within the limit are fine.
    let mut stream = TcpStream::connect(&worker.address).unwrap();
    let fine = "y".repeat(8 << 10);
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fine: {fine}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

#[test]
fn connections_past_the_cap_are_closed_at_once_and_served_again_after_the_flood() {
    let (_site, worker) = worker("azimuth.worker.http.max.connections=50\n");
    // 50 idle keep-alive connections hold every place.
    let mut held: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(&worker.address).unwrap())
        .collect();
    // Give the worker time to accept them all.
    std::thread::sleep(Duration::from_millis(300));
    let mut extra: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(&worker.address).unwrap())
        .collect();
    let all_closed = wait_for(Duration::from_secs(5), || {
        extra.iter_mut().all(closed_by_server).then_some(())
    });
    assert!(all_closed.is_some(), "connections past the cap were kept");
    assert!(
        held.iter_mut().all(|s| !closed_by_server(s)),
        "a connection within the cap was closed"
    );
    drop(held);
    // The flood is over: served again, and the refusals were counted.
    let served = wait_for(Duration::from_secs(5), || {
        (get(&worker.address, "/healthz") == 200).then_some(())
    });
    assert!(served.is_some(), "the worker did not recover");
    // Ten past the cap, and perhaps a retry above that raced the held
    // connections' closing.
    let refused = worker.metric("azimuth_worker_connections_refused_total");
    assert!((10..=15).contains(&refused), "{refused} refused");
}

#[test]
fn the_gateway_cuts_off_half_sent_requests_at_the_same_deadline() {
    let site = Site::new();
    let ufs = site.dir.path().join("ufs");
    std::fs::create_dir_all(ufs.join("bucket")).unwrap();
    let conf = site.lone_cluster(&format!(
        "alluxio.dora.client.ufs.root={}\nazimuth.gateway.anonymous.read=true\n\
         azimuth.worker.http.header.timeout=1s\n",
        ufs.display()
    ));
    let gateway = crate::s3::Gateway::start(&conf);
    let mut held: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(&gateway.address).unwrap();
            s.write_all(b"GET /bucket HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    assert_eq!(get(&gateway.address, "/healthz"), 200);
    let started = Instant::now();
    let cut = wait_for(Duration::from_secs(10), || {
        held.iter_mut()
            .all(closed_by_server)
            .then_some(started.elapsed())
    })
    .expect("the half-sent requests were still held after 10 s");
    assert!(cut < Duration::from_secs(4), "cut off only after {cut:?}");
    assert_eq!(get(&gateway.address, "/healthz"), 200);
}
