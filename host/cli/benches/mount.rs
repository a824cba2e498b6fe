//! `azimuth mount` against `azimuth read` and the UFS directory itself, side
//! by side in one run, with real etcd and three clusters of two real worker
//! processes (release build) on loopback:
//!
//! - a cached 256 MiB file read sequentially (1 MiB `read`s): through the
//!   mount (the kernel's page cache dropped first), through `azimuth read
//!   -o /dev/null`, and from the UFS directory (page cache dropped, then
//!   warm: the local-disk limit and the memory limit of this machine);
//! - 4 KiB reads at random offsets (p50, p99): through the mount (opened
//!   with `O_DIRECT`, so that every read reaches the mount, not the page
//!   cache), through the client library `azimuth read` is built on (the same
//!   call with an offset and a length, in process: a process start per read
//!   would measure the start), and `pread` of the UFS file.
//!
//! Run: `cargo bench -p azimuth --bench mount` (as root: it drops the page
//! cache; needs `etcd` on PATH and fusermount3, Debian's fuse3).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../tests/all/processes.rs"]
#[allow(dead_code)]
mod processes;
#[path = "../../../tests/all/zones.rs"]
#[allow(dead_code)]
mod zones;
use zones::Zones;

const SIZE: u64 = 256 << 20;
const RANDOM_SAMPLES: usize = 3000;

fn drop_page_cache() -> bool {
    std::fs::write("/proc/sys/vm/drop_caches", "1").is_ok()
}

/// Reads `path` through in 1 MiB reads; MB/s.
fn sequential(path: &Path) -> f64 {
    let mut file = std::fs::File::open(path).unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    let started = Instant::now();
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert_eq!(total, SIZE);
    SIZE as f64 / started.elapsed().as_secs_f64() / 1e6
}

/// The offsets of the random reads: 4 KiB aligned, the same for every path.
fn offsets() -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..RANDOM_SAMPLES + 100)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % (SIZE / 4096)) * 4096
        })
        .collect()
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at =
        |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

/// p50 and p99 of 4 KiB `pread`s of `file` (the first 100 warm up).
fn random_preads(file: &std::fs::File) -> (f64, f64) {
    let mut buffer = AlignedPage([0; 4096]);
    let samples = offsets()
        .into_iter()
        .map(|offset| {
            let started = Instant::now();
            file.read_exact_at(&mut buffer.0, offset).unwrap();
            started.elapsed()
        })
        .skip(100)
        .collect();
    percentiles(samples)
}

/// `O_DIRECT` wants its buffer aligned.
#[repr(align(4096))]
struct AlignedPage([u8; 4096]);

fn main() {
    let zones = Zones::start();
    let big = zones.ufs.join("big");
    let made = Command::new("sh")
        .args([
            "-c",
            &format!("head -c {SIZE} /dev/urandom > '{}'", big.display()),
        ])
        .status()
        .unwrap();
    assert!(made.success());
    // Cached in the mount's own cluster, on the worker its reads go to.
    let ring = azimuth_client::ring::HashRing::new(["a1", "a2"]);
    zones::load(
        &zones.address_of(ring.replicas("big", 1)[0]),
        Path::new("big"),
    );
    let conf = zones.client_conf("mount", "");
    let point = zones.site.dir.path().join("mnt");
    std::fs::create_dir_all(&point).unwrap();
    let mut mount = Command::new(env!("CARGO_BIN_EXE_azimuth"))
        .arg("--conf")
        .arg(&conf)
        .arg("mount")
        .arg(&point)
        .arg("--foreground")
        .env("AZIMUTH_LOG", "warn,fuser=error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(mount.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("mounted "), "{line}");
    let through_mount = point.join("big");

    let dropped = drop_page_cache();
    println!(
        "{} cores; a cached 256 MiB file, 1 MiB reads; page cache dropped before each cold run: {dropped}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        "sequential", "run 1", "run 2", "run 3"
    );
    let mut rows: Vec<(&str, Vec<f64>)> = Vec::new();
    let (mut m, mut r, mut cold, mut warm) = (vec![], vec![], vec![], vec![]);
    for _ in 0..3 {
        drop_page_cache();
        m.push(sequential(&through_mount));
        let started = Instant::now();
        let read = Command::new(env!("CARGO_BIN_EXE_azimuth"))
            .arg("--conf")
            .arg(&conf)
            .args(["read", "big", "-o", "/dev/null"])
            .status()
            .unwrap();
        assert!(read.success());
        r.push(SIZE as f64 / started.elapsed().as_secs_f64() / 1e6);
        drop_page_cache();
        cold.push(sequential(&big));
        warm.push(sequential(&big));
    }
    rows.push(("through the mount (MB/s)", m.clone()));
    rows.push(("azimuth read -o /dev/null (MB/s)", r.clone()));
    rows.push(("the UFS directory, cold (MB/s)", cold));
    rows.push(("the UFS directory, page cache (MB/s)", warm));
    let ratios: Vec<f64> = m.iter().zip(&r).map(|(m, r)| m / r).collect();
    rows.push(("mount / azimuth read", ratios));
    for (label, figures) in rows {
        print!("{label:<44}");
        for f in figures {
            print!(" {f:>10.2}");
        }
        println!();
    }

    println!("\n4 KiB reads at {RANDOM_SAMPLES} random offsets: p50, p99 (us)");
    let direct = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&through_mount)
        .expect("the mount opens with O_DIRECT");
    let client = zones.client("random", "");
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let (mount50, mount99) = random_preads(&direct);
        let samples = zones.runtime.block_on(async {
            let mut samples = Vec::new();
            for offset in offsets() {
                let started = Instant::now();
                let (bytes, _) = client.read_all("big", offset, Some(4096)).await;
                assert_eq!(bytes.expect("a read").len(), 4096);
                samples.push(started.elapsed());
            }
            samples.split_off(100)
        });
        let (client50, client99) = percentiles(samples);
        let ufs = std::fs::File::open(&big).unwrap();
        let (ufs50, ufs99) = random_preads(&ufs);
        rounds.push([mount50, mount99, client50, client99, ufs50, ufs99]);
    }
    println!(
        "{:<8} {:>18} {:>18} {:>18} {:>14}",
        "run", "mount (O_DIRECT)", "client read", "UFS pread", "mount/client"
    );
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "{:<8} {:>8.1} {:>9.1} {:>8.1} {:>9.1} {:>8.1} {:>9.1} {:>13.2}x",
            i + 1,
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[0] / r[2]
        );
    }
    drop(direct);
    // SAFETY: a signal to the mount this bench started.
    unsafe { libc::kill(mount.id() as i32, libc::SIGTERM) };
    let _ = mount.wait();
}
