//! `azimuth demo`: three zones on this machine, showing themselves working.
//!
//! It starts three clusters (one per zone) of two workers each on loopback,
//! found through etcd when the `etcd` binary is on PATH and through a static
//! worker list otherwise, over a UFS directory of generated sample files,
//! and runs readers through a client of the first cluster. Then, phase by
//! phase, it shows what the read path does:
//!
//! 1. all zones up: reads are served by the local zone's cache;
//! 2. the local zone is killed (SIGKILL): reads fail over to the other
//!    zones, none fails;
//! 3. the zone comes back with empty caches: reads go to the cached remote
//!    replicas first, and passive caching refills the local zone until reads
//!    are local again;
//! 4. the policy file is swapped for `zone-local` (embedded): the ranking of
//!    a file cached only in another zone changes.
//!
//! It prints a report and stops everything it started (also on Ctrl-C; the
//! kernel kills the children if the demo itself is killed), removing its
//! directory unless `--dir` named one. `--keep-running` leaves the zones up
//! as a playground until Ctrl-C.

pub mod report;
pub mod spawn;
mod workload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{RngCore, SeedableRng};

use self::report::{Check, Phase, Report};
use self::spawn::{Child, WorkerSpec};
use self::workload::{Files, Workload};
use azimuth_client::{Client, SiteConfig, Tier};
use azimuth_policy::embedded::DEFAULT_POLICY;
use azimuth_policy::sha256_hex;

/// The component bytes of `policies/zone-local` (local workers, then the
/// UFS; never across zones), which the demo swaps in to show a ranking
/// change on a machine without a Wasm toolchain. Refreshed with
/// `azimuth policy build policies/zone-local -o host/cli/assets/zone-local-policy.wasm`;
/// a test fails when it is not the build of the current sources.
pub const ZONE_LOCAL_POLICY: &[u8] = include_bytes!("../../assets/zone-local-policy.wasm");

/// The clusters, one per zone; the client belongs to the first.
const CLUSTERS: [&str; 3] = ["alluxio-a", "alluxio-b", "alluxio-c"];
/// Workers per cluster.
const WORKERS: usize = 2;
/// A file the workload does not read, cached only in the second zone: its
/// ranking shows what a policy decides.
const SHOWCASE: &str = "showcase/cached-in-b-only";

/// What the demo does, validated.
#[derive(Clone, Debug)]
pub struct DemoSettings {
    /// How long each phase runs (at least).
    pub phase: Duration,
    /// Concurrent readers.
    pub readers: usize,
    /// Sample files to generate.
    pub files: usize,
    /// Bytes of each sample file.
    pub file_size: u64,
    /// Bytes per read.
    pub read_size: u64,
    /// Use a static worker list even if etcd is available.
    pub force_static: bool,
    /// Leave everything running after the report, until Ctrl-C.
    pub keep_running: bool,
    /// Where to put data, caches, site files and logs (kept); a temporary
    /// directory (removed) when `None`.
    pub dir: Option<PathBuf>,
    /// Which library log lines go to the demo's log file (`--log`).
    pub log_filter: String,
}

/// Why the demo stopped early.
#[derive(Debug, thiserror::Error)]
#[error("interrupted (Ctrl-C); everything the demo started was stopped")]
pub struct Interrupted;

/// The demo's directory; removed when dropped if it was made for the demo.
struct WorkDir {
    path: PathBuf,
    remove: bool,
}

