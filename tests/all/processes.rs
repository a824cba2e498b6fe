//! Real etcd and worker processes for tests, on loopback and free ports,
//! killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azimuth_cluster::membership::{MembershipView, MembershipWatcher};
use azimuth_cluster::topology::Group;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 5 ms until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An etcd server (Debian's `etcd-server`) with its own data directory.
pub struct Etcd {
    pub url: String,
    name: String,
    client_port: u16,
    peer_port: u16,
    data: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Etcd {
    /// Starts a single-member etcd and waits until it answers.
    pub fn start(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let client_port = free_port();
        let mut etcd = Etcd {
            url: format!("http://127.0.0.1:{client_port}"),
            name: name.to_owned(),
            client_port,
            peer_port: free_port(),
            data: dir.path().join("data"),
            child: None,
            _dir: dir,
        };
        etcd.restart();
        etcd
    }

    /// Starts it again on the same ports and data (after [`Etcd::kill`]).
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "etcd {} is already running",
            self.name
        );
        let log = std::fs::File::create(self.data.with_extension("log")).unwrap();
        let child = azimuth::demo::spawn::etcd_command(
            Path::new("etcd"),
            &self.name,
            &self.data,
            self.client_port,
            self.peer_port,
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("etcd runs (apt-get install etcd-server)");
        self.child = Some(child);
        let healthy = wait_for(Duration::from_secs(20), || self.healthy().then_some(()));
        assert!(
            healthy.is_some(),
            "etcd {} did not become healthy",
            self.name
        );
    }

    /// SIGKILLs it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn healthy(&self) -> bool {
        azimuth::demo::spawn::etcd_healthy(self.client_port)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `azimuth worker` process.
pub struct Worker {
    pub id: String,
    pub address: String,
    child: Option<Child>,
    /// Holds the default UFS and cache directories, when the test gave none.
    _dirs: Option<tempfile::TempDir>,
}

impl Worker {
    /// Starts `azimuth --conf <conf> worker --id <id> <extra...>` and waits for
    /// the line announcing its address. Without `--ufs` and `--cache-dir` in
    /// `extra`, it gets an empty UFS and a cache of its own.
    pub fn start(conf: &Path, id: &str, extra: &[&str]) -> Self {
        Self::spawn(conf, id, extra, "warn", Stdio::inherit())
    }

    /// Like [`Worker::start`], logging everything (`trace`) to `log`.
    pub fn start_logging_everything(conf: &Path, id: &str, extra: &[&str], log: &Path) -> Self {
        let file = std::fs::File::create(log).unwrap();
        Self::spawn(conf, id, extra, "trace", file.into())
    }

    fn spawn(conf: &Path, id: &str, extra: &[&str], level: &str, stderr: Stdio) -> Self {
        let mut defaults = Vec::new();
        let dirs = (!extra.contains(&"--ufs")).then(|| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("ufs")).unwrap();
            defaults.push("--ufs".to_owned());
            defaults.push(dir.path().join("ufs").display().to_string());
            if !extra.contains(&"--cache-dir") {
                defaults.push("--cache-dir".to_owned());
                defaults.push(dir.path().join("cache").display().to_string());
            }
            dir
        });
        let mut child = Command::new(env!("CARGO_BIN_EXE_azimuth"))
            .arg("--conf")
            .arg(conf)
            .args(["worker", "--id", id])
            .args(extra)
            .args(&defaults)
            .env("AZIMUTH_LOG", level)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("azimuth worker runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("worker {id} did not announce its address"));
        let address = line
            .trim()
            .rsplit_once("://")
            .unwrap_or_else(|| panic!("worker {id} printed {line:?} instead of its address"))
            .1
            .to_owned();
        Worker {
            id: id.to_owned(),
            address,
            child: Some(child),
            _dirs: dirs,
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("worker running").id()
    }

    /// SIGKILL: the worker cannot deregister.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the process stays, its sockets still accept connections (the
    /// kernel completes handshakes into the backlog), and nothing answers —
    /// a worker that stops answering, as behind a network that drops packets.
    /// Returns once every thread has stopped: kill(2) returns before the
    /// stop takes effect, and on a loaded machine a worker could otherwise
    /// still answer a read sent just after.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
        let pid = self.child.as_ref().expect("worker running").id();
        let stopped = || {
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("proc task list");
            tasks.flatten().all(|task| {
                let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
                // The state follows the parenthesised command name.
                let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
                matches!(state, Some(Some('T' | 't')))
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !stopped() {
            assert!(Instant::now() < deadline, "worker {} did not stop", self.id);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGCONT after [`Worker::pause`].
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        let child = self.child.as_ref().expect("worker running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, signal) };
    }

    /// One counter or gauge from its `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let text = reqwest::blocking::get(format!("http://{}/metrics", self.address))
            .and_then(|r| r.text())
            .unwrap_or_else(|e| panic!("metrics of worker {}: {e}", self.id));
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
    }

    /// SIGTERM, then waits for it to exit; returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("worker running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = wait_for(Duration::from_secs(10), || child.try_wait().unwrap());
        status.unwrap_or_else(|| {
            let _ = child.kill();
            panic!("worker {} did not exit after SIGTERM", self.id)
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A membership view followed in-process, as a client would.
pub struct ViewFollower {
    runtime: tokio::runtime::Runtime,
    watcher: Option<MembershipWatcher>,
}

impl ViewFollower {
    /// Follows one cluster registered in the etcd at `url`.
    pub fn one_cluster(cluster: &str, url: &str) -> Self {
        Self::start(vec![Group {
            clusters: vec![cluster.to_owned()],
            endpoints: vec![url.to_owned()],
        }])
    }

    pub fn start(groups: Vec<Group>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let watcher = runtime.block_on(async { MembershipWatcher::start(&groups, None) });
        Self {
            runtime,
            watcher: Some(watcher),
        }
    }

    /// The view now.
    pub fn view(&self) -> Arc<MembershipView> {
        self.watcher.as_ref().unwrap().subscribe().borrow().clone()
    }

    /// Waits for a view satisfying `check`; returns it and when it was seen.
    pub fn wait(
        &self,
        limit: Duration,
        check: impl Fn(&MembershipView) -> bool,
    ) -> Option<(Arc<MembershipView>, Instant)> {
        let mut rx = self.watcher.as_ref().unwrap().subscribe();
        self.runtime.block_on(async {
            let found = tokio::time::timeout(limit, rx.wait_for(|v| check(v))).await;
            match found {
                Ok(Ok(view)) => Some((view.clone(), Instant::now())),
                _ => None,
            }
        })
    }

    /// Ids of the workers in the view, sorted.
    pub fn ids(view: &MembershipView) -> Vec<String> {
        let mut ids: Vec<String> = view.workers().map(|w| w.id.clone()).collect();
        ids.sort();
        ids
    }
}

impl Drop for ViewFollower {
    fn drop(&mut self) {
        let _guard = self.runtime.enter();
        self.watcher.take();
    }
}

/// A directory of site files and a topology file.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn new() -> Self {
        Site {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes `name` in the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes `site.properties` for one cluster whose etcd is at `url`,
    /// adding `extra` lines.
    pub fn single_cluster(&self, cluster: &str, url: &str, extra: &str) -> PathBuf {
        self.write(
            "site.properties",
            &format!("alluxio.cluster.name={cluster}\nalluxio.etcd.endpoints={url}\n{extra}"),
        )
    }

    /// Writes `lone.properties`: cluster `lone`, STATIC membership with an
    /// empty list (a worker alone), and `extra` lines.
    pub fn lone_cluster(&self, extra: &str) -> PathBuf {
        let list = self.write("lone-workers", "");
        self.write(
            "lone.properties",
            &format!(
                "alluxio.cluster.name=lone\nalluxio.worker.membership.manager.type=STATIC\n\
                 alluxio.worker.static.membership.manager.config.file={}\n{extra}",
                list.display()
            ),
        )
    }

    /// Writes `site.properties` for cluster `local` with STATIC membership
    /// listed in `workers`.
    pub fn static_cluster(&self, workers: &Path) -> PathBuf {
        self.write(
            "site.properties",
            &format!(
                "alluxio.cluster.name=local\nalluxio.worker.membership.manager.type=STATIC\n\
                 alluxio.worker.static.membership.manager.config.file={}\n",
                workers.display()
            ),
        )
    }

    /// Writes one site file per cluster, each naming its cluster, turning
    /// multi-cluster on with `topology`, and adding `extra` lines.
    pub fn multi_az_confs(&self, clusters: &[&str], topology: &Path, extra: &str) -> Vec<PathBuf> {
        clusters
            .iter()
            .map(|cluster| {
                self.write(
                    &format!("{cluster}.properties"),
                    &format!(
                        "alluxio.cluster.name={cluster}\nalluxio.multi.cluster.enabled=true\n\
                         alluxio.multi.cluster.config.path={}\n{extra}",
                        topology.display()
                    ),
                )
            })
            .collect()
    }

    /// Writes `multi-az-clusters.json` for `groups` (clusters, etcd URL).
    pub fn topology(&self, groups: &[(&[&str], &str)]) -> PathBuf {
        let json: Vec<serde_json::Value> = groups
            .iter()
            .map(
                |(clusters, url)| serde_json::json!({"clusterNames": clusters, "endpoints": [url]}),
            )
            .collect();
        self.write(
            "multi-az-clusters.json",
            &serde_json::to_string_pretty(&json).unwrap(),
        )
    }
}
