//! The read path across zones: a client finds a file's replicas in every
//! cluster it sees, lets the active policy rank them, reads from the first
//! source and, when a source fails, asks the policy what to do next — going
//! on from the exact byte where the failed source stopped. The UFS comes
//! last; a read served from another zone leaves a replica in this one.
//!
//! [`Client::connect`] builds one from a validated [`SiteConfig`];
//! [`Client::read`] streams a range, [`Client::read_all`] returns it whole,
//! both with the read's story ([`Explain`]). `examples/embedding/http_reads.rs`
//! serves HTTP reads with it in about fifty lines.
//!
//! - `read`: the steps of a read — plan, attempt, fail over, record.
//! - [`ring`]: where a file lives within a cluster (consistent hashing).
//! - [`health`]: workers that failed recently, left out until they answer.
//! - `probes`: cache states asked of the candidates, remembered briefly.
//! - `passive`: passive caching.
//! - [`worker_api`]: the worker's HTTP API, typed.
//! - [`explain`] and [`stats`]: what reads did, one by one and in all.
//! - `preload`: caching files ahead of reads.

#![warn(missing_docs)]

mod connections;
pub mod explain;
pub mod health;
mod passive;
mod placement;
mod preload;
mod probes;
mod read;
mod record;
pub mod ring;
pub mod stats;
pub mod worker_api;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use azimuth_cluster::config::{ClientSettings, ConfigError};
use azimuth_cluster::follow::{self, AbortOnDrop, FollowError};
use azimuth_cluster::membership::{MembershipView, MembershipWatcher};
use azimuth_cluster::topology::Layout;
use azimuth_policy::PolicyEngine;
use azimuth_ufs::Ufs;
use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::sync::{mpsc, watch};

pub use azimuth_cluster::config::SiteConfig;

pub use self::explain::Explain;
use self::health::HealthWatch;
use self::placement::Placements;
pub use self::preload::{PreloadError, Preloaded};
use self::probes::CacheProbes;
use self::read::attempt::Sink;
use self::record::Recorder;
use self::stats::Counters;
pub use self::stats::{ClientStats, Tier};
use self::worker_api::{ApiError, WorkerApi};

/// A map the read path looks up on every read, keyed by a worker's id or
/// address from the site's membership (never by what a reader sends):
/// foldhash costs a fraction of SipHash on such short keys.
type WorkerMap<V> = std::collections::HashMap<String, V, foldhash::fast::RandomState>;

/// How long a client waits for its first view of membership.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);
/// Chunks a streamed read holds ahead of its reader: what bounds a read's
/// memory (a worker's chunks are at most a page; the UFS's, 4 MiB).
pub const READ_AHEAD_CHUNKS: usize = 8;

/// How a read may be made, beyond its range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Deliver bytes of this version (a `UfsFile::etag`) only. A source
    /// with another version is skipped, as one without the file is; if none
    /// has it, the read fails. Readers that promise one version for a whole
    /// object (the S3 gateway, with its ETag) set it, so that failing over
    /// never mixes two versions.
    pub etag: Option<String>,
    /// Do not tell the read's story: its [`Explain`] keeps only what was
    /// asked. The counters count the same, and a failure says as much; a
    /// reader that never looks at the story (a gateway) saves the
    /// allocations telling it costs.
    pub quiet: bool,
}

