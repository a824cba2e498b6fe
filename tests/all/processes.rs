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
    /// Flags after the defaults (etcd takes the last of a repeated flag).
    extra: Vec<String>,
    /// With TLS: an HTTPS client etcd admits, to ask `/health` with.
    tls_health: Option<reqwest::blocking::Client>,
    paused: bool,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

/// An etcd server's TLS files: its certificate and key, and the CA whose
/// client certificates it requires.
pub struct EtcdTls<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    pub ca: &'a Path,
    /// A client etcd admits (a certificate of `ca`), for health checks.
    pub health: reqwest::blocking::Client,
}

impl Etcd {
    /// Starts a single-member etcd and waits until it answers.
    pub fn start(name: &str) -> Self {
        let mut etcd = Self::member(name, free_port(), free_port(), Vec::new());
        etcd.restart();
        etcd
    }

    /// Starts a single-member etcd that serves clients over HTTPS only and
    /// requires a client certificate of `tls.ca`.
    pub fn start_tls(name: &str, tls: EtcdTls<'_>) -> Self {
        let client_port = free_port();
        let url = format!("https://127.0.0.1:{client_port}");
        let mut extra: Vec<String> = [
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ]
        .map(str::to_owned)
        .to_vec();
        for (flag, file) in [
            ("--cert-file", tls.cert),
            ("--key-file", tls.key),
            ("--trusted-ca-file", tls.ca),
        ] {
            extra.push(flag.to_owned());
            extra.push(file.display().to_string());
        }
        extra.push("--client-cert-auth".to_owned());
        let mut etcd = Self::member(name, client_port, free_port(), extra);
        etcd.url = url;
        etcd.tls_health = Some(tls.health);
        etcd.restart();
        etcd
    }

    /// Starts an etcd cluster of one member per name, and waits until every
    /// member answers (none can alone: each waits for a quorum).
    pub fn start_cluster(names: &[&str]) -> Vec<Self> {
        let ports: Vec<(u16, u16)> = names.iter().map(|_| (free_port(), free_port())).collect();
        let initial = names
            .iter()
            .zip(&ports)
            .map(|(name, (_, peer))| format!("{name}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<Self> = names
            .iter()
            .zip(&ports)
            .map(|(name, &(client, peer))| {
                let extra = vec![
                    "--initial-cluster".to_owned(),
                    initial.clone(),
                    "--initial-cluster-state".to_owned(),
                    "new".to_owned(),
                    // Elections within a second, so that killing the leader
                    // costs the site a second, not the defaults' ten.
                    "--heartbeat-interval".to_owned(),
                    "100".to_owned(),
                    "--election-timeout".to_owned(),
                    "1000".to_owned(),
                ];
                Self::member(name, client, peer, extra)
            })
            .collect();
        for member in &mut members {
            member.spawn();
        }
        for member in &members {
            member.wait_healthy();
        }
        members
    }

    fn member(name: &str, client_port: u16, peer_port: u16, extra: Vec<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Etcd {
            url: format!("http://127.0.0.1:{client_port}"),
            name: name.to_owned(),
            client_port,
            peer_port,
            data: dir.path().join("data"),
            extra,
            tls_health: None,
            paused: false,
            child: None,
            _dir: dir,
        }
    }

    /// Starts it again on the same ports and data (after [`Etcd::kill`]),
    /// and waits until it answers.
    pub fn restart(&mut self) {
        self.spawn();
        self.wait_healthy();
    }

    /// Starts it again without waiting: a member of a cluster that lost its
    /// quorum answers only once enough others are back.
    pub fn spawn(&mut self) {
        assert!(
            self.child.is_none(),
            "etcd {} is already running",
            self.name
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.with_extension("log"))
            .unwrap();
        let child = azimuth::demo::spawn::etcd_command(
            Path::new("etcd"),
            &self.name,
            &self.data,
            self.client_port,
            self.peer_port,
        )
        .args(&self.extra)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("etcd runs (apt-get install etcd-server)");
        self.child = Some(child);
    }

    fn wait_healthy(&self) {
        let healthy = wait_for(Duration::from_secs(20), || self.healthy().then_some(()));
        assert!(
            healthy.is_some(),
            "etcd {} did not become healthy",
            self.name
        );
    }

    /// Whether it runs (it may still be waiting for its quorum).
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("etcd running").id()
    }

    /// SIGKILLs it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// SIGSTOP: it holds its connections and answers nothing.
    pub fn pause(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid() as i32, libc::SIGSTOP) };
        self.paused = true;
    }

    /// SIGCONT after [`Etcd::pause`].
    pub fn resume(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid() as i32, libc::SIGCONT) };
        self.paused = false;
    }

    /// Whether it is stopped by [`Etcd::pause`].
    pub fn paused(&self) -> bool {
        self.paused
    }

    fn healthy(&self) -> bool {
        match &self.tls_health {
            None => azimuth::demo::spawn::etcd_healthy(self.client_port),
            Some(client) => client
                .get(format!("{}/health", self.url))
                .send()
                .and_then(|r| r.text())
                .is_ok_and(|body| body.contains("\"health\":\"true\"")),
        }
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
    /// How it was started, to start it again the same way.
    conf: PathBuf,
    args: Vec<String>,
    level: &'static str,
    /// Where its standard error goes: a file (appended to), or the test's.
    log: Option<PathBuf>,
    /// Between [`Worker::pause`] and [`Worker::resume`].
    paused: std::sync::atomic::AtomicBool,
    /// Holds the default UFS and cache directories, when the test gave none.
    _dirs: Option<tempfile::TempDir>,
}

