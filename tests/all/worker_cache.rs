//! The worker's page cache over the UFS, through real worker processes and
//! real HTTP: hits, eviction, corruption, changed files, restarts,
//! concurrent misses, loads, and refused requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{Rng, SeedableRng};

use crate::processes::{Site, Worker};

/// A worker over a UFS directory of its own, with its cache directory.
struct Setup {
    site: Site,
    ufs: PathBuf,
    cache: PathBuf,
    conf: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let site = Site::new();
        let ufs = site.dir.path().join("ufs");
        // The cache of worker `w1`; see `worker_named`.
        let cache = site.dir.path().join("cache-w1");
        std::fs::create_dir_all(ufs.join("data")).unwrap();
        let workers = site.write("workers", "");
        let conf = site.static_cluster(&workers, "");
        Setup {
            site,
            ufs,
            cache,
            conf,
        }
    }

    /// Writes a UFS file of `len` random bytes; returns them.
    fn file(&self, name: &str, len: usize, seed: u64) -> Vec<u8> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        std::fs::write(self.ufs.join(name), &data).unwrap();
        data
    }

    fn worker(&self, extra: &[&str]) -> Worker {
        self.worker_named("w1", extra)
    }

    /// A worker with its own cache directory, named `id`.
    fn worker_named(&self, id: &str, extra: &[&str]) -> Worker {
        let ufs = self.ufs.display().to_string();
        let cache = self.site.dir.path().join(format!("cache-{id}"));
        let cache = cache.display().to_string();
        let mut args = vec!["--ufs", &ufs, "--cache-dir", &cache];
        args.extend_from_slice(extra);
        Worker::start(&self.conf, id, &args)
    }
}

fn get(worker: &Worker, path: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.get(format!("http://{}{path}", worker.address));
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    let response = request.send().unwrap();
    (
        response.status().as_u16(),
        response.bytes().unwrap().to_vec(),
    )
}

fn post(worker: &Worker, path: &str) -> serde_json::Value {
    let response = reqwest::blocking::Client::new()
        .post(format!("http://{}{path}", worker.address))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().unwrap()
}

