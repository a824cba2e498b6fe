//! The worker process: serves UFS files through its page cache over HTTP,
//! registers in membership, and runs the policy it is configured to follow.
//!
//! - [`cache`]: the page cache on disk, and its memory tier.
//! - [`files`]: what a read does (UFS version, cache, single-flight fetches).
//! - `http`: the routes; [`paths`] and [`range`] check what requests ask;
//!   [`request`] and [`reply`]: a request's head as the hot paths read it,
//!   and their answers, with heads written as text.
//! - `access`: the cluster token every route but the open ones requires.
//! - `metrics`: the Prometheus counters.
//! - [`serve`]: the accept loop and its limits (header deadline and size,
//!   open connections), which the S3 gateway serves through too;
//!   `connection`: one connection, its plain reads answered without hyper;
//!   [`tls`]: HTTPS and client certificates.

#![warn(missing_docs)]

mod access;
pub mod cache;
mod connection;
mod deadline;
pub mod files;
mod http;
mod metrics;
pub mod paths;
pub mod range;
pub mod reply;
pub mod request;
pub mod serve;
pub mod tls;

pub use http::{Answer, Front, WorkerService};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azimuth_cluster::config::{self, ConfigError, SiteConfig};
use azimuth_cluster::etcd::EtcdTarget;
use azimuth_cluster::follow::{self, AbortOnDrop, FollowError};
use azimuth_cluster::membership::keys::check_name;
use azimuth_cluster::membership::view::now_ms;
use azimuth_cluster::membership::{Ports, Registration, RegistrationState, WorkerRecord};
use azimuth_ufs::{MetadataCache, Ufs};
use tokio::sync::watch;

use crate::cache::{DiskPageStore, PageStore};

/// How long a graceful stop waits for deregistration before giving up (the
/// key then expires with its lease).
const DEREGISTER_LIMIT: Duration = Duration::from_secs(2);

