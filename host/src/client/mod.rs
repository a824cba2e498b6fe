//! The read path across zones: a client finds a file's replicas in every
//! cluster it sees, lets the active policy rank them, reads from the first
//! source and, when a source fails, asks the policy what to do next — going
//! on from the exact byte where the failed source stopped.
//!
//! - [`ring`]: where a file lives within a cluster (consistent hashing).
//! - [`health`]: workers that failed recently, left out for a while.
//! - [`explain`]: the story of one read.
//!
//! Passive caching: when a worker of another cluster serves a read and the
//! policy names a local target, the target is asked (`POST /load`) to cache
//! the file, in the background; the read never waits for it. The target
//! copies from the UFS, not from the remote worker: the UFS holds the version
//! of record (the worker checks the ETag, so it cannot cache a stale copy),
//! its availability does not depend on the remote zone that may be failing,
//! and the remote worker is spared a second full read while it serves
//! clients. Concurrent triggers for one file are merged here (one request in
//! flight per target and file) and again in the worker (one load per file).

pub mod explain;
pub mod health;
mod load;
pub mod ring;
pub mod stats;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, watch};

use self::explain::{Attempt, Explain, ExplainedCandidate};
use self::health::Health;
pub use self::load::{LoadError, Loaded};
use self::ring::HashRing;
use self::stats::{ClientStats, StatsSnapshot, Tier};
use crate::config::{self, RoutingSettings, SiteConfig};
use crate::membership::{MembershipView, MembershipWatcher, WorkerRecord, static_list};
use crate::policy::follow::{self, AbortOnDrop};
use crate::policy::{
    CacheState, Candidate, Failure, FailureKind, NextStep, PolicyEngine, Request, Source,
};
use crate::topology::Layout;
use crate::ufs::{Ufs, UfsError};

/// How long a client waits for its first view of membership.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);
/// How long a cache-state probe may take: reads must not wait on it.
const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a probe's answer is used for later reads of the same file: a
/// burst of reads costs one round of probes, and a file's cache state is
/// seldom a second old when it matters (passive loads forget theirs).
const PROBE_MEMORY: Duration = Duration::from_secs(1);
/// Paths with remembered probe answers kept at most (older ones are dropped first).
const PROBE_MEMORY_ENTRIES: usize = 65_536;
/// Bytes asked of the UFS at a time when it serves a read.
const UFS_CHUNK: u64 = 4 << 20;

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
}

/// Where files live for one view of membership: each visible cluster's
/// ring and workers, the client's own cluster first. Built once per view
/// change, not per read (a ring is 160 SHA-256 points per worker).
struct Placement {
    view: Arc<MembershipView>,
    clusters: Vec<(HashRing, Vec<WorkerRecord>)>,
}

impl Placement {
    fn new(view: Arc<MembershipView>, own_cluster: &str) -> Self {
        let mut order: Vec<&str> = vec![own_cluster];
        for cluster in view.groups.iter().flat_map(|g| &g.clusters) {
            if !order.contains(&cluster.as_str()) {
                order.push(cluster);
            }
        }
        let clusters = order
            .iter()
            .map(|cluster| {
                let records: Vec<WorkerRecord> = view
                    .workers()
                    .filter(|r| r.cluster == *cluster)
                    .cloned()
                    .collect();
                (
                    HashRing::new(records.iter().map(|r| r.id.as_str())),
                    records,
                )
            })
            .collect();
        Self { view, clusters }
    }
}

/// A connected client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    own_cluster: String,
    settings: RoutingSettings,
    view: watch::Receiver<Arc<MembershipView>>,
    engine: PolicyEngine,
    http: reqwest::Client,
    ufs: Option<Ufs>,
    health: Health,
    passive_in_flight: Mutex<HashSet<(String, String)>>,
    /// Cache states learnt by probes: by path, each worker's answer and when
    /// (keyed by path first so that a read looks up without allocating).
    probed: Mutex<HashMap<String, Vec<Probed>>>,
    placement: Mutex<Option<Arc<Placement>>>,
    stats: ClientStats,
    // Kept for their side effects: membership and policy following.
    _watcher: Option<MembershipWatcher>,
    _static_view: Option<watch::Sender<Arc<MembershipView>>>,
    _tasks: Vec<AbortOnDrop>,
}

