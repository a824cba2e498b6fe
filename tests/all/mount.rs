//! `azimuth mount` with real FUSE (fusermount3 from Debian's fuse3), real
//! workers in three zones and etcd: coreutils, findutils and Python read a
//! mounted tree and get the UFS's bytes; writes answer EROFS; a copy out of
//! the mount outlives its local zone; unmounting, a stale mount and the
//! mount point's checks.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::processes::wait_for;
use crate::s3::client_site;
use crate::zones::Zones;

/// A running `azimuth mount --foreground`; unmounted (and killed) when dropped.
struct Mount {
    child: Option<Child>,
    point: PathBuf,
    metrics: String,
}

impl Mount {
    fn start(conf: &Path, point: &Path) -> Self {
        Self::start_logging_to(conf, point, Stdio::inherit())
    }

    /// A mount whose log (warnings and errors) goes to `stderr`.
    fn start_logging_to(conf: &Path, point: &Path, stderr: Stdio) -> Self {
        std::fs::create_dir_all(point).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_azimuth"))
            .arg("--conf")
            .arg(conf)
            .arg("mount")
            .arg(point)
            .args(["--foreground", "--metrics-listen", "127.0.0.1:0"])
            .env("AZIMUTH_LOG", "warn,fuser=error")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("azimuth mount runs");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut mounted = String::new();
        out.read_line(&mut mounted).unwrap();
        assert!(
            mounted.starts_with("mounted "),
            "azimuth mount said {mounted:?}"
        );
        let mut metrics = String::new();
        out.read_line(&mut metrics).unwrap();
        let metrics = metrics
            .trim()
            .strip_prefix("metrics listening on ")
            .unwrap_or_else(|| panic!("no metrics address in {metrics:?}"))
            .to_owned();
        Mount {
            child: Some(child),
            point: point.to_owned(),
            metrics,
        }
    }

    fn metrics(&self) -> String {
        reqwest::blocking::get(format!("{}/metrics", self.metrics))
            .unwrap()
            .text()
            .unwrap()
    }