/// Page files under the cache directory.
fn page_files(cache: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![cache.join("pages")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn a_second_read_is_a_hit_and_every_range_matches_the_ufs() {
    let s = Setup::new();
    let data = s.file("data/part-0001", 3 * (1 << 20) + 12_345, 1);
    let w = s.worker(&[]);
    let (status, body) = get(&w, "/files/data/part-0001", None);
    assert_eq!(status, 200);
    assert!(body == data, "whole read differs from the UFS file");
    let ufs_reads = w.metric("azimuth_worker_ufs_reads_total");
    assert_eq!(ufs_reads, 4, "one UFS read per page");

    let (_, again) = get(&w, "/files/data/part-0001", None);
    assert!(again == data);
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    for _ in 0..50 {
        let start = rng.random_range(0..data.len());
        let end = rng.random_range(start..data.len());
        let (status, body) = get(
            &w,
            "/files/data/part-0001",
            Some(&format!("bytes={start}-{end}")),
        );
        assert_eq!(status, 206);
        assert!(body == data[start..=end], "range {start}-{end} differs");
    }
    assert_eq!(
        w.metric("azimuth_worker_ufs_reads_total"),
        ufs_reads,
        "hits do not touch the UFS"
    );
    assert!(w.metric("azimuth_worker_cache_hits_total") >= 54);
}

#[test]
fn every_answer_names_its_length_version_and_range_whether_read_whole_or_streamed() {
    let s = Setup::new();
    let data = s.file("headers", 3 * (1 << 20) + 7, 3);
    let w = s.worker(&[]);
    let client = reqwest::blocking::Client::new();
    let url = format!("http://{}/files/headers", w.address);
    let mut etags = Vec::new();
    // Within one page (read before answering), across pages (streamed),
    // whole (streamed), and a HEAD (through the router).
    for (range, status, expected) in [
        (Some((10, 4_105)), 206, &data[10..=4_105]),
        (Some((1_000, 2_500_000)), 206, &data[1_000..=2_500_000]),
        (None, 200, &data[..]),
    ] {
        let mut request = client.get(&url);
        if let Some((start, end)) = range {
            request = request.header("Range", format!("bytes={start}-{end}"));
        }
        let response = request.send().unwrap();
        assert_eq!(response.status().as_u16(), status, "{range:?}");
        let headers = response.headers().clone();
        let header = |name: &str| {
            headers
                .get(name)
                .unwrap_or_else(|| panic!("{range:?}: no {name} in {headers:?}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            header("content-length"),
            expected.len().to_string(),
            "{range:?}"
        );
        assert_eq!(header("accept-ranges"), "bytes");
        assert_eq!(header("content-type"), "application/octet-stream");
        if let Some((start, end)) = range {
            assert_eq!(
                header("content-range"),
                format!("bytes {start}-{end}/{}", data.len())
            );
        }
        etags.push(header("etag"));
        assert!(
            response.bytes().unwrap() == expected,
            "{range:?}: the bytes"
        );
    }
    let head = client.head(&url).send().unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()["content-length"],
        data.len().to_string().as_str()
    );
    etags.push(head.headers()["etag"].to_str().unwrap().to_owned());
    assert!(
        etags[0].starts_with('"') && etags[0].ends_with('"'),
        "{etags:?}"
    );
    assert!(
        etags.iter().all(|e| *e == etags[0]),
        "one version: {etags:?}"
    );
}

#[test]
fn a_working_set_larger_than_the_cache_evicts_and_stays_within_capacity() {
    let s = Setup::new();
    let files: Vec<Vec<u8>> = (0..8)
        .map(|i| s.file(&format!("data/f{i}"), 1 << 20, 10 + i))
        .collect();
    let w = s.worker(&["--cache-capacity", "2MB", "--page-size", "256KB"]);
    for round in 0..2 {
        for (i, data) in files.iter().enumerate() {
            let (_, body) = get(&w, &format!("/files/data/f{i}"), None);
            assert!(&body == data, "round {round}, file {i}");
        }
    }
    let capacity = 2 << 20;
    assert!(w.metric("azimuth_worker_cache_evictions_total") > 0);
    assert!(w.metric("azimuth_worker_cache_used_bytes") <= capacity);
    let on_disk: u64 = page_files(&s.cache)
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert!(
        on_disk <= capacity,
        "{on_disk} bytes of pages on disk, capacity {capacity}"
    );
}

#[test]
fn a_corrupted_page_is_never_served_and_is_counted() {
    let s = Setup::new();
    let data = s.file("data/f", 100_000, 3);
    // The memory tier would serve the page it checked before the damage.
    let w = s.worker(&["--memory-cache", "0"]);
    assert!(get(&w, "/files/data/f", None).1 == data);
    let pages = page_files(&s.cache);
    assert_eq!(pages.len(), 1);
    let mut bytes = std::fs::read(&pages[0]).unwrap();
    let at = bytes.len() - 5000;
    bytes[at] ^= 0x01;
    std::fs::write(&pages[0], bytes).unwrap();

    assert!(
        get(&w, "/files/data/f", None).1 == data,
        "corrupt bytes were served"
    );
    assert_eq!(w.metric("azimuth_worker_cache_checksum_failures_total"), 1);
    assert_eq!(
        w.metric("azimuth_worker_ufs_reads_total"),
        2,
        "the page is fetched again"
    );
}

#[test]
fn truncated_and_deleted_page_files_under_a_running_worker_are_refetched_never_served_short() {
    let s = Setup::new();
    // Three pages of 1 MiB (the default page size) and a bit.
    let data = s.file("data/big", 3 * (1 << 20) + 12_345, 11);
    let w = s.worker(&["--memory-cache", "0"]);
    assert!(get(&w, "/files/data/big", None).1 == data);
    let mut pages = page_files(&s.cache);
    pages.sort();
    assert_eq!(pages.len(), 4);
    // One page cut short, one cut to nothing, one deleted.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&pages[0])
        .unwrap();
    file.set_len(4096 + 100).unwrap();
    drop(file);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&pages[1])
        .unwrap()
        .set_len(0)
        .unwrap();
    std::fs::remove_file(&pages[2]).unwrap();
    let ufs_reads = w.metric("azimuth_worker_ufs_reads_total");

    for (range, want) in [
        (None, &data[..]),
        (Some("bytes=1000-2999999"), &data[1000..3_000_000]),
        (Some("bytes=-5000"), &data[data.len() - 5000..]),
    ] {
        let (status, body) = get(&w, "/files/data/big", range);
        assert!(status == 200 || status == 206, "{range:?}: {status}");
        assert!(body == want, "{range:?}: damaged bytes were served");
    }
    assert!(
        w.metric("azimuth_worker_cache_checksum_failures_total") >= 2,
        "the two cut pages are counted as failed"
    );
    assert_eq!(
        w.metric("azimuth_worker_cache_pages_missing_total"),
        1,
        "the deleted page is counted as missing"
    );
    assert_eq!(
        w.metric("azimuth_worker_ufs_reads_total") - ufs_reads,
        3,
        "each damaged page is fetched again, once"
    );
    // Cached again in full: the next read is all hits.
    let hits = w.metric("azimuth_worker_cache_hits_total");
    assert!(get(&w, "/files/data/big", None).1 == data);
    assert_eq!(w.metric("azimuth_worker_cache_hits_total") - hits, 4);
}

#[test]
fn hot_single_page_reads_come_from_memory_streams_do_not_and_freeing_drops_them() {
    let s = Setup::new();
    let small = s.file("data/small", 64 << 10, 9);
    let big = s.file("data/big", 3 << 20, 10);
    let w = s.worker(&[]);
    assert!(get(&w, "/files/data/small", None).1 == small);
    for (range, want) in [
        (None, &small[..]),
        (Some("bytes=100-4195"), &small[100..4196]),
        (Some("bytes=65000-"), &small[65000..]),
    ] {
        assert!(get(&w, "/files/data/small", range).1 == want, "{range:?}");
    }
    assert_eq!(w.metric("azimuth_worker_cache_memory_hits_total"), 3);
    assert_eq!(w.metric("azimuth_worker_cache_memory_used_bytes"), 64 << 10);

    for _ in 0..2 {
        assert!(get(&w, "/files/data/big", None).1 == big);
    }
    assert_eq!(
        w.metric("azimuth_worker_cache_memory_used_bytes"),
        64 << 10,
        "a multi-page stream went into memory"
    );

    let freed = reqwest::blocking::Client::new()
        .delete(format!("http://{}/cache/data/small", w.address))
        .send()
        .unwrap();
    assert_eq!(freed.status().as_u16(), 200);
    assert_eq!(w.metric("azimuth_worker_cache_memory_used_bytes"), 0);
    assert!(get(&w, "/files/data/small", None).1 == small);
    assert_eq!(
        w.metric("azimuth_worker_ufs_reads_total"),
        1 + 3 + 1,
        "a freed file is read from the UFS again"
    );

    let off = s.worker_named("w2", &["--memory-cache", "0"]);
    for _ in 0..3 {
        assert!(get(&off, "/files/data/small", None).1 == small);
    }
    assert_eq!(off.metric("azimuth_worker_cache_memory_hits_total"), 0);
}

#[test]
fn a_changed_ufs_file_is_served_new_when_metadata_is_synced_on_every_access() {
    let mut s = Setup::new();
    let conf = std::fs::read_to_string(&s.conf).unwrap();
    s.conf = s.site.write(
        "sync-always.properties",
        &format!("{conf}alluxio.user.file.metadata.sync.interval=0\n"),
    );
    let old = s.file("data/f", 200_000, 4);
    let w = s.worker(&[]);
    assert!(get(&w, "/files/data/f", None).1 == old);
    std::thread::sleep(Duration::from_millis(20));
    // Same length, different bytes: only the version tells them apart.
    let new = s.file("data/f", 200_000, 5);
    assert!(
        get(&w, "/files/data/f", None).1 == new,
        "old pages were served for a changed file"
    );
    assert!(get(&w, "/files/data/f", Some("bytes=1000-1999")).1 == new[1000..2000]);
}

#[test]
fn a_changed_ufs_file_is_served_old_within_the_sync_interval_and_never_mixed() {
    let s = Setup::new();
    let old = s.file("data/f", 200_000, 4);
    let w = s.worker(&["--page-size", "64KB"]);
    // Only the first page is cached: the rest must come from the UFS.
    assert!(get(&w, "/files/data/f", Some("bytes=0-999")).1 == old[..1000]);
    // The ETag of the version the worker reads (of a read of page 0 only,
    // so that the other pages stay uncached).
    let etag = |w: &Worker| {
        reqwest::blocking::Client::new()
            .get(format!("http://{}/files/data/f", w.address))
            .header("Range", "bytes=0-9")
            .send()
            .unwrap()
            .headers()["etag"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let before = etag(&w);
    std::thread::sleep(Duration::from_millis(20));
    let new = s.file("data/f", 200_000, 5);
    // The default interval (a minute) has not passed: the version known is
    // the old one, and its pages are read from the cache...
    let (status, body) = get(&w, "/files/data/f", Some("bytes=0-999"));
    assert_eq!((status, &body[..]), (206, &old[..1000]));
    // ...and a page not cached cannot be read at the old version: the read
    // fails rather than mix in new bytes, and the worker learns the new one.
    let (status, _) = get(&w, "/files/data/f", Some("bytes=150000-150099"));
    assert_eq!(status, 503);
    assert!(get(&w, "/files/data/f", None).1 == new);
    assert_ne!(etag(&w), before);
    // A reader that names a version the worker does not have gets 412.
    let stale = reqwest::blocking::Client::new()
        .get(format!("http://{}/files/data/f", w.address))
        .header("If-Match", &before)
        .send()
        .unwrap();
    assert_eq!(stale.status().as_u16(), 412);
}

#[test]
fn pages_cached_before_a_restart_are_hits_after() {
    let s = Setup::new();
    let data = s.file("data/f", 2 << 20, 6);
    let mut w = s.worker(&[]);
    assert!(get(&w, "/files/data/f", None).1 == data);
    assert!(w.terminate().success());
    let w = s.worker(&[]);
    assert!(get(&w, "/files/data/f", None).1 == data);
    assert_eq!(w.metric("azimuth_worker_ufs_reads_total"), 0);
    assert_eq!(w.metric("azimuth_worker_cache_hits_total"), 2);
}

#[test]
fn concurrent_readers_of_an_uncached_file_make_one_ufs_read_per_page() {
    let s = Setup::new();
    let data = s.file("data/f", 4 << 20, 7);
    let w = s.worker(&[]);
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..32)
            .map(|_| scope.spawn(|| get(&w, "/files/data/f", None).1))
            .collect();
        for reader in readers {
            assert!(reader.join().unwrap() == data);
        }
    });
    assert_eq!(w.metric("azimuth_worker_ufs_reads_total"), 4);
}

#[test]
fn loads_are_idempotent_shared_and_freed() {
    let s = Setup::new();
    s.file("data/f", 3 << 20, 8);
    let w = s.worker(&[]);
    let status: serde_json::Value =
        serde_json::from_slice(&get(&w, "/status/data/f", None).1).unwrap();
    assert_eq!(status["cached_bytes"], 0);
    assert_eq!(status["fully_cached"], false);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| post(&w, "/load/data/f"));
        }
    });
    assert_eq!(
        w.metric("azimuth_worker_ufs_reads_total"),
        3,
        "concurrent loads did the work once"
    );
    let again = post(&w, "/load/data/f");
    assert_eq!(
        (
            again["loaded_bytes"].as_u64(),
            again["fully_cached"].as_bool()
        ),
        (Some(0), Some(true))
    );
    assert_eq!(again["length"], 3 << 20);

    let freed: serde_json::Value = reqwest::blocking::Client::new()
        .delete(format!("http://{}/cache/data/f", w.address))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(freed["freed_bytes"], 3 << 20);
    let status: serde_json::Value =
        serde_json::from_slice(&get(&w, "/status/data/f", None).1).unwrap();
    assert_eq!(status["cached_bytes"], 0);
}

