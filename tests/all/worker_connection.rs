//! One connection to a worker carries plain reads (answered by the worker's
//! own HTTP/1 connection) and every other request (handed to hyper with the
//! bytes already read), in order, pipelined or not; its header deadline and
//! a stop hold on either.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::processes::{Site, Worker, wait_for};
use crate::worker_limits::{busy_then_half_sent, closed_by_server};

/// A worker alone in its cluster, with `extra` site lines, over a UFS of
/// `files`; and the site and the UFS's directory, to keep.
fn worker_with(extra: &str, files: &[(&str, &[u8])]) -> (Site, tempfile::TempDir, Worker) {
    let site = Site::new();
    let ufs = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(ufs.path().join(name), bytes).unwrap();
    }
    let ufs_arg = ufs.path().display().to_string();
    let worker = Worker::start(&site.lone_cluster(extra), "w1", &["--ufs", &ufs_arg]);
    (site, ufs, worker)
}

fn connect(address: &str) -> TcpStream {
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// One answer read off `stream`: its status, headers (names lowercased),
/// and body (none for an answer to a HEAD).
pub(crate) fn read_answer(
    stream: &mut TcpStream,
    to_head: bool,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line:?}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    assert!(
        header("transfer-encoding").is_none(),
        "every answer here has a length: {headers:?}"
    );
    let length: usize = header("content-length")
        .unwrap_or_else(|| panic!("no content-length in {headers:?}"))
        .parse()
        .unwrap();
    assert!(header("date").is_some(), "no date in {headers:?}");
    let mut body = vec![0u8; if to_head { 0 } else { length }];
    stream.read_exact(&mut body).unwrap();
    (status, headers, body)
}