impl WorkDir {
    fn new(chosen: Option<&Path>) -> anyhow::Result<Self> {
        let (path, remove) = match chosen {
            Some(dir) => {
                if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
                    bail!(
                        "--dir {}: not empty; give a new or empty directory",
                        dir.display()
                    );
                }
                (dir.to_owned(), false)
            }
            None => (
                std::env::temp_dir().join(format!("azimuth-demo-{}", std::process::id())),
                true,
            ),
        };
        for sub in ["ufs/datasets", "ufs/showcase", "cache", "logs"] {
            std::fs::create_dir_all(path.join(sub))
                .with_context(|| format!("cannot create {}", path.join(sub).display()))?;
        }
        Ok(Self { path, remove })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// One running worker.
struct Running {
    id: String,
    cluster: usize,
    port: u16,
    process: Child,
}

/// Runs the demo; returns its report (check [`Report::passed`]).
pub fn run(settings: &DemoSettings) -> anyhow::Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, Ordering::SeqCst);
            }
        });
    }
    let dir = WorkDir::new(settings.dir.as_deref())?;
    // The demo's terminal shows its own lines; the libraries' (say, failed
    // passive loads to the killed zone) go to its log, and are counted.
    let log = dir.path.join("logs").join("demo.log");
    let warnings = crate::cli::logging::to_file(&log, &settings.log_filter)
        .with_context(|| format!("cannot create {}", log.display()))?;
    let mut demo = Demo {
        settings: settings.clone(),
        dir: dir.path.clone(),
        runtime,
        interrupted,
        etcd: None,
        workers: Vec::new(),
        clients: Vec::new(),
        sites: Vec::new(),
        report: Report::default(),
    };
    let result = demo.run().map(|mut report| {
        report.library_warnings = warnings.load(Ordering::Relaxed);
        report.log_file = log.display().to_string();
        report.log_kept = !dir.remove;
        report
    });
    demo.shut_down();
    drop(dir);
    result
}

struct Demo {
    settings: DemoSettings,
    dir: PathBuf,
    runtime: tokio::runtime::Runtime,
    interrupted: Arc<AtomicBool>,
    etcd: Option<(Child, String)>,
    workers: Vec<Running>,
    /// One client per cluster, in [`CLUSTERS`] order; the first reads.
    clients: Vec<Client>,
    sites: Vec<PathBuf>,
    report: Report,
}

impl Demo {
    fn run(&mut self) -> anyhow::Result<Report> {
        let files = self.generate()?;
        self.start_membership()?;
        self.write_sites()?;
        self.start_workers()?;
        self.connect_clients()?;
        self.preload(&files)?;

        let reader = self.clients[0].clone();
        let zone_a: Vec<String> = self
            .workers
            .iter()
            .filter(|w| w.cluster == 0)
            .map(|w| w.id.clone())
            .collect();
        let workload = Workload::start(
            self.runtime.handle(),
            &reader,
            files,
            self.settings.readers,
            self.settings.read_size,
        );
        let phase = self.settings.phase;
        let nothing = |_: &mut Self| Ok(());
        let always = |_: &Phase| true;
        self.phase(
            &workload,
            "all three zones up",
            nothing,
            phase,
            phase,
            always,
        )?;
        let kill_zone_a = |demo: &mut Self| {
            for worker in demo.workers.iter_mut().filter(|w| w.cluster == 0) {
                worker.process.kill();
            }
            Ok(())
        };
        let killed = "zone a killed (SIGKILL): reads fail over to zones b and c";
        self.phase(&workload, killed, kill_zone_a, phase, phase, always)?;
        self.phase(
            &workload,
            "zone a back with empty caches: passive caching refills it",
            Self::restart_zone_a,
            phase,
            phase + Duration::from_secs(30),
            // ...and until the client trusts zone a's workers again (a
            // probe answered), so that the next phase starts with the
            // whole zone up.
            |p| p.tier(Tier::LocalCached) >= 20 && zone_a.iter().all(|id| reader.trusts(id)),
        )?;
        // The restarted workers' counters began at zero: all they read from
        // the UFS, passive caching loaded.
        let loaded = self.zone_a_ufs_bytes();

        self.swap_policy()?;
        let swapped = "policy swapped to zone-local";
        self.phase(&workload, swapped, nothing, phase, phase, always)?;
        self.runtime.block_on(workload.stop());
        self.check(loaded);
        if self.settings.keep_running {
            self.playground()?;
        }
        Ok(self.report.clone())
    }

    /// Fails with [`Interrupted`] once Ctrl-C was pressed.
    fn interrupted(&self) -> anyhow::Result<()> {
        if self.interrupted.load(Ordering::SeqCst) {
            Err(Interrupted.into())
        } else {
            Ok(())
        }
    }