/// Sends a raw request line (no client-side path normalisation).
fn raw_status(worker: &Worker, method: &str, target: &str, range: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(&worker.address).unwrap();
    let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: x\r\n{range}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn bad_paths_and_ranges_get_a_4xx_with_the_reason() {
    let s = Setup::new();
    s.file("data/f", 1000, 9);
    std::fs::write(s.site.dir.path().join("secret"), "outside the UFS").unwrap();
    let w = s.worker(&[]);
    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        ("GET", "/files/../secret", None, 400, "'..' segment"),
        ("GET", "/files/data/../../secret", None, 400, "'..' segment"),
        (
            "GET",
            "/files/data/%2e%2e/%2e%2e/secret",
            None,
            400,
            "'..' segment",
        ),
        ("GET", "/files/..%2fsecret", None, 400, "encoded '/'"),
        ("GET", "/files/%2Fetc%2Fpasswd", None, 400, "encoded '/'"),
        ("GET", "/files//etc/passwd", None, 400, "starts with '/'"),
        ("GET", "/files/data/f%00", None, 400, "NUL"),
        (
            "GET",
            "/files/data/%5c..%5c..%5csecret",
            None,
            400,
            "encoded '\\'",
        ),
        ("GET", "/files/data//f", None, 400, "empty segment"),
        ("GET", "/files/data/missing", None, 404, "no such file"),
        (
            "GET",
            "/files/data/f",
            Some("bytes=5000-"),
            416,
            "outside the file",
        ),
        (
            "GET",
            "/files/data/f",
            Some("bytes=9-1"),
            416,
            "end is before the start",
        ),
        (
            "GET",
            "/files/data/f",
            Some("bytes=x-y"),
            416,
            "not a byte offset",
        ),
        ("GET", "/status/../secret", None, 400, "'..' segment"),
        ("POST", "/load/data/missing", None, 404, "no such file"),
        ("DELETE", "/cache/%2e%2e", None, 400, "'..' segment"),
    ];
    for (method, target, range, status, reason) in cases {
        let (got, body) = raw_status(&w, method, target, *range);
        assert_eq!(got, *status, "{method} {target} {range:?}: {body}");
        assert!(
            body.contains(reason),
            "{method} {target} {range:?}: {body:?} lacks {reason:?}"
        );
    }
    // The worker is still serving.
    assert_eq!(get(&w, "/files/data/f", Some("bytes=0-9")).0, 206);
}