impl Client {
    /// Connects as a client of the configured cluster: follows membership
    /// (waiting up to 5 s for a first view), starts the configured policy or
    /// the embedded default, and opens the UFS if one is configured.
    pub async fn connect(config: &SiteConfig) -> anyhow::Result<Self> {
        let own_cluster = config
            .require_cluster_name("a client reads as a member of one cluster")?
            .to_owned();
        let layout = Layout::resolve(config)?;
        let (view, watcher, static_view) = match &layout {
            Layout::Static {
                file,
                cluster,
                multi_cluster,
            } => {
                let view = static_list::load(file, cluster, *multi_cluster)?;
                let (tx, rx) = watch::channel(Arc::new(view));
                (rx, None, Some(tx))
            }
            Layout::Etcd { groups, .. } => {
                let watcher = MembershipWatcher::start(groups, config.etcd_credentials.clone());
                watcher.settled(SETTLE_LIMIT).await;
                (watcher.subscribe(), Some(watcher), None)
            }
        };
        let mut tasks = Vec::new();
        let engine = match follow::start_configured(config, &layout, &mut tasks)? {
            Some(engine) => engine,
            None => PolicyEngine::new(config.policy.engine.clone())?,
        };
        let ufs = match &config.routing.ufs_root {
            Some(root) => {
                Some(Ufs::open(root).map_err(|e| anyhow::anyhow!("{}: {e}", config::UFS_ROOT))?)
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(config.routing.connect_timeout)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                own_cluster,
                settings: config.routing.clone(),
                view,
                engine,
                http,
                ufs,
                health: Health::default(),
                passive_in_flight: Mutex::default(),
                probed: Mutex::default(),
                placement: Mutex::default(),
                stats: ClientStats::default(),
                _watcher: watcher,
                _static_view: static_view,
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

    /// The client's cluster.
    pub fn cluster(&self) -> &str {
        &self.inner.own_cluster
    }

    /// Read counters since the client started.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// The read counters in Prometheus text format.
    pub fn metrics(&self) -> String {
        self.stats().prometheus(&self.inner.own_cluster)
    }

    /// Reads `length` bytes of `path` from `offset` (`None`: to the end), as
    /// a stream of chunks. The stream ends with an error if no source could
    /// serve the rest; the bytes before it are exact.
    pub fn read(&self, path: &str, offset: u64, length: Option<u64>) -> ReadStream {
        let (tx, rx) = mpsc::channel(8);
        let explain = Arc::new(Mutex::new(self.story(path, offset, length)));
        let inner = self.inner.clone();
        let (path, story) = (path.trim_start_matches('/').to_owned(), explain.clone());
        tokio::spawn(async move {
            let mut sink = Sink::Channel(&tx);
            if let Err(e) = inner
                .read_into(&path, offset, length, &mut sink, &story)
                .await
            {
                inner.stats.failed();
                let _ = tx.send(Err(e)).await;
            }
        });
        ReadStream { rx, explain }
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
        let story = Mutex::new(self.story(path, offset, length));
        let mut chunks = Vec::new();
        let path = path.trim_start_matches('/');
        let result = self
            .inner
            .read_into(path, offset, length, &mut Sink::Buffer(&mut chunks), &story)
            .await;
        if result.is_err() {
            self.inner.stats.failed();
        }
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

/// What a worker's `GET /status/{path}` answers (the fields used here).
#[derive(Clone, Copy, Debug, serde::Deserialize)]
struct WorkerStatus {
    length: u64,
    cached_bytes: u64,
    fully_cached: bool,
}

/// Sets each candidate's cache state from its probe answer (none: it stays
/// `unknown`); returns the file's length if any worker said it.
fn apply_probes(
    candidates: &mut [Candidate],
    answers: impl Iterator<Item = Option<WorkerStatus>>,
) -> Option<u64> {
    let mut length = None;
    for (candidate, answer) in candidates.iter_mut().zip(answers) {
        let Some(status) = answer else { continue };
        length = Some(status.length);
        candidate.cached_bytes = status.cached_bytes;
        candidate.cache = if status.fully_cached {
            CacheState::Full
        } else if status.cached_bytes > 0 {
            CacheState::Partial
        } else {
            CacheState::None
        };
    }
    length
}

/// One worker's remembered answer about one file.
struct Probed {
    worker: String,
    when: Instant,
    status: WorkerStatus,
}

/// How a source failed, and what to say about it.
struct SourceError {
    kind: FailureKind,
    message: String,
}

impl SourceError {
    fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn describe(&self) -> String {
        let kind = match self.kind {
            FailureKind::Refused => "refused",
            FailureKind::Timeout => "timeout",
            FailureKind::IoError => "I/O error",
            FailureKind::Corrupt => "corrupt",
            FailureKind::NotFound => "not found",
        };
        format!("{kind}: {}", self.message)
    }
}

fn cache_name(state: CacheState) -> &'static str {
    match state {
        CacheState::Unknown => "unknown",
        CacheState::None => "none",
        CacheState::Partial => "partial",
        CacheState::Full => "full",
    }
}

impl Inner {
    /// The placement for the current view, rebuilt only when it changed.
    fn placement(&self) -> Arc<Placement> {
        let view = self.view.borrow().clone();
        let mut cached = self.placement.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some(p) if Arc::ptr_eq(&p.view, &view) => p.clone(),
            _ => {
                let placement = Arc::new(Placement::new(view, &self.own_cluster));
                *cached = Some(placement.clone());
                placement
            }
        }
    }

    /// The file's replicas in every visible cluster: the client's own
    /// cluster first (index 0), then the others in topology order.
    fn replicas(&self, path: &str) -> (Vec<WorkerRecord>, Vec<Candidate>) {
        let placement = self.placement();
        let mut replicas = Vec::new();
        let mut candidates = Vec::new();
        for (index, (ring, records)) in placement.clusters.iter().enumerate() {
            for id in ring.replicas(path, self.settings.replicas) {
                let record = records.iter().find(|r| r.id == id).expect("on the ring");
                let (healthy, rtt_us) = self.health.of(&record.id);
                candidates.push(Candidate {
                    cached_bytes: 0,
                    rtt_us,
                    cluster: index.min(u8::MAX as usize) as u8,
                    cache: CacheState::Unknown,
                    local: index == 0,
                    healthy,
                });
                replicas.push(record.clone());
            }
        }
        (replicas, candidates)
    }

    /// Learns each candidate's cache state, all at once, within
    /// [`PROBE_TIMEOUT`]; answers younger than [`PROBE_MEMORY`] are reused.
    /// A probe that fails leaves `unknown`. Returns the file's length if a
    /// worker said it.
    async fn probe(
        &self,
        path: &str,
        replicas: &[WorkerRecord],
        candidates: &mut [Candidate],
    ) -> Option<u64> {
        let now = Instant::now();
        let remembered: Vec<Option<WorkerStatus>> = {
            let probed = self.probed.lock().unwrap_or_else(|e| e.into_inner());
            let known = probed.get(path).map_or(&[][..], Vec::as_slice);
            replicas
                .iter()
                .map(|r| {
                    known
                        .iter()
                        .find(|p| p.worker == r.id && now.duration_since(p.when) < PROBE_MEMORY)
                        .map(|p| p.status)
                })
                .collect()
        };
        if remembered.iter().all(Option::is_some) {
            // A burst of reads of one file: no request, no bookkeeping.
            return apply_probes(candidates, remembered.into_iter());
        }
        let probes = replicas.iter().zip(&remembered).map(|(r, known)| {
            let request = known.is_none().then(|| {
                let url = format!("http://{}/status/{path}", r.http_address());
                self.http.get(url).timeout(PROBE_TIMEOUT).send()
            });
            async move {
                if let Some(status) = known {
                    return Some(*status);
                }
                let response = request?.await.ok()?.error_for_status().ok()?;
                serde_json::from_slice::<WorkerStatus>(&response.bytes().await.ok()?).ok()
            }
        });
        let answers = futures::future::join_all(probes).await;
        let mut probed = self.probed.lock().unwrap_or_else(|e| e.into_inner());
        if probed.len() >= PROBE_MEMORY_ENTRIES {
            probed.retain(|_, answers| {
                answers.retain(|p| now.duration_since(p.when) < PROBE_MEMORY);
                !answers.is_empty()
            });
            if probed.len() >= PROBE_MEMORY_ENTRIES {
                probed.clear();
            }
        }
        for ((answer, known), replica) in answers.iter().zip(&remembered).zip(replicas) {
            if let (Some(status), None) = (answer, known) {
                let answers = probed.entry(path.to_owned()).or_default();
                answers.retain(|p| p.worker != replica.id);
                answers.push(Probed {
                    worker: replica.id.clone(),
                    when: now,
                    status: *status,
                });
            }
        }
        drop(probed);
        apply_probes(candidates, answers.into_iter())
    }

    /// Forgets what a probe said of `path` on `worker` (its cache changed).
    fn forget_probe(&self, worker: &str, path: &str) {
        if let Some(answers) = self
            .probed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(path)
        {
            answers.retain(|p| p.worker != worker);
        }
    }

    /// Records that `worker` failed; the first failure starts a background
    /// probe that trusts it again once it answers `/healthz` (half-open),
    /// or forgets it once it leaves membership.
    fn worker_failed(self: &Arc<Self>, worker: &WorkerRecord) {
        if !self.health.failed(&worker.id) {
            return;
        }
        tracing::info!(worker = %worker.id, "worker failed a read; left out until it answers a probe");
        let client: Weak<Self> = Arc::downgrade(self);
        let (id, url) = (
            worker.id.clone(),
            format!("http://{}/healthz", worker.http_address()),
        );
        tokio::spawn(async move {
            loop {
                let Some(due) = client.upgrade().and_then(|c| c.health.probe_due(&id)) else {
                    return; // Healthy again through a read, or the client is gone.
                };
                tokio::time::sleep_until(due.into()).await;
                let Some(inner) = client.upgrade() else {
                    return;
                };
                if !inner.view.borrow().workers().any(|w| w.id == id) {
                    tracing::info!(worker = %id, "worker left membership; forgotten");
                    inner.health.forget(&id);
                    return;
                }
                let started = Instant::now();
                let answer = tokio::time::timeout(
                    inner.settings.first_byte_timeout,
                    inner.http.get(&url).send(),
                )
                .await;
                match answer {
                    Ok(Ok(response)) if response.status().is_success() => {
                        tracing::info!(worker = %id, "worker answers again; trusted again");
                        inner.health.succeeded(&id, started.elapsed());
                        return;
                    }
                    _ => {
                        tracing::debug!(worker = %id, "health probe failed");
                        inner.health.probe_failed(&id);
                    }
                }
            }
        });
    }

    async fn read_into(
        self: &Arc<Self>,
        path: &str,
        offset: u64,
        length: Option<u64>,
        sink: &mut Sink<'_>,
        story: &Mutex<Explain>,
    ) -> Result<(), ReadError> {
        let (replicas, mut candidates) = self.replicas(path);
        let file_length = if self.settings.prefer_cached_replicas {
            self.probe(path, &replicas, &mut candidates).await
        } else {
            None
        };
        let mut request = Request {
            prefer_cached_replicas: self.settings.prefer_cached_replicas,
            passive_cache: self.settings.passive_cache,
            ufs_fallback: self.settings.ufs_fallback,
            file_length,
            offset,
            length,
            attempt: 0,
            seed: rand::random(),
        };
        let decision = self.engine.rank(&request, &candidates);
        let plan = decision.value;
        let mut sources: Vec<Source> = plan.workers.iter().map(|&i| Source::Worker(i)).collect();
        if plan.then_ufs {
            sources.push(Source::Ufs);
        }
        let id = |source: &Source| match source {
            Source::Worker(i) => replicas[*i as usize].id.clone(),
            Source::Ufs => "ufs".to_owned(),
        };
        {
            let mut s = story.lock().unwrap_or_else(|e| e.into_inner());
            s.candidates = replicas
                .iter()
                .zip(&candidates)
                .map(|(r, c)| ExplainedCandidate {
                    worker: r.id.clone(),
                    cluster: r.cluster.clone(),
                    zone: r.zone.clone(),
                    address: r.http_address(),
                    local: c.local,
                    cache: cache_name(c.cache),
                    cached_bytes: c.cached_bytes,
                    healthy: c.healthy,
                })
                .collect();
            s.policy = decision.policy.to_string();
            s.policy_fallback = decision.fallback.as_ref().map(ToString::to_string);
            s.plan = sources.iter().map(id).collect();
            s.passive_cache_to = plan
                .passive_cache_to
                .map(|i| replicas[i as usize].id.clone());
        }

        let mut delivered = 0u64;
        let mut next = 0;
        let mut retries = 0u32;
        while let Some(&source) = sources.get(next) {
            let from = offset + delivered;
            let rest = length.map(|l| l - delivered);
            let mut out = Delivery { sink, sent: 0 };
            let result = match source {
                Source::Worker(i) => {
                    self.read_worker(&replicas[i as usize], path, from, rest, &mut out)
                        .await
                }
                Source::Ufs => self.read_ufs(path, from, rest, &mut out).await,
            };
            let sent = out.sent;
            delivered += sent;
            if let Source::Worker(i) = source
                && !candidates[i as usize].local
            {
                self.stats.crossed_zones(sent);
            }
            let outcome = match &result {
                Ok(()) => "served".to_owned(),
                Err(e) => e.describe(),
            };
            {
                let mut s = story.lock().unwrap_or_else(|e| e.into_inner());
                s.attempts.push(Attempt {
                    source: match source {
                        Source::Worker(_) => format!("worker {}", id(&source)),
                        Source::Ufs => id(&source),
                    },
                    outcome,
                    bytes: sent,
                });
                s.bytes = delivered;
            }
            match result {
                Ok(()) => {
                    self.served(source, &candidates, story);
                    if let (Source::Worker(i), Some(to)) = (source, plan.passive_cache_to)
                        && !candidates[i as usize].local
                    {
                        self.passive_cache(&replicas[to as usize], path);
                    }
                    return Ok(());
                }
                Err(error) => {
                    if sink.is_closed() {
                        return Ok(()); // The reader went away.
                    }
                    // A 404 says the file is missing, not that the worker is.
                    if let Source::Worker(i) = source
                        && error.kind != FailureKind::NotFound
                    {
                        self.worker_failed(&replicas[i as usize]);
                        self.forget_probe(&replicas[i as usize].id, path);
                    }
                    request.attempt += 1;
                    let failure = Failure {
                        source,
                        kind: error.kind,
                        retries,
                        delivered,
                    };
                    match self.engine.failover(&request, &candidates, &failure).value {
                        NextStep::NextSource => {
                            next += 1;
                            retries = 0;
                            if next < sources.len() {
                                self.stats.failed_over();
                            }
                        }
                        NextStep::RetryAfterMs(ms) => {
                            retries += 1;
                            tokio::time::sleep(Duration::from_millis(ms.into())).await;
                        }
                        NextStep::GiveUp => break,
                    }
                }
            }
        }
        let s = story.lock().unwrap_or_else(|e| e.into_inner());
        let mut tried: Vec<String> = s
            .attempts
            .iter()
            .map(|a| format!("{} ({})", a.source, a.outcome))
            .collect();
        if tried.is_empty() {
            tried.push("nothing: no healthy worker holds it".into());
        }
        if !self.settings.ufs_fallback {
            tried.push(format!("not the UFS ({}=false)", config::UFS_FALLBACK));
        }
        Err(ReadError::Exhausted {
            path: path.to_owned(),
            tried: tried.join("; "),
        })
    }

    /// Counts a served read by the tier of the source that finished it;
    /// bytes from other zones count as crossing zones whichever attempt
    /// delivered them.
    fn served(&self, source: Source, candidates: &[Candidate], story: &Mutex<Explain>) {
        let tier = match source {
            Source::Ufs => Tier::Ufs,
            Source::Worker(i) => {
                let candidate = &candidates[i as usize];
                match (candidate.local, candidate.cache == CacheState::Full) {
                    (true, true) => Tier::LocalCached,
                    (false, true) => Tier::RemoteCached,
                    (true, false) => Tier::Local,
                    (false, false) => Tier::Remote,
                }
            }
        };
        let mut st = story.lock().unwrap_or_else(|e| e.into_inner());
        self.stats.served(tier, st.bytes);
        st.served_by = st.attempts.last().map(|a| a.source.clone());
    }

    /// Streams `from..` (`rest` bytes, or to the end) of `path` from a worker.
    async fn read_worker(
        &self,
        worker: &WorkerRecord,
        path: &str,
        from: u64,
        rest: Option<u64>,
        out: &mut Delivery<'_, '_>,
    ) -> Result<(), SourceError> {
        if rest == Some(0) {
            return Ok(());
        }
        let url = format!("http://{}/files/{path}", worker.http_address());
        let range = match rest {
            Some(n) => format!("bytes={from}-{}", from + n - 1),
            None => format!("bytes={from}-"),
        };
        let wait = self.settings.first_byte_timeout;
        let started = Instant::now();
        let response = tokio::time::timeout(wait, self.http.get(url).header("Range", range).send())
            .await
            .map_err(|_| SourceError::new(FailureKind::Timeout, format!("no answer in {wait:?}")))?
            .map_err(|e| {
                let kind = if e.is_connect() {
                    FailureKind::Refused
                } else if e.is_timeout() {
                    FailureKind::Timeout
                } else {
                    FailureKind::IoError
                };
                SourceError::new(kind, crate::error_chain(&e))
            })?;
        let status = response.status();
        if !status.is_server_error() {
            self.health.succeeded(&worker.id, started.elapsed());
        }
        if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(()); // The range starts at or past the end: nothing left.
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(SourceError::new(FailureKind::NotFound, "HTTP 404"));
        }
        if !status.is_success() {
            let why = response.text().await.unwrap_or_default();
            return Err(SourceError::new(
                FailureKind::IoError,
                format!("HTTP {status}: {}", why.trim()),
            ));
        }
        // A 200 to a ranged request carries the whole file: skip to `from`.
        let mut skip = if status == reqwest::StatusCode::OK {
            from
        } else {
            0
        };
        let mut body = response.bytes_stream();
        loop {
            let chunk = tokio::time::timeout(wait, body.next()).await.map_err(|_| {
                SourceError::new(FailureKind::Timeout, format!("stalled for {wait:?}"))
            })?;
            let Some(chunk) = chunk else {
                return Ok(());
            };
            let mut chunk = chunk
                .map_err(|e| SourceError::new(FailureKind::IoError, crate::error_chain(&e)))?;
            if skip > 0 {
                let n = skip.min(chunk.len() as u64);
                chunk = chunk.slice(n as usize..);
                skip -= n;
            }
            if let Some(limit) = rest {
                let left = limit - out.sent;
                if chunk.len() as u64 > left {
                    chunk.truncate(left as usize);
                }
            }
            out.send(chunk).await?;
        }
    }

    /// Reads `from..` of `path` from the UFS in chunks.
    async fn read_ufs(
        &self,
        path: &str,
        from: u64,
        rest: Option<u64>,
        out: &mut Delivery<'_, '_>,
    ) -> Result<(), SourceError> {
        let Some(ufs) = &self.ufs else {
            return Err(SourceError::new(
                FailureKind::IoError,
                format!("this client has no UFS ({} is not set)", config::UFS_ROOT),
            ));
        };
        let ufs_error = |e: UfsError| SourceError::new(FailureKind::IoError, e.to_string());
        let file =
            ufs.head(path).await.map_err(ufs_error)?.ok_or_else(|| {
                SourceError::new(FailureKind::NotFound, format!("no file {path}"))
            })?;
        let end = match rest {
            Some(n) => (from + n).min(file.length),
            None => file.length,
        };
        let mut at = from.min(end);
        while at < end {
            let range: Range<u64> = at..(at + UFS_CHUNK).min(end);
            let bytes = ufs.read(&file, range.clone()).await.map_err(ufs_error)?;
            if bytes.len() as u64 != range.end - range.start {
                return Err(SourceError::new(
                    FailureKind::IoError,
                    format!("short read at byte {at}"),
                ));
            }
            at = range.end;
            out.send(bytes).await?;
        }
        Ok(())
    }

    /// Asks `target` to cache `path`, in the background, once at a time.
    fn passive_cache(self: &Arc<Self>, target: &WorkerRecord, path: &str) {
        let key = (target.id.clone(), path.to_owned());
        if !self
            .passive_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone())
        {
            return;
        }
        let url = format!("http://{}/load/{path}", target.http_address());
        let inner = self.clone();
        tokio::spawn(async move {
            match inner.http.post(&url).send().await {
                Ok(r) if r.status().is_success() => inner.forget_probe(&key.0, &key.1),
                Ok(r) => tracing::warn!(%url, status = %r.status(), "passive cache load refused"),
                Err(e) => {
                    tracing::warn!(%url, error = %crate::error_chain(&e), "passive cache load failed")
                }
            }
            inner
                .passive_in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        });
    }
}

/// Where a read's bytes go: a stream's channel, or one buffer.
enum Sink<'a> {
    Channel(&'a mpsc::Sender<Result<Bytes, ReadError>>),
    Buffer(&'a mut Vec<Bytes>),
}

impl Sink<'_> {
    /// True when nobody will take more bytes (the stream was dropped).
    fn is_closed(&self) -> bool {
        match self {
            Sink::Channel(tx) => tx.is_closed(),
            Sink::Buffer(_) => false,
        }
    }
}

/// Where one attempt's bytes go, and how many it delivered.
struct Delivery<'a, 'b> {
    sink: &'a mut Sink<'b>,
    sent: u64,
}

impl Delivery<'_, '_> {
    /// Hands a chunk to the reader.
    async fn send(&mut self, chunk: Bytes) -> Result<(), SourceError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let n = chunk.len() as u64;
        match self.sink {
            Sink::Channel(tx) => {
                if tx.send(Ok(chunk)).await.is_err() {
                    return Err(SourceError::new(
                        FailureKind::IoError,
                        "the reader went away",
                    ));
                }
            }
            Sink::Buffer(chunks) => chunks.push(chunk),
        }
        self.sent += n;
        Ok(())
    }
}
