//! The processes a demo starts — etcd, when its binary is on PATH, and
//! workers (this same binary) — as children that are stopped when dropped
//! and that the kernel kills if the demo itself dies (`PR_SET_PDEATHSIG`),
//! so nothing is left running whatever ends the demo.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A child process, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Child {
    child: Option<std::process::Child>,
}

impl Child {
    /// No process yet.
    pub fn placeholder() -> Self {
        Child { child: None }
    }

    /// SIGKILL: gone at once, as when a machine or a zone dies.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, up to 5 s to exit, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A command whose process the kernel kills when this process dies.
fn command(program: &Path) -> Command {
    let mut command = Command::new(program);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// A loopback port nobody listens on now, below Linux's ephemeral range
/// (32768 up): ports there are handed out by `bind(0)` to anyone, and a
/// worker restarted on its port (static membership) must find it still free.
pub fn free_port() -> anyhow::Result<u16> {
    use rand::Rng;
    let mut rng = rand::rng();
    for _ in 0..200 {
        let port = rng.random_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free loopback port found between 20000 and 32000")
}

/// The `etcd` binary on PATH, if there is one.
pub fn find_etcd() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("etcd"))
            .find(|candidate| candidate.is_file())
    })
}

/// The command line of a single-member etcd named `name` serving clients
/// on `client_port` and peers on `peer_port` of loopback, with its data in
/// `data` (shared with the tests, which start etcd the same way).
pub fn etcd_command(
    binary: &Path,
    name: &str,
    data: &Path,
    client_port: u16,
    peer_port: u16,
) -> Command {
    let url = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let mut etcd = command(binary);
    etcd.args(["--name", name, "--data-dir"])
        .arg(data)
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .arg("--initial-cluster")
        .arg(format!("{name}={peer}"));
    etcd
}

/// Starts a single-member etcd on free loopback ports with its data under
/// `dir`; returns it and its client URL once it answers.
pub fn start_etcd(binary: &Path, dir: &Path) -> anyhow::Result<(Child, String)> {
    let (client_port, peer_port) = (free_port()?, free_port()?);
    let url = format!("http://127.0.0.1:{client_port}");
    let log = std::fs::File::create(dir.join("etcd.log"))?;
    let child = etcd_command(
        binary,
        "demo",
        &dir.join("etcd-data"),
        client_port,
        peer_port,
    )
    .stdout(Stdio::null())
    .stderr(log)
    .spawn()
    .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut etcd = Child { child: Some(child) };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if etcd_healthy(client_port) {
            return Ok((etcd, url));
        }
        if let Some(child) = etcd.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            bail!(
                "etcd exited ({status}); see {}",
                dir.join("etcd.log").display()
            );
        }
        if Instant::now() > deadline {
            etcd.kill();
            bail!(
                "etcd did not become healthy in 20 s; see {}",
                dir.join("etcd.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the etcd on loopback `port` says it is healthy (`GET /health`;
/// also what the tests wait on).
pub fn etcd_healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut answer = String::new();
    stream.write_all(b"GET /health HTTP/1.0\r\n\r\n").is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.contains("\"health\":\"true\"")
}

/// How to start one worker.
pub struct WorkerSpec<'a> {
    /// Its id (`--id`).
    pub id: &'a str,
    /// Its site file (`--conf`).
    pub conf: &'a Path,
    /// Its loopback port (`--listen 127.0.0.1:PORT`).
    pub port: u16,
    /// Its cache directory (`--cache-dir`).
    pub cache_dir: &'a Path,
    /// Where its standard error goes.
    pub log: &'a Path,
}

/// Starts `azimuth worker` (this binary) and waits for it to announce its
/// address.
pub fn start_worker(spec: &WorkerSpec<'_>) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find this program's binary")?;
    let log = std::fs::File::create(spec.log)
        .with_context(|| format!("cannot create {}", spec.log.display()))?;
    let mut child = command(&exe)
        .arg("--conf")
        .arg(spec.conf)
        .args(["worker", "--id", spec.id, "--listen"])
        .arg(format!("127.0.0.1:{}", spec.port))
        .arg("--cache-dir")
        .arg(spec.cache_dir)
        .args(["--cache-capacity", "512MB", "--memory-cache", "16MB"])
        .env("AZIMUTH_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start worker {}", spec.id))?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        for _ in lines {} // Keep draining: a full pipe would block the worker.
    });
    let mut worker = Child { child: Some(child) };
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(Ok(line))) if line.contains("listening on http://") => Ok(worker),
        _ => {
            worker.kill();
            // The directory may not outlive the demo: quote the log's end.
            let log = std::fs::read_to_string(spec.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "worker {} did not start on port {}: {}",
                spec.id,
                spec.port,
                tail.join(" | ")
            )
        }
    }
}