/// A tmpfs of `size` mounted at `dir` (the tests run as root), unmounted
/// when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount -t tmpfs (needs root)");
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_cache_disk_evicts_serves_exact_bytes_and_leaves_no_partial_pages() {
    let s = Setup::new();
    // The disk holds 3 MiB; the worker is told it has 1 GiB.
    let _disk = Tmpfs::mount(&s.cache, "3m");
    let files: Vec<Vec<u8>> = (0..5)
        .map(|i| s.file(&format!("data/f{i}"), (2 << 20) + 1000 * i, 20 + i as u64))
        .collect();
    let w = s.worker(&["--cache-capacity", "1GB", "--memory-cache", "0"]);
    for round in 0..2 {
        for (i, data) in files.iter().enumerate() {
            let (status, body) = get(&w, &format!("/files/data/f{i}"), None);
            assert_eq!(status, 200, "round {round}, f{i}");
            assert!(body == *data, "round {round}, f{i}: wrong bytes");
        }
    }
    let (status, body) = get(&w, "/files/data/f3", Some("bytes=1048000-1049999"));
    assert_eq!(status, 206);
    assert!(body == files[3][1_048_000..1_050_000]);
    assert!(
        w.metric("azimuth_worker_cache_disk_full_total") > 0,
        "the full disk was noticed"
    );
    // Nothing torn or temporary is left taking the disk's room.
    let leftovers: Vec<PathBuf> = page_files(&s.cache)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let used = w.metric("azimuth_worker_cache_used_bytes");
    assert!(
        used <= 3 << 20,
        "the index counts {used} bytes on a 3 MiB disk"
    );
    assert_eq!(get(&w, "/healthz", None).0, 200);
}