    /// Writes the sample files into the UFS; returns them.
    fn generate(&self) -> anyhow::Result<Files> {
        let s = &self.settings;
        let bar = bar(s.files as u64 * s.file_size, "generating sample data");
        let mut files = Vec::with_capacity(s.files);
        for n in 0..s.files {
            self.interrupted()?;
            let mut data = vec![0u8; s.file_size as usize];
            rand::rngs::StdRng::seed_from_u64(n as u64).fill_bytes(&mut data);
            let path = format!("datasets/part-{n:04}");
            std::fs::write(self.dir.join("ufs").join(&path), &data)?;
            bar.inc(s.file_size);
            files.push((path, Bytes::from(data)));
        }
        let mut showcase = vec![0u8; 1 << 20];
        rand::rngs::StdRng::seed_from_u64(u64::MAX).fill_bytes(&mut showcase);
        std::fs::write(self.dir.join("ufs").join(SHOWCASE), &showcase)?;
        bar.finish_and_clear();
        eprintln!(
            "sample data: {} files of {} bytes in {}",
            s.files,
            s.file_size,
            self.dir.join("ufs").display()
        );
        Ok(Arc::new(files))
    }

    /// Starts etcd if its binary is on PATH (and not `--static`).
    fn start_membership(&mut self) -> anyhow::Result<()> {
        self.report.membership = match (self.settings.force_static, spawn::find_etcd()) {
            (true, _) => "static worker list (--static)".to_owned(),
            (false, None) => "static worker list (no etcd binary on PATH)".to_owned(),
            (false, Some(binary)) => {
                let (child, url) = spawn::start_etcd(&binary, &self.dir)?;
                let text = format!(
                    "etcd at {url} ({}), one for all three clusters",
                    binary.display()
                );
                self.etcd = Some((child, url));
                text
            }
        };
        eprintln!("membership: {}", self.report.membership);
        Ok(())
    }

    /// Picks the workers' ports and writes one site file per cluster (and
    /// the topology file or the static worker list).
    fn write_sites(&mut self) -> anyhow::Result<()> {
        for (cluster, _) in CLUSTERS.iter().enumerate() {
            for n in 1..=WORKERS {
                self.workers.push(Running {
                    id: format!("{}{n}", zone_letter(cluster)),
                    cluster,
                    port: spawn::free_port()?,
                    process: Child::placeholder(),
                });
            }
        }
        let membership = match &self.etcd {
            Some((_, url)) => {
                let topology =
                    serde_json::json!([{ "clusterNames": CLUSTERS, "endpoints": [url] }]);
                let path = self.dir.join("multi-az-clusters.json");
                std::fs::write(&path, serde_json::to_string_pretty(&topology)?)?;
                format!(
                    "alluxio.multi.cluster.config.path={}\nalluxio.worker.failure.detection.timeout=2s\n",
                    path.display()
                )
            }
            None => {
                let mut list = String::from("# azimuth demo: every cluster's workers\n");
                for (cluster, name) in CLUSTERS.iter().enumerate() {
                    list.push_str(&format!("[{name}]\n"));
                    for w in self.workers.iter().filter(|w| w.cluster == cluster) {
                        list.push_str(&format!("{} 127.0.0.1:{}\n", w.id, w.port));
                    }
                }
                let path = self.dir.join("workers.list");
                std::fs::write(&path, list)?;
                format!(
                    "alluxio.worker.membership.manager.type=STATIC\n\
                     alluxio.worker.static.membership.manager.config.file={}\n",
                    path.display()
                )
            }
        };
        std::fs::write(self.dir.join("policy.wasm"), DEFAULT_POLICY)?;
        // Every process of the demo shares a fresh token: workers refuse
        // reads, loads and even metrics to anyone without it.
        let token = self.dir.join("cluster.token");
        write_token(&token)?;
        for name in CLUSTERS {
            let path = self.dir.join(format!("site-{name}.properties"));
            let text = format!(
                "# azimuth demo: clients and workers of cluster {name}\n\
                 alluxio.cluster.name={name}\n\
                 alluxio.multi.cluster.enabled=true\n\
                 {membership}\
                 alluxio.dora.client.ufs.root={ufs}\n\
                 alluxio.user.replica.prefer.cached.replicas=true\n\
                 alluxio.user.file.passive.cache.enabled=true\n\
                 azimuth.policy.path={policy}\n\
                 azimuth.security.token.file={token}\n\
                 azimuth.security.open.routes=/healthz\n",
                ufs = self.dir.join("ufs").display(),
                policy = self.dir.join("policy.wasm").display(),
                token = token.display(),
            );
            std::fs::write(&path, text)?;
            self.sites.push(path);
        }
        Ok(())
    }