/// Why a client could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The configuration does not describe a client (no cluster name).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The configured policy could not be started.
    #[error(transparent)]
    Policy(#[from] FollowError),
    /// The HTTP client could not be built.
    #[error("cannot start the HTTP client: {0}")]
    Http(#[from] ApiError),
    /// etcd refused the configured user and password.
    #[error(transparent)]
    EtcdCredentials(#[from] azimuth_cluster::etcd::CredentialsRefused),
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Every source the plan allowed failed, or the policy gave up.
    #[error("no source could serve {path}; tried: {tried}")]
    Exhausted {
        /// The path.
        path: String,
        /// Each attempt and how it ended.
        tried: String,
    },
    /// The request itself was refused (a name the UFS cannot hold, say):
    /// no source would serve it, and none is blamed.
    #[error("{path}: the request was refused: {why}")]
    Rejected {
        /// The path.
        path: String,
        /// The refusal.
        why: String,
    },
}

/// A connected client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// What every read of a client shares.
struct Inner {
    own_cluster: String,
    settings: ClientSettings,
    view: watch::Receiver<Arc<MembershipView>>,
    placements: Placements,
    engine: PolicyEngine,
    api: WorkerApi,
    ufs: Option<Ufs>,
    health: HealthWatch,
    probes: Arc<CacheProbes>,
    passive: Arc<passive::InFlight>,
    counters: Counters,
    // Kept for their side effects: membership and policy following.
    _membership: Membership,
    _tasks: Vec<AbortOnDrop>,
}

/// Where the client's view of membership comes from.
enum Membership {
    /// etcd watches, stopped when dropped.
    Watched(#[allow(dead_code)] MembershipWatcher),
    /// A static list; the sender keeps the view's channel open.
    Fixed(#[allow(dead_code)] watch::Sender<Arc<MembershipView>>),
}

impl Client {
    /// Connects as a client of the configured cluster: follows membership
    /// (waiting up to 5 s for a first view), starts the configured policy or
    /// the embedded default, and uses the configured UFS, if any.
    pub async fn connect(config: &SiteConfig) -> Result<Self, ConnectError> {
        let own_cluster = config
            .require_cluster_name("a client reads as a member of one cluster")?
            .to_owned();
        config.check_etcd_credentials().await?;
        let (view, membership) = match &config.layout {
            Layout::Static { view, .. } => {
                let (tx, rx) = watch::channel(Arc::new(view.clone()));
                (rx, Membership::Fixed(tx))
            }
            Layout::Etcd { groups, .. } => {
                let watcher = MembershipWatcher::start(groups, &config.etcd);
                watcher.settled(SETTLE_LIMIT).await;
                (watcher.subscribe(), Membership::Watched(watcher))
            }
        };
        let (engine, tasks) = follow::start_configured(config)?;
        let api = WorkerApi::new(config.client.connect_timeout, &config.security)?
            .with_pipelining(config.client.pipelining);
        let health = HealthWatch::new(api.clone(), view.clone(), config.client.first_byte_timeout);
        Ok(Self {
            inner: Arc::new(Inner {
                placements: Placements::new(&own_cluster, view.clone()),
                own_cluster,
                settings: config.client.clone(),
                view,
                engine,
                probes: Arc::new(CacheProbes::new(api.clone())),
                api,
                ufs: config.ufs.clone(),
                health,
                passive: Arc::default(),
                counters: Counters::default(),
                _membership: membership,
                _tasks: tasks,
            }),
        })
    }

    /// The membership view the client reads by now.
    pub fn view(&self) -> Arc<MembershipView> {
        self.inner.view.borrow().clone()
    }

    /// The policy engine deciding this client's reads.
    pub fn engine(&self) -> &PolicyEngine {
        &self.inner.engine
    }

    /// The worker API client this client reads through (its connection pool).
    pub fn worker_api(&self) -> &WorkerApi {
        &self.inner.api
    }

    /// Whether the client trusts the worker `id`: it has not failed a read,
    /// or has answered since (see [`health`]). Reads leave out workers it
    /// does not trust.
    pub fn trusts(&self, id: &str) -> bool {
        self.inner.health.records.of(id).0
    }

    /// The client's cluster.
    pub fn cluster(&self) -> &str {
        &self.inner.own_cluster
    }

    /// Read counters since the client started.
    pub fn stats(&self) -> ClientStats {
        self.inner.counters.snapshot()
    }

    /// The read counters and the policy engine's, in Prometheus text format.
    pub fn metrics(&self) -> String {
        let mut out = self.stats().prometheus(&self.inner.own_cluster);
        azimuth_cluster::prometheus::policy_engine(&mut out, &self.inner.engine);
        out
    }

    /// Reads `length` bytes of `path` from `offset` (`None`: to the end), as
    /// a stream of chunks. The stream ends with an error if no source could
    /// serve the rest; the bytes before it are exact.
    pub fn read(&self, path: &str, offset: u64, length: Option<u64>) -> ReadStream {
        self.read_with(path, offset, length, ReadOptions::default())
    }

    /// [`Client::read`] with `options`.
    pub fn read_with(
        &self,
        path: &str,
        offset: u64,
        length: Option<u64>,
        options: ReadOptions,
    ) -> ReadStream {
        let (tx, rx) = mpsc::channel(READ_AHEAD_CHUNKS);
        let explain = Arc::new(Mutex::new(self.story(path, offset, length)));
        let inner = self.inner.clone();
        let (path, story) = (path.trim_start_matches('/').to_owned(), explain.clone());
        tokio::spawn(async move {
            let mut sink = Sink::Channel(&tx);
            let record = Recorder::new((!options.quiet).then_some(&*story), &inner.counters);
            if let Err(e) = inner
                .read_into(
                    &path,
                    offset,
                    length,
                    options.etag.as_deref(),
                    &mut sink,
                    &record,
                )
                .await
            {
                let _ = tx.send(Err(e)).await;
            }
        });
        ReadStream { rx, explain }
    }

    /// Reads the whole range into memory; returns it with the read's story.
    /// Runs on the caller's task, without the stream's channel: small reads
    /// are dominated by the round trip to the worker, and a task hop and two
    /// wake-ups would add to it.
    pub async fn read_all(
        &self,
        path: &str,
        offset: u64,
        length: Option<u64>,
    ) -> (Result<Bytes, ReadError>, Explain) {
        self.read_all_with(path, offset, length, ReadOptions::default())
            .await
    }

    /// [`Client::read_all`] with `options`.
    pub async fn read_all_with(
        &self,
        path: &str,
        offset: u64,
        length: Option<u64>,
        options: ReadOptions,
    ) -> (Result<Bytes, ReadError>, Explain) {
        let story = Mutex::new(self.story(path, offset, length));
        let mut chunks = Vec::new();
        let path = path.trim_start_matches('/');
        let result = self
            .inner
            .read_into(
                path,
                offset,
                length,
                options.etag.as_deref(),
                &mut Sink::Buffer(&mut chunks),
                &Recorder::new((!options.quiet).then_some(&story), &self.inner.counters),
            )
            .await;
        let explain = story.into_inner().unwrap_or_else(|e| e.into_inner());
        // One chunk (a small read) is returned as it came, without a copy.
        let bytes = match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.pop().expect("one chunk"),
            _ => {
                let mut out = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
                chunks.iter().for_each(|c| out.extend_from_slice(c));
                out.freeze()
            }
        };
        (result.map(|()| bytes), explain)
    }

    /// The story of a read before it starts: what was asked, by whom.
    fn story(&self, path: &str, offset: u64, length: Option<u64>) -> Explain {
        Explain {
            path: path.to_owned(),
            offset,
            length,
            client_cluster: self.inner.own_cluster.clone(),
            ..Explain::default()
        }
    }
}

/// The bytes of one read, in order.
pub struct ReadStream {
    rx: mpsc::Receiver<Result<Bytes, ReadError>>,
    explain: Arc<Mutex<Explain>>,
}

impl ReadStream {
    /// What the read has done so far (all of it, once the stream has ended).
    pub fn explain(&self) -> Explain {
        self.explain
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Stream for ReadStream {
    type Item = Result<Bytes, ReadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// An error and its causes on one line, each cause once (wrappers often
/// repeat their source's message).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
