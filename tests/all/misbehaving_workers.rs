//! Workers that answer, but never with the bytes: the read path's waits
//! stay bounded however busy the worker keeps the reader, and the read goes
//! on from the next source. (The wait's own case, a future that uses up the
//! task's budget on every poll, which this worker only sometimes causes on
//! loopback, is a unit test in `host/client/src/read/attempt.rs`.)

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::processes::Site;

/// A "worker" on loopback that answers every request with interim
/// (`100 Continue`) heads, as fast as the reader takes them, until
/// stopped: a reader that skips them never runs out of input to read.
struct EndlessInterim {
    address: String,
    stop: Arc<AtomicBool>,
}

impl EndlessInterim {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for connection in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut connection) = connection else {
                    continue;
                };
                let stopping = stopping.clone();
                std::thread::spawn(move || {
                    let mut request = [0u8; 4096];
                    if connection.read(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let heads = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(1024);
                    while !stopping.load(Ordering::Relaxed) && connection.write_all(&heads).is_ok()
                    {
                    }
                });
            }
        });
        EndlessInterim { address, stop }
    }
}

impl Drop for EndlessInterim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it sees the flag.
        let _ = std::net::TcpStream::connect(&self.address);
    }
}

#[test]
fn a_worker_streaming_endless_interim_answers_costs_one_bounded_wait_then_the_ufs_serves() {
    let site = Site::new();
    let ufs = site.dir.path().join("ufs");
    std::fs::create_dir_all(&ufs).unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(ufs.join("f"), &data).unwrap();
    let worker = EndlessInterim::start();
    let workers = site.write("workers", &format!("w1 {}\n", worker.address));
    let conf = site.static_cluster(
        &workers,
        &format!(
            "alluxio.dora.client.ufs.root={}\nazimuth.client.first.byte.timeout=500ms\n",
            ufs.display()
        ),
    );
    let out = site.dir.path().join("out");
    let mut read = Command::new(env!("CARGO_BIN_EXE_azimuth"))
        .args([
            "--conf",
            conf.to_str().unwrap(),
            "read",
            "f",
            "--explain",
            "-o",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read as it comes, so that a chatty run cannot fill the pipe and stall.
    let mut stderr = read.stderr.take().unwrap();
    let explain = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    // Generous: the wait is 500 ms, the rest a process start and a read.
    let limit = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = read.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > limit {
            let _ = read.kill();
            panic!("the read still waits on the worker after 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let explain = explain.join().unwrap();
    assert!(status.success(), "{status}\n{explain}");
    assert!(std::fs::read(&out).unwrap() == data, "{explain}");
    assert!(explain.contains("no answer in 500ms"), "{explain}");
}