    /// Signals the process and waits for it; its exit status.
    fn stop(&mut self, signal: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = wait_for(Duration::from_secs(20), || child.try_wait().unwrap());
        status.unwrap_or_else(|| {
            let _ = child.kill();
            panic!("azimuth mount did not exit within 20 s of signal {signal}")
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Whatever happened, leave no mount behind (lazily, if still busy).
        let _ = Command::new("fusermount3")
            .args(["-u", "-z"])
            .arg(&self.point)
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether `point` is a mount point now (per /proc/self/mountinfo).
fn mounted(point: &Path) -> bool {
    let point = std::fs::canonicalize(point).unwrap_or_else(|_| point.to_owned());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(point.to_str().unwrap()))
}

fn sh(script: &str) -> Output {
    Command::new("sh").args(["-c", script]).output().unwrap()
}

fn stdout(script: &str) -> String {
    let out = sh(script);
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a Python script; fails the test with what it said if it fails.
fn run_python(script: &str) {
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The sample `name{labels}` of Prometheus text (0 if absent).
fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// The sum of `name`'s samples whose labels include `label`.
fn total(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A tree of files of every awkward size, and names with spaces.
fn tree(ufs: &Path) {
    let files: [(&str, usize); 8] = [
        ("data/empty", 0),
        ("data/one", 1),
        ("data/page-edge", 4096),
        ("data/odd size.bin", 1_234_567),
        ("data/nested/deeper/part-0001", 3 << 20),
        ("data/nested/deeper/part-0002", 65_537),
        ("data/nested/notes.txt", 100),
        ("other/top", 9_000_001),
    ];
    for (path, len) in files {
        let path = ufs.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let out = sh(&format!(
            "head -c {len} /dev/urandom > '{}'",
            path.display()
        ));
        assert!(out.status.success());
    }
}

fn conf(zones: &Zones, name: &str) -> PathBuf {
    let ufs = zones.ufs.display().to_string();
    client_site(zones, name, &ufs, "")
}

#[test]
fn a_mounted_tree_reads_as_the_ufs_with_sha256sum_cp_find_du_seek_and_mmap() {
    let zones = Zones::start();
    tree(&zones.ufs);
    let point = zones.site.dir.path().join("mnt");
    let mount = Mount::start(&conf(&zones, "mount"), &point);
    let (ufs, mnt) = (zones.ufs.display(), point.display());

    // Every file's bytes, by sha256sum over the whole tree.
    let sums = |root: &str| {
        stdout(&format!(
            "cd '{root}' && find . -type f | sort | xargs -d '\\n' sha256sum"
        ))
    };
    assert_eq!(sums(&mnt.to_string()), sums(&ufs.to_string()));
    // The tree's shape: names, types and sizes.
    let shape = |root: &str| {
        stdout(&format!(
            "cd '{root}' && find . -mindepth 1 -printf '%y %s %P\\n' | awk '$1 == \"d\" {{ $2 = 0 }} {{ print }}' | sort"
        ))
    };
    assert_eq!(shape(&mnt.to_string()), shape(&ufs.to_string()));
    // du counts the files' bytes (the mount's directories are 0 bytes).
    let files_bytes: u64 = stdout(&format!("find '{ufs}' -type f -printf '%s\\n'"))
        .lines()
        .map(|l| l.parse::<u64>().unwrap())
        .sum();
    let du = stdout(&format!("du -sb '{mnt}'"));
    assert_eq!(
        du.split_whitespace().next().unwrap(),
        files_bytes.to_string()
    );
    // cp -r copies the tree out exactly.
    let copy = zones.site.dir.path().join("copy");
    stdout(&format!(
        "cp -r '{mnt}/data' '{}' && diff -r '{ufs}/data' '{}'",
        copy.display(),
        copy.display()
    ));

    // Random seeks and reads, and mmap, in Python.
    let python = format!(
        r#"
import mmap, os, random
random.seed(7)
for name in ["data/odd size.bin", "other/top", "data/nested/deeper/part-0001"]:
    want = open(os.path.join("{ufs}", name), "rb").read()
    with open(os.path.join("{mnt}", name), "rb") as f:
        for _ in range(200):
            at = random.randrange(0, len(want))
            n = random.choice([1, 100, 4096, 65536, 1 << 20])
            f.seek(at)
            assert f.read(n) == want[at:at + n], (name, at, n)
        f.seek(len(want) + 10)
        assert f.read(10) == b""
        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
            assert m[:] == want, name
            assert m[len(want) // 3:len(want) // 3 + 5000] == want[len(want) // 3:len(want) // 3 + 5000]
print("ok")
"#
    );
    run_python(&python);

    // What the mount counted: FUSE operations, read-ahead for the
    // sequential readers (sha256sum, cp), exact fetches for the random ones,
    // and the read path's counters.
    let metrics = mount.metrics();
    assert!(
        metric(
            &metrics,
            "azimuth_mount_operations_total{operation=\"read\",outcome=\"ok\"}"
        ) > 0.0,
        "{metrics}"
    );
    assert!(
        metric(
            &metrics,
            "azimuth_mount_operations_total{operation=\"lookup\",outcome=\"ok\"}"
        ) > 0.0
    );
    assert!(
        metric(
            &metrics,
            "azimuth_mount_operations_total{operation=\"readdir\",outcome=\"ok\"}"
        ) > 0.0
    );
    assert!(
        metric(&metrics, "azimuth_mount_readahead_hits_total") > 0.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "azimuth_mount_exact_fetches_total") > 0.0,
        "{metrics}"
    );
    assert!(
        total(&metrics, "azimuth_client_reads_total", "tier=") > 0.0,
        "{metrics}"
    );
}

#[test]
fn writes_answer_erofs_missing_paths_enoent_reads_past_the_end_nothing_and_failed_reads_eio() {
    let mut zones = Zones::start();
    tree(&zones.ufs);
    let point = zones.site.dir.path().join("mnt");
    let log = zones.site.dir.path().join("mount.log");
    let mount = Mount::start_logging_to(
        &conf(&zones, "mount"),
        &point,
        std::fs::File::create(&log).unwrap().into(),
    );
    let mnt = point.display();
    let erofs = "Read-only file system";
    for script in [
        format!("touch '{mnt}/data/new'"),
        format!("echo x > '{mnt}/data/one'"),
        format!("echo x >> '{mnt}/data/one'"),
        format!("truncate -s 0 '{mnt}/data/one'"),
        format!("mkdir '{mnt}/data/dir'"),
        format!("rm '{mnt}/data/one'"),
        format!("rmdir '{mnt}/data/nested/deeper'"),
        format!("mv '{mnt}/data/one' '{mnt}/data/two'"),
        format!("ln -s one '{mnt}/data/link'"),
        format!("ln '{mnt}/data/one' '{mnt}/data/hard'"),
        format!("chmod 777 '{mnt}/data/one'"),
        format!("touch -d 2001-01-01 '{mnt}/data/one'"),
    ] {
        let out = sh(&script);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(erofs),
            "{script}: {err}"
        );
    }
    // Python's open for writing, and os.truncate, too.
    let python = format!(
        r#"
import errno, os
for call in [lambda: open("{mnt}/data/one", "r+b"), lambda: open("{mnt}/data/x", "wb"),
             lambda: os.truncate("{mnt}/data/one", 0), lambda: os.setxattr("{mnt}/data/one", "user.a", b"1")]:
    try:
        call()
        raise SystemExit("a write succeeded")
    except OSError as e:
        assert e.errno == errno.EROFS, e
for path in ["{mnt}/nope", "{mnt}/data/nope", "{mnt}/nope/deeper"]:
    try:
        os.stat(path)
        raise SystemExit(path + " exists")
    except FileNotFoundError:
        pass
with open("{mnt}/data/page-edge", "rb") as f:
    f.seek(4096)
    assert f.read(100) == b""
    assert os.pread(f.fileno(), 10, 1 << 40) == b""
assert open("{mnt}/data/empty", "rb").read() == b""
print("ok")
"#
    );
    run_python(&python);
    // The UFS is untouched.
    assert_eq!(
        std::fs::metadata(zones.ufs.join("data/one")).unwrap().len(),
        1
    );
    assert!(!zones.ufs.join("data/new").exists());
    let metrics = mount.metrics();
    assert!(
        metric(
            &metrics,
            "azimuth_mount_operations_total{operation=\"lookup\",outcome=\"ENOENT\"}"
        ) > 0.0
    );

    // Every source fails (all six workers dead, the file gone from the
    // UFS): the read answers EIO, and the log names what was tried.
    let open = std::fs::File::open(point.join("data/odd size.bin")).unwrap();
    let mut first = [0u8; 10];
    open.read_exact_at(&mut first, 0).unwrap();
    for id in ["a1", "a2", "b1", "b2", "c1", "c2"] {
        zones.worker_mut(id).kill();
    }
    std::fs::remove_file(zones.ufs.join("data/odd size.bin")).unwrap();
    let mut far = [0u8; 4096];
    let error = open.read_exact_at(&mut far, 1_000_000).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EIO), "{error}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("read failed") && logged.contains("tried: ") && logged.contains("worker a"),
        "the log does not say what was tried:\n{logged}"
    );
    let metrics = mount.metrics();
    assert!(
        metric(
            &metrics,
            "azimuth_mount_operations_total{operation=\"read\",outcome=\"EIO\"}"
        ) > 0.0
    );
}

#[test]
fn a_copy_out_of_the_mount_outlives_its_local_zone() {
    let mut zones = Zones::start();
    let big = zones.ufs.join("data/big.bin");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    assert!(
        sh(&format!(
            "head -c {} /dev/urandom > '{}'",
            256 << 20,
            big.display()
        ))
        .status
        .success()
    );
    let point = zones.site.dir.path().join("mnt");
    let mount = Mount::start(&conf(&zones, "mount"), &point);
    let before = mount.metrics();
    let copy = zones.site.dir.path().join("big.copy");
    let mut cp = Command::new("cp")
        .arg(point.join("data/big.bin"))
        .arg(&copy)
        .spawn()
        .unwrap();
    // Once a quarter is across, zone a (the mount's own cluster) dies.
    let started = wait_for(Duration::from_secs(120), || {
        let len = std::fs::metadata(&copy).map(|m| m.len()).unwrap_or(0);
        (len >= 64 << 20).then_some(())
    });
    assert!(
        started.is_some(),
        "cp did not get 64 MiB across in 2 minutes"
    );
    zones.worker_mut("a1").kill();
    zones.worker_mut("a2").kill();
    let status = cp.wait().unwrap();
    assert!(status.success(), "cp failed: {status}");
    let sum = |p: &Path| stdout(&format!("sha256sum < '{}'", p.display()));
    assert_eq!(
        sum(&copy),
        sum(&big),
        "the copy differs from the UFS's file"
    );
    // Reads moved to the other zones' workers.
    let after = mount.metrics();
    let remote = |text: &str| {
        total(text, "azimuth_client_reads_total", "tier=\"remote\"")
            + total(text, "azimuth_client_reads_total", "tier=\"remote_cached\"")
    };
    assert!(
        remote(&after) > remote(&before),
        "no read went to another zone:\n{after}"
    );
}

#[test]
fn sigterm_unmounts_even_with_a_file_open_and_mount_points_are_checked() {
    let zones = Zones::start();
    tree(&zones.ufs);
    let conf = conf(&zones, "mount");
    let point = zones.site.dir.path().join("mnt");

    // A mount point that is not an empty directory is refused, named.
    let busy = zones.site.dir.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("keep"), "x").unwrap();
    let refuse = |at: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_azimuth"))
            .arg("--conf")
            .arg(&conf)
            .arg("mount")
            .arg(at)
            .arg("--foreground")
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let said = refuse(&busy);
    assert!(
        said.contains("not empty") && said.contains(&busy.display().to_string()),
        "{said}"
    );
    let said = refuse(&busy.join("keep"));
    assert!(said.contains("not a directory"), "{said}");

    // SIGTERM with a file open: the process exits 0 and the mount is gone.
    let mut mount = Mount::start(&conf, &point);
    let open = std::fs::File::open(point.join("data/odd size.bin")).unwrap();
    assert!(mounted(&point));
    let status = mount.stop(libc::SIGTERM);
    assert!(status.success(), "azimuth mount exited with {status}");
    assert!(!mounted(&point), "still mounted after SIGTERM");
    drop(open);

    // A crashed mount is stale: a new one says how to clear it, and
    // `fusermount3 -u` does.
    let mut crashed = Mount::start(&conf, &point);
    crashed.stop(libc::SIGKILL);
    let said = refuse(&point);
    assert!(said.contains("fusermount3 -u"), "{said}");
    let cleared = Command::new("fusermount3")
        .arg("-u")
        .arg(&point)
        .status()
        .unwrap();
    assert!(cleared.success());

    // Detached (no --foreground): it returns once mounted, and the mount
    // serves until its process is told to stop.
    let out = Command::new(env!("CARGO_BIN_EXE_azimuth"))
        .arg("--conf")
        .arg(&conf)
        .arg("mount")
        .arg(&point)
        .env("AZIMUTH_LOG", "warn,fuser=error")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && said.starts_with("mounted "),
        "{said}"
    );
    let pid: i32 = said
        .split("process ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no process id in {said:?}"));
    let guard = Mount {
        child: None,
        point: point.clone(),
        metrics: String::new(),
    };
    assert_eq!(
        std::fs::read(point.join("data/one")).unwrap(),
        std::fs::read(zones.ufs.join("data/one")).unwrap()
    );
    // SAFETY: a signal to the detached mount this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let gone = wait_for(Duration::from_secs(20), || (!mounted(&point)).then_some(()));
    assert!(gone.is_some(), "the detached mount is still there");
    drop(guard);
}