impl Worker {
    /// Starts `azimuth --conf <conf> worker --id <id> <extra...>` and waits for
    /// the line announcing its address. Without `--ufs` in `extra` it gets an
    /// empty UFS, without `--cache-dir` a cache of its own.
    pub fn start(conf: &Path, id: &str, extra: &[&str]) -> Self {
        Self::spawn(conf, id, extra, "warn", None)
    }

    /// Like [`Worker::start`], logging everything (`trace`) to `log`.
    pub fn start_logging_everything(conf: &Path, id: &str, extra: &[&str], log: &Path) -> Self {
        Self::spawn(conf, id, extra, "trace", Some(log))
    }

    /// Like [`Worker::start`], its warnings going to `log`.
    pub fn start_logging_to(conf: &Path, id: &str, extra: &[&str], log: &Path) -> Self {
        Self::spawn(conf, id, extra, "warn", Some(log))
    }

    fn spawn(
        conf: &Path,
        id: &str,
        extra: &[&str],
        level: &'static str,
        log: Option<&Path>,
    ) -> Self {
        let mut args: Vec<String> = ["worker", "--id", id].map(str::to_owned).to_vec();
        args.extend(extra.iter().map(|a| a.to_string()));
        let needs_ufs = !extra.contains(&"--ufs");
        // A worker given a UFS but no cache directory still gets one of its
        // own: the default, under the system's temp dir, outlives the test.
        let needs_cache = !extra.contains(&"--cache-dir");
        let dirs = (needs_ufs || needs_cache).then(|| {
            let dir = tempfile::tempdir().unwrap();
            if needs_ufs {
                std::fs::create_dir(dir.path().join("ufs")).unwrap();
                args.push("--ufs".to_owned());
                args.push(dir.path().join("ufs").display().to_string());
            }
            if needs_cache {
                args.push("--cache-dir".to_owned());
                args.push(dir.path().join("cache").display().to_string());
            }
            dir
        });
        let mut worker = Worker {
            id: id.to_owned(),
            address: String::new(),
            child: None,
            conf: conf.to_owned(),
            args,
            level,
            log: log.map(Path::to_owned),
            paused: Default::default(),
            _dirs: dirs,
        };
        if let Some(log) = log {
            std::fs::File::create(log).unwrap();
        }
        worker.restart();
        worker
    }

    /// Starts it again (after [`Worker::kill`]) with the same site file,
    /// flags and cache directory; waits for its address (a new port unless
    /// `--listen` named one).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "worker {} is running", self.id);
        let stderr: Stdio = match &self.log {
            Some(log) => std::fs::OpenOptions::new()
                .append(true)
                .open(log)
                .unwrap()
                .into(),
            None => Stdio::inherit(),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_azimuth"))
            .arg("--conf")
            .arg(&self.conf)
            .args(&self.args)
            .env("AZIMUTH_LOG", self.level)
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
        let id = &self.id;
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("worker {id} did not announce its address"));
        self.address = line
            .trim()
            .rsplit_once("://")
            .unwrap_or_else(|| panic!("worker {id} printed {line:?} instead of its address"))
            .1
            .to_owned();
        self.child = Some(child);
    }

    /// Whether its process runs (stopped or not).
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether it is stopped by [`Worker::pause`].
    pub fn paused(&self) -> bool {
        self.paused.load(std::sync::atomic::Ordering::SeqCst)
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
        self.paused
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// SIGSTOP: the process stays, its sockets still accept connections (the
    /// kernel completes handshakes into the backlog), and nothing answers —
    /// a worker that stops answering, as behind a network that drops packets.
    /// Returns once every thread has stopped: kill(2) returns before the
    /// stop takes effect, and on a loaded machine a worker could otherwise
    /// still answer a read sent just after.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
        self.paused.store(true, std::sync::atomic::Ordering::SeqCst);
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
        self.paused
            .store(false, std::sync::atomic::Ordering::SeqCst);
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
        let watcher =
            runtime.block_on(async { MembershipWatcher::start(&groups, &Default::default()) });
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
    /// listed in `workers`, adding `extra` lines.
    pub fn static_cluster(&self, workers: &Path, extra: &str) -> PathBuf {
        self.write(
            "site.properties",
            &format!(
                "alluxio.cluster.name=local\nalluxio.worker.membership.manager.type=STATIC\n\
                 alluxio.worker.static.membership.manager.config.file={}\n{extra}",
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
