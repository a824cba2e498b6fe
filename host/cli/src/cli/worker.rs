//! `azimuth worker`: run a worker until SIGTERM or Ctrl-C.

use clap::Args;

use super::{Outcome, SiteArgs};
use azimuth_cluster::config;
use azimuth_worker::{Worker, WorkerPlan};

/// Worker flags; each overrides a site-file key.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The cluster to join (alluxio.cluster.name).
    #[arg(long)]
    cluster: Option<String>,
    /// HTTP listen address; port 0 picks a free one (azimuth.worker.listen) [default: 127.0.0.1:0].
    #[arg(long)]
    listen: Option<String>,
    /// The host clients reach this worker at, e.g. the pod IP when listening
    /// on 0.0.0.0 (azimuth.worker.host) [default: the listen address's host].
    #[arg(long)]
    host: Option<String>,
    /// This worker's id in membership (azimuth.worker.id) [default: <host>-<port>].
    #[arg(long)]
    id: Option<String>,
    /// Availability zone shown for this worker (azimuth.worker.zone) [default: the cluster name].
    #[arg(long)]
    zone: Option<String>,
    /// The UFS to serve: file:///dir (or /dir), or s3://bucket/prefix with AWS_* variables
    /// (alluxio.dora.client.ufs.root).
    #[arg(long)]
    ufs: Option<String>,
    /// The page cache directory; it survives restarts (alluxio.worker.page.store.dirs)
    /// [default: <tmp>/azimuth-cache/<cluster>-<id>].
    #[arg(long)]
    cache_dir: Option<String>,
    /// Cache capacity, e.g. 512MB or 10GB (alluxio.worker.page.store.sizes) [default: 1GB].
    #[arg(long)]
    cache_capacity: Option<String>,
    /// Page size, e.g. 1MB (alluxio.worker.page.store.page.size) [default: 1MB].
    #[arg(long)]
    page_size: Option<String>,
    /// Memory for verified pages of hot small reads, above the disk cache;
    /// 0 turns it off (azimuth.worker.memory.cache.size) [default: 64MB].
    #[arg(long)]
    memory_cache: Option<String>,
    /// Threads serving requests, e.g. 1 to leave the other cores to compute
    /// on the same machine (azimuth.worker.threads) [default: 0, one per core].
    #[arg(long)]
    threads: Option<String>,
}

/// Starts the worker, prints its address, and runs until asked to stop;
/// then deregisters before exiting.
pub fn run(site: &SiteArgs, args: WorkerArgs) -> anyhow::Result<Outcome> {
    let config = site.load(|raw| {
        raw.set_flag("--cluster", config::CLUSTER_NAME, args.cluster);
        raw.set_flag("--listen", config::WORKER_LISTEN, args.listen);
        raw.set_flag("--host", config::WORKER_HOST, args.host);
        raw.set_flag("--id", config::WORKER_ID, args.id);
        raw.set_flag("--zone", config::WORKER_ZONE, args.zone);
        raw.set_flag("--ufs", config::UFS_ROOT, args.ufs);
        raw.set_flag("--cache-dir", config::PAGE_STORE_DIRS, args.cache_dir);
        raw.set_flag(
            "--cache-capacity",
            config::PAGE_STORE_SIZES,
            args.cache_capacity,
        );
        raw.set_flag("--page-size", config::PAGE_SIZE, args.page_size);
        raw.set_flag(
            "--memory-cache",
            config::MEMORY_CACHE_SIZE,
            args.memory_cache,
        );
        raw.set_flag("--threads", config::WORKER_THREADS, args.threads);
    })?;
    let scheme = if config.security.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = config.worker.threads {
        runtime.worker_threads(threads);
    }
    let plan = WorkerPlan::new(config)?;
    let runtime = runtime.build()?;
    runtime.block_on(async {
        let worker = Worker::start(plan).await?;
        let record = worker.record.borrow().clone();
        // Scripts and tests read this line to find the worker.
        println!(
            "worker {} of cluster {} listening on {scheme}://{}",
            record.id, record.cluster, worker.address
        );
        shutdown_signal().await;
        tracing::info!("stopping: deregistering and closing the listener");
        worker.stop().await;
        anyhow::Ok(Outcome::Success)
    })
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub(super) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("can install a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