#[test]
fn pipelined_reads_and_other_requests_on_one_connection_are_answered_in_order() {
    let a: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    let big: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 241) as u8).collect();
    let (_site, _ufs, worker) = worker_with("", &[("a", &a), ("big", &big)]);
    let mut stream = connect(&worker.address);
    // Plain reads first, then a request of each kind the worker's own
    // connection leaves to hyper, then plain reads again: all in one write.
    let requests = [
        "GET /files/a HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /files/a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nRange: bytes=10-19\r\n\r\n",
        "GET /files/missing HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /files/big HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD /files/a HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /load/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "GET /files/a HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    stream.write_all(requests.concat().as_bytes()).unwrap();
    let (status, headers, body) = read_answer(&mut stream, false);
    assert_eq!((status, body.as_slice()), (200, a.as_slice()));
    assert!(headers.iter().any(|(n, _)| n == "etag"), "{headers:?}");
    let (status, headers, body) = read_answer(&mut stream, false);
    assert_eq!((status, body.as_slice()), (206, &a[10..20]));
    assert!(
        headers.contains(&("content-range".into(), "bytes 10-19/5000".into())),
        "{headers:?}"
    );
    let (status, _, body) = read_answer(&mut stream, false);
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = read_answer(&mut stream, false);
    assert!(
        status == 200 && body == big,
        "the 3 MiB read came back altered"
    );
    let (status, headers, _) = read_answer(&mut stream, true);
    assert_eq!(status, 200);
    assert!(
        headers.contains(&("content-length".into(), "5000".into())),
        "{headers:?}"
    );
    let (status, _, body) = read_answer(&mut stream, false);
    assert_eq!((status, body.starts_with(b"ok\n")), (200, true));
    let (status, _, body) = read_answer(&mut stream, false);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = read_answer(&mut stream, false);
    assert_eq!((status, body.as_slice()), (200, a.as_slice()));
    // And the connection goes on after them.
    stream
        .write_all(b"GET /files/a HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\n\r\n")
        .unwrap();
    let (status, _, body) = read_answer(&mut stream, false);
    assert_eq!((status, body.as_slice()), (206, &a[4997..]));
    // Until a read asks to close it: answered, then closed.
    stream
        .write_all(b"GET /files/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (status, headers, body) = read_answer(&mut stream, false);
    assert_eq!((status, body.as_slice()), (200, a.as_slice()));
    assert!(
        headers.contains(&("connection".into(), "close".into())),
        "{headers:?}"
    );
    let mut after = Vec::new();
    stream.read_to_end(&mut after).unwrap();
    assert!(after.is_empty(), "bytes after a closing answer: {after:?}");
}

#[test]
fn a_read_split_across_many_writes_is_answered_whole() {
    let a: Vec<u8> = (0..700u32).map(|i| (i % 7) as u8).collect();
    let (_site, _ufs, worker) = worker_with("", &[("a", &a)]);
    let mut stream = connect(&worker.address);
    stream.set_nodelay(true).unwrap();
    for _ in 0..3 {
        for piece in [
            &b"GE"[..],
            b"T /fil",
            b"es/a HTTP/1.1\r",
            b"\nHost: x\r\nRange: bytes=1",
            b"-2\r\n\r",
            b"\n",
        ] {
            stream.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let (status, _, body) = read_answer(&mut stream, false);
        assert_eq!((status, body.as_slice()), (206, &a[1..3]));
    }
}

#[test]
fn a_kept_alive_reading_connection_is_cut_off_a_header_deadline_after_its_last_answer() {
    let (_site, _ufs, worker) = worker_with(
        "azimuth.worker.http.header.timeout=1s\n",
        &[("a", b"0123456789")],
    );
    let mut stream = connect(&worker.address);
    busy_then_half_sent(&mut stream, |stream| {
        stream
            .write_all(b"GET /files/a HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (status, _, body) = read_answer(stream, false);
        assert_eq!(body, b"0123456789");
        status
    });
}

#[test]
fn a_stopping_worker_closes_idle_reading_connections_and_finishes_the_read_in_flight() {
    let big: Vec<u8> = (0..(16u32 << 20)).map(|i| (i % 239) as u8).collect();
    let (_site, _ufs, mut worker) = worker_with("", &[("a", b"abc"), ("big", &big)]);
    let mut idle = connect(&worker.address);
    idle.write_all(b"GET /files/a HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_answer(&mut idle, false).2, b"abc");
    let mut reading = connect(&worker.address);
    reading
        .write_all(b"GET /files/big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 4096];
    reading.read_exact(&mut first).unwrap();
    let stopping = std::thread::spawn(move || worker.terminate());
    assert!(
        wait_for(Duration::from_secs(3), || closed_by_server(&mut idle)
            .then_some(()))
        .is_some(),
        "the idle connection was open 3 s after SIGTERM"
    );
    let mut rest = Vec::new();
    reading
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    reading.read_to_end(&mut rest).unwrap();
    let whole = [&first[..], &rest].concat();
    let body_at = whole
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    assert!(
        whole[body_at..] == big[..],
        "the read in flight was not served whole"
    );
    assert!(stopping.join().unwrap().success());
}

/// The write system calls `pid` has made so far (`syscw` of
/// `/proc/PID/io`; a socket's `writev` counts).
fn writes_made(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|line| line.strip_prefix("syscw: "))
        .expect("a syscw line")
        .parse()
        .unwrap()
}

#[test]
fn cached_reads_pipelined_together_are_answered_in_one_write() {
    let a: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    let (_site, _ufs, worker) = worker_with("", &[("a", &a)]);
    let mut stream = connect(&worker.address);
    // Cached first: an answer that is not ready at once is written alone.
    stream
        .write_all(b"GET /files/a HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, _, body) = read_answer(&mut stream, false);
    assert_eq!((status, body.as_slice()), (200, a.as_slice()));
    let before = writes_made(worker.pid());
    let reads = 16;
    let requests: String = (0..reads)
        .map(|i| format!("GET /files/a HTTP/1.1\r\nHost: x\r\nRange: bytes={i}-4095\r\n\r\n"))
        .collect();
    stream.write_all(requests.as_bytes()).unwrap();
    for i in 0..reads {
        let (status, _, body) = read_answer(&mut stream, false);
        assert_eq!((status, body.as_slice()), (206, &a[i..]), "answer {i}");
    }
    let writes = writes_made(worker.pid()) - before;
    // One write, or a few where the requests came in more than one read;
    // one per answer without the batch.
    assert!(writes <= 3, "{reads} pipelined reads took {writes} writes");
}