#[test]
fn a_ufs_file_rewritten_while_it_is_streamed_is_never_served_mixed() {
    let s = Setup::new();
    let len = 32 << 20;
    let w = s.worker(&["--page-size", "64KB", "--memory-cache", "0"]);
    for replace in ["in place", "by rename"] {
        // A file of its own per case: the worker trusts a version it
        // learnt for a minute (the default sync interval).
        let name = format!("data/{}", replace.replace(' ', "-"));
        let old = s.file(&name, len, 30);
        let mut response = reqwest::blocking::Client::new()
            .get(format!("http://{}/files/{name}", w.address))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let mut body = vec![0u8; 1 << 20];
        response.read_exact(&mut body).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let new: Vec<u8> = old.iter().map(|b| b ^ 0x5a).collect();
        match replace {
            "in place" => std::fs::write(s.ufs.join(&name), &new).unwrap(),
            _ => {
                let staged = s.ufs.join("data/staged");
                std::fs::write(&staged, &new).unwrap();
                std::fs::rename(&staged, s.ufs.join(&name)).unwrap();
            }
        }
        let mut rest = Vec::new();
        let ended = response.read_to_end(&mut rest);
        body.extend_from_slice(&rest);
        assert!(
            body.len() <= old.len() && body == old[..body.len()],
            "{replace}: bytes of the new version were served as the old one's"
        );
        assert!(
            ended.is_err() || body.len() == old.len(),
            "{replace}: the body ended short without an error"
        );
        if body.len() < old.len() {
            assert!(
                w.metric("azimuth_worker_ufs_changed_total") > 0,
                "{replace}"
            );
            // The change is learnt: the next read is the new version, whole.
            assert!(
                get(&w, &format!("/files/{name}"), None).1 == new,
                "{replace}"
            );
        }
    }
    assert!(
        w.metric("azimuth_worker_ufs_changed_total") > 0,
        "no rewrite was caught mid-stream"
    );
}