/// How often cache usage is copied into the membership record.
const USAGE_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration does not describe a worker.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {address} ({key}): {source}", key = config::WORKER_LISTEN)]
    Listen {
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The worker id (given, or made of the host and port) is not a valid name.
    #[error("worker id {id:?} ({key}): {why}", key = config::WORKER_ID)]
    Id {
        /// The id.
        id: String,
        /// Why it is refused.
        why: String,
    },
    /// The page cache directory cannot be opened.
    #[error("cannot open the page cache {} ({key}): {source}", dir.display(), key = config::PAGE_STORE_DIRS)]
    Cache {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configured policy could not be started.
    #[error(transparent)]
    Policy(#[from] FollowError),
    /// etcd refused the configured user and password.
    #[error(transparent)]
    EtcdCredentials(#[from] azimuth_cluster::etcd::CredentialsRefused),
    /// The TLS files do not make a server configuration.
    #[error(transparent)]
    Tls(#[from] tls::TlsSetupError),
}

/// A worker's validated settings, resolved from the site configuration.
pub struct WorkerPlan {
    config: SiteConfig,
    cluster: String,
    ufs: Ufs,
}

impl WorkerPlan {
    /// Checks that `config` describes a worker: it names its cluster and
    /// its UFS.
    pub fn new(config: SiteConfig) -> Result<Self, ConfigError> {
        let cluster = config
            .require_cluster_name("a worker must know the cluster it registers in (--cluster)")?
            .to_owned();
        let ufs = config
            .require_ufs(
                "a worker serves files from the UFS (--ufs file:///dir or s3://bucket/prefix)",
            )?
            .clone();
        Ok(Self {
            config,
            cluster,
            ufs,
        })
    }
}

/// A running worker.
pub struct Worker {
    /// The address its HTTP API listens on.
    pub address: SocketAddr,
    /// Its membership record, as last published.
    pub record: watch::Receiver<WorkerRecord>,
    // Held so the registration task does not read the sender's drop as a stop.
    _record: Arc<watch::Sender<WorkerRecord>>,
    registration: Option<Registration>,
    server: tokio::task::JoinHandle<()>,
    shutdown: watch::Sender<bool>,
    _tasks: Vec<AbortOnDrop>,
}

impl Worker {
    /// Binds the listener, starts the policy engine (if a policy is
    /// configured), serves, and registers. Must run inside a tokio runtime.
    pub async fn start(plan: WorkerPlan) -> Result<Self, StartError> {
        raise_open_file_limit();
        let WorkerPlan {
            config,
            cluster,
            ufs,
        } = plan;
        config.check_etcd_credentials().await?;
        let tls = config
            .security
            .tls
            .as_ref()
            .map(tls::acceptor)
            .transpose()?;
        let listen_error = |source| StartError::Listen {
            address: config.worker.listen.clone(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(&config.worker.listen)
            .await
            .map_err(listen_error)?;
        let address = listener.local_addr().map_err(listen_error)?;
        let host = match &config.worker.host {
            Some(host) => host.clone(),
            None if address.ip().is_unspecified() => hostname(),
            None => address.ip().to_string(),
        };
        let id = match &config.worker.id {
            Some(id) => id.clone(),
            None => format!("{}-{}", host.replace(':', "_"), address.port()),
        };
        check_name(&id).map_err(|why| StartError::Id {
            id: id.clone(),
            why,
        })?;
        let cache_dir = config.worker.cache_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir()
                .join("azimuth-cache")
                .join(format!("{cluster}-{id}"))
        });
        let capacity = config.worker.cache_capacity;
        let opened = {
            let dir = cache_dir.clone();
            tokio::task::spawn_blocking(move || DiskPageStore::open(&dir, capacity))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        };
        let store = opened.map_err(|source| StartError::Cache {
            dir: cache_dir.clone(),
            source,
        })?;
        let store: Arc<dyn PageStore> = Arc::new(store);
        tracing::info!(dir = %cache_dir.display(), capacity, ufs = ufs.url(), "page cache open");
        let files = Arc::new(files::Files::new(
            MetadataCache::new(ufs, config.metadata_sync),
            store.clone(),
            config.worker.page_size,
            config.worker.memory_cache_size,
        ));
        let record = WorkerRecord {
            id,
            cluster: cluster.clone(),
            zone: config
                .worker
                .zone
                .clone()
                .unwrap_or_else(|| cluster.clone()),
            host,
            ports: Ports {
                http: address.port(),
            },
            capacity_bytes: capacity,
            used_bytes: store.stats().used_bytes,
            start_time_ms: now_ms(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            policy_sha256: None,
        };
        let (record_tx, record_rx) = watch::channel(record);
        let record_tx = Arc::new(record_tx);

        let mut tasks = Vec::new();
        let engine = if follow::is_configured(&config) {
            let (engine, following) = follow::start_configured(&config)?;
            tasks.extend(following);
            // Keep the record's policy sha256 in step with the engine.
            let mut active = engine.subscribe();
            let record_tx = record_tx.clone();
            tasks.push(AbortOnDrop(tokio::spawn(async move {
                loop {
                    let sha = active.borrow_and_update().id().sha256.clone();
                    record_tx.send_if_modified(|r| {
                        let changed = r.policy_sha256.as_deref() != Some(&sha);
                        r.policy_sha256 = Some(sha);
                        changed
                    });
                    if active.changed().await.is_err() {
                        return;
                    }
                }
            })));
            Some(engine)
        } else {
            None
        };

        // Cache usage in the record follows the cache, rewritten at most every
        // few seconds so that etcd sees little traffic.
        tasks.push(AbortOnDrop(tokio::spawn({
            let record_tx = record_tx.clone();
            async move {
                let mut tick = tokio::time::interval(USAGE_REPORT_INTERVAL);
                loop {
                    tick.tick().await;
                    let used = store.stats().used_bytes;
                    record_tx
                        .send_if_modified(|r| std::mem::replace(&mut r.used_bytes, used) != used);
                }
            }
        })));

        let registration = config.layout.own_endpoints().map(|endpoints| {
            Registration::start(
                EtcdTarget::new(endpoints, &config.etcd),
                config.lease_ttl,
                record_rx.clone(),
            )
        });
        let registered = registration.as_ref().map(Registration::state);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let server_stats = Arc::new(serve::ServerStats::default());
        let service = http::WorkerService::new(http::AppState {
            files,
            engine,
            registered,
            door: Arc::new(access::Door::new(config.security.clone())),
            server: server_stats.clone(),
        });
        let limits = serve::Limits {
            header_timeout: config.worker.header_timeout,
            max_header_bytes: config.worker.max_header_bytes,
            max_connections: config.worker.max_connections,
        };
        let server = tokio::spawn(serve::serve(
            listener,
            service,
            tls,
            limits,
            server_stats,
            shutdown_rx,
        ));
        Ok(Self {
            _record: record_tx,
            address,
            record: record_rx,
            registration,
            server,
            shutdown,
            _tasks: tasks,
        })
    }

    /// Deregisters, then stops serving.
    pub async fn stop(self) {
        if let Some(registration) = self.registration {
            registration.stop(DEREGISTER_LIMIT).await;
        }
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
    }
}

/// Whether the registration is current, for health and metrics.
fn is_registered(state: &RegistrationState) -> bool {
    matches!(state, RegistrationState::Registered { .. })
}

/// Raises the soft limit on open files to the hard limit: a worker holds
/// client connections and open page files (the soft limit is often 1024).
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                tracing::warn!("could not raise the open-file limit");
            }
        }
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