    fn start_workers(&mut self) -> anyhow::Result<()> {
        for index in 0..self.workers.len() {
            self.interrupted()?;
            self.start_worker(index)?;
        }
        self.report.dir = self.dir.display().to_string();
        self.report.workers = self
            .workers
            .iter()
            .map(|w| (w.id.clone(), format!("127.0.0.1:{}", w.port)))
            .collect();
        eprintln!(
            "workers: {}",
            self.workers
                .iter()
                .map(|w| format!("{} (127.0.0.1:{})", w.id, w.port))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    }

    fn start_worker(&mut self, index: usize) -> anyhow::Result<()> {
        let w = &self.workers[index];
        let cache_dir = self.dir.join("cache").join(&w.id);
        let log = self.dir.join("logs").join(format!("{}.log", w.id));
        let process = spawn::start_worker(&WorkerSpec {
            id: &w.id,
            conf: &self.sites[w.cluster],
            port: w.port,
            cache_dir: &cache_dir,
            log: &log,
        })?;
        self.workers[index].process = process;
        Ok(())
    }

    /// A client per cluster, once each sees all six workers.
    fn connect_clients(&mut self) -> anyhow::Result<()> {
        for site in &self.sites {
            let config = SiteConfig::load(Some(site), |_| {})?;
            let client = self.runtime.block_on(Client::connect(&config))?;
            self.clients.push(client);
        }
        self.wait_for(
            "every client to see all six workers",
            Duration::from_secs(20),
            |d| {
                d.clients
                    .iter()
                    .all(|c| c.view().workers().count() == CLUSTERS.len() * WORKERS)
            },
        )
    }

    /// Caches the sample files in every cluster, and the showcase file in
    /// the second only.
    fn preload(&self, files: &Files) -> anyhow::Result<()> {
        let total: u64 = files.iter().map(|(_, d)| d.len() as u64).sum();
        let bar = bar(
            total * CLUSTERS.len() as u64,
            "caching the sample data in every zone",
        );
        for client in &self.clients {
            for (path, data) in files.iter() {
                self.interrupted()?;
                self.runtime
                    .block_on(client.preload(path))
                    .with_context(|| format!("preloading {path} into {}", client.cluster()))?;
                bar.inc(data.len() as u64);
            }
        }
        self.runtime.block_on(self.clients[1].preload(SHOWCASE))?;
        bar.finish_and_clear();
        Ok(())
    }

    /// Runs one phase: `event` first, then at least `least` and at most
    /// `most`, ending once `done` holds for what it measured so far; shows
    /// it live.
    fn phase(
        &mut self,
        workload: &Workload,
        name: &str,
        event: impl FnOnce(&mut Self) -> anyhow::Result<()>,
        least: Duration,
        most: Duration,
        done: impl Fn(&Phase) -> bool,
    ) -> anyhow::Result<()> {
        let number = self.report.phases.len() + 1;
        eprintln!("phase {number}: {name}");
        let spinner = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("  {spinner} {elapsed:>3} {wide_msg}").expect("valid"),
        );
        let start = self.clients[0].stats();
        workload.take();
        let started = Instant::now();
        event(self)?;
        let client = &self.clients[0];
        loop {
            self.interrupted()?;
            std::thread::sleep(Duration::from_millis(200));
            let elapsed = started.elapsed();
            let mut so_far = Phase::new(
                name,
                elapsed.as_secs_f64(),
                &client.stats().since(&start),
                workload::Taken::default(),
            );
            so_far.p50_us = workload.peek_p50_us();
            spinner.set_message(so_far.line());
            spinner.tick();
            if elapsed >= most || (elapsed >= least && done(&so_far)) {
                break;
            }
        }
        let phase = Phase::new(
            name,
            started.elapsed().as_secs_f64(),
            &client.stats().since(&start),
            workload.take(),
        );
        spinner.finish_and_clear();
        eprintln!("  {}", phase.line());
        self.report.phases.push(phase);
        Ok(())
    }

    /// Starts zone a's workers again, on their ports, with empty caches.
    fn restart_zone_a(&mut self) -> anyhow::Result<()> {
        for index in 0..self.workers.len() {
            if self.workers[index].cluster == 0 {
                let cache = self.dir.join("cache").join(&self.workers[index].id);
                let _ = std::fs::remove_dir_all(&cache);
                self.start_worker(index)?;
            }
        }
        Ok(())
    }

    /// Bytes zone a's workers have read from the UFS since they started.
    fn zone_a_ufs_bytes(&self) -> u64 {
        self.workers
            .iter()
            .filter(|w| w.cluster == 0)
            .filter_map(|w| {
                let address = format!("127.0.0.1:{}", w.port);
                let api = self.clients[0].worker_api();
                let text = self.runtime.block_on(api.metrics(&address)).ok()?;
                text.lines().find_map(|l| {
                    l.strip_prefix("azimuth_worker_ufs_bytes_read_total ")?
                        .parse::<u64>()
                        .ok()
                })
            })
            .sum()
    }

    /// The plan for the showcase file, and the policy that made it.
    fn showcase_plan(&self) -> (Vec<String>, String) {
        let (_, explain) = self
            .runtime
            .block_on(self.clients[0].read_all(SHOWCASE, 0, Some(4096)));
        let sha = self.clients[0].engine().active().sha256.clone();
        let name = if sha == sha256_hex(ZONE_LOCAL_POLICY) {
            "zone-local"
        } else if sha == sha256_hex(DEFAULT_POLICY) {
            "default"
        } else {
            "another policy"
        };
        (
            explain.plan,
            format!("policy {name}, sha256 {}", &sha[..12]),
        )
    }

    /// Replaces the policy file with `zone-local` and waits for the client
    /// to run it.
    fn swap_policy(&mut self) -> anyhow::Result<()> {
        (self.report.plan_before, self.report.policy_before) = self.showcase_plan();
        let staged = self.dir.join("policy.wasm.new");
        std::fs::write(&staged, ZONE_LOCAL_POLICY)?;
        std::fs::rename(&staged, self.dir.join("policy.wasm"))?;
        let want = sha256_hex(ZONE_LOCAL_POLICY);
        self.wait_for(
            "the client to run the new policy",
            Duration::from_secs(10),
            |d| d.clients[0].engine().active().sha256 == want,
        )?;
        (self.report.plan_after, self.report.policy_after) = self.showcase_plan();
        eprintln!(
            "  ranking of {SHOWCASE}: {} -> now {}",
            self.report.plan_before.join(" > "),
            self.report.plan_after.join(" > ")
        );
        Ok(())
    }

    fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Self) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while !done(self) {
            self.interrupted()?;
            if Instant::now() > deadline {
                bail!("gave up waiting {limit:?} for {what}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Judges what the phases showed.
    fn check(&mut self, loaded: u64) {
        let r = &self.report;
        let [steady, killed, back, swapped] = [0, 1, 2, 3].map(|i| &r.phases[i]);
        let failed: u64 = r.phases.iter().map(|p| p.failed + p.mismatched).sum();
        let remote = |p: &Phase| p.tier(Tier::RemoteCached) + p.tier(Tier::Remote);
        let a_workers: Vec<String> = self
            .workers
            .iter()
            .filter(|w| w.cluster == 0)
            .map(|w| w.id.clone())
            .collect();
        let checks = vec![
            Check {
                name: "every read correct".into(),
                passed: failed == 0 && r.total_reads() > 0,
                detail: format!(
                    "{} reads, {failed} failed or wrong (every byte compared with the UFS file)",
                    r.total_reads()
                ),
            },
            Check {
                name: "local zone serves while up".into(),
                passed: steady.tier(Tier::LocalCached) > steady.reads / 2,
                detail: format!(
                    "{} of {} reads from zone a's cache",
                    steady.tier(Tier::LocalCached),
                    steady.reads
                ),
            },
            Check {
                name: "failover when zone a died".into(),
                passed: remote(killed) > 0 && killed.failed == 0,
                detail: format!(
                    "{} reads served by zones b and c, {} failovers, {} failed",
                    remote(killed),
                    killed.failovers,
                    killed.failed
                ),
            },
            Check {
                name: "passive caching refilled zone a".into(),
                passed: remote(back) > 0 && back.tier(Tier::LocalCached) > 0 && loaded > 0,
                detail: format!(
                    "{} reads remote first, then {} from zone a's cache; zone a loaded {:.1} MB",
                    remote(back),
                    back.tier(Tier::LocalCached),
                    loaded as f64 / 1e6
                ),
            },
            Check {
                name: "policy swap changed the ranking".into(),
                passed: r.plan_before != r.plan_after
                    && r.policy_after.contains("zone-local")
                    && r.plan_after
                        .iter()
                        .all(|s| s == "ufs" || a_workers.contains(s))
                    && swapped.cross_zone_bytes == 0,
                detail: format!(
                    "{} -> {}; {:.1} MB crossed zones after the swap",
                    r.plan_before.join(" > "),
                    r.plan_after.join(" > "),
                    swapped.cross_zone_bytes as f64 / 1e6
                ),
            },
        ];
        self.report.checks = checks;
    }

    /// Prints how to use the running zones, and waits for Ctrl-C.
    fn playground(&self) -> anyhow::Result<()> {
        println!("{}\n", self.report);
        println!("the three zones keep running; stop them with Ctrl-C");
        if let Some((_, url)) = &self.etcd {
            println!("  etcd: {url}");
        }
        for w in &self.workers {
            println!(
                "  worker {} of {}: http://127.0.0.1:{}",
                w.id, CLUSTERS[w.cluster], w.port
            );
        }
        let site = self.sites[0].display();
        println!(
            "  site files: {}",
            self.dir.join("site-*.properties").display()
        );
        println!("  try:");
        println!("    azimuth --conf {site} read datasets/part-0001 --explain -o /dev/null");
        println!("    azimuth --conf {site} info nodes");
        println!("    azimuth --conf {site} load showcase");
        println!(
            "    azimuth --conf {site} policy check {}",
            self.dir.join("policy.wasm").display()
        );
        while !self.interrupted.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Stops workers, then etcd; clients first, inside the runtime.
    fn shut_down(&mut self) {
        {
            let _inside = self.runtime.enter();
            self.clients.clear();
        }
        for worker in &mut self.workers {
            worker.process.stop();
        }
        if let Some((mut etcd, _)) = self.etcd.take() {
            etcd.stop();
        }
    }
}

fn zone_letter(cluster: usize) -> char {
    (b'a' + cluster as u8) as char
}

/// A byte progress bar on the terminal (nothing when it is not one).
fn bar(total: u64, what: &str) -> ProgressBar {
    ProgressBar::new(total)
        .with_style(
            ProgressStyle::with_template("  {msg} {wide_bar} {bytes}/{total_bytes}")
                .expect("valid")
                .progress_chars("=> "),
        )
        .with_message(what.to_owned())
}

/// Writes a random cluster token to `path`, readable by its owner only.
fn write_token(path: &Path) -> anyhow::Result<()> {
    use rand::Rng;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut rng = rand::rng();
    let token: String = (0..32)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect();
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(file, "{token}")?;
    Ok(())
}
