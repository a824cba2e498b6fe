//! The validated configuration of one process: every setting typed, checked
//! and resolved (the topology read, the UFS opened), so that nothing
//! downstream reads a raw string again.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use azimuth_policy::PolicyConfig;
use azimuth_ufs::{SyncInterval, Ufs};

use crate::security::SecuritySettings;
use crate::topology::Layout;

/// The validated configuration of one process.
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// The site file it came from, if any.
    pub conf_path: Option<PathBuf>,
    /// `alluxio.cluster.name`: the cluster this process belongs to (a worker
    /// or a client must have one; `info nodes` with multi-cluster need not).
    pub cluster_name: Option<String>,
    /// `alluxio.multi.cluster.enabled`: whether every cluster of the
    /// topology is seen, not just this one.
    pub multi_cluster: bool,
    /// Which clusters this process sees and where their workers are found:
    /// the topology file resolved with the cluster name and etcd keys, or
    /// the static worker list read.
    pub layout: Layout,
    /// How this process proves itself to etcd and trusts it.
    pub etcd: EtcdAccess,
    /// `alluxio.worker.failure.detection.timeout`: a worker's lease TTL
    /// (default 5 s, 2 s to 1 h).
    pub lease_ttl: Duration,
    /// `alluxio.dora.client.ufs.root`, opened (default none), with the
    /// `s3a.*` / `alluxio.underfs.s3.*` settings for an `s3://` root.
    pub ufs: Option<Ufs>,
    /// `alluxio.user.file.metadata.sync.interval`: how long a file's UFS
    /// version and length are trusted once learnt (default 1 min: a cached
    /// read then costs no UFS request, and a change is seen within a
    /// minute; `0` asks on every access, `-1` never again).
    pub metadata_sync: SyncInterval,
    /// How reads are made.
    pub client: ClientSettings,
    /// Which policy runs, and under which limits.
    pub policy: PolicySettings,
    /// A worker's identity, listener and cache.
    pub worker: WorkerSettings,
    /// The S3 gateway's listener and access.
    pub gateway: GatewaySettings,
    /// `azimuth mount`'s caches and read-ahead.
    pub mount: MountSettings,
    /// How the site's processes prove themselves to each other.
    pub security: SecuritySettings,
}

/// How a process reaches the site's etcds: who it says it is, and which CA
/// their `https://` endpoints are trusted by.
#[derive(Clone, Debug, Default)]
pub struct EtcdAccess {
    /// `alluxio.etcd.username` and `.password`.
    pub credentials: Option<EtcdCredentials>,
    /// `azimuth.etcd.tls.*`: needed when an endpoint is `https://`.
    pub tls: Option<crate::security::TlsSettings>,
}

/// etcd credentials. The password is kept out of `Debug` output, so that a
/// configuration can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdCredentials {
    /// `alluxio.etcd.username`.
    pub user: String,
    password: String,
}

impl EtcdCredentials {
    /// Credentials of `user` with `password`.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
        }
    }

    /// `alluxio.etcd.password`.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for EtcdCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdCredentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// How a client reads: the read settings users know from the system we
/// implement (passed to policies with each read), and the host's own limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// `alluxio.user.replica.prefer.cached.replicas` (default false).
    pub prefer_cached_replicas: bool,
    /// `alluxio.user.file.passive.cache.enabled` (default false).
    pub passive_cache: bool,
    /// `alluxio.dora.client.ufs.fallback.enabled` (default true).
    pub ufs_fallback: bool,
    /// `alluxio.user.file.replication.min`: replicas of a file per cluster
    /// (default 1, 1 to 16).
    pub replicas: usize,
    /// `azimuth.client.connect.timeout`: how long a client waits to connect
    /// to a worker (default 1 s, 10 ms to 1 min).
    pub connect_timeout: Duration,
    /// `azimuth.client.first.byte.timeout`: how long a client waits for a
    /// worker's first byte, and then for each next chunk (default 5 s,
    /// 10 ms to 10 min).
    pub first_byte_timeout: Duration,
    /// `azimuth.client.pipelining.enabled`: whether small reads to a worker
    /// (answers of at most 64 KiB) share a pipelined connection, their
    /// requests written together (default true). Off, each read in flight
    /// has a connection of its own: for a path to the workers through
    /// something that does not pass pipelined HTTP/1.1 on.
    pub pipelining: bool,
    /// The host's ceilings on what a policy's `retry-after` answers may cost
    /// one read.
    pub retry: RetryLimits,
}

/// How much retrying a policy may ask of one read. A policy decides whether
/// to retry; the host bounds how long that can hold a read, so that a
/// policy answering `retry-after` forever cannot keep a read from ending.
/// A retry past either limit is taken as `next-source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryLimits {
    /// `azimuth.client.retry.limit.per.source`: retries of one source in one
    /// read (default 3, 0 to 100).
    pub per_source: u32,
    /// `azimuth.client.retry.limit.total`: time one read may spend waiting
    /// on retries, all sources together (default 10 s, 0 to 10 min).
    pub total: Duration,
}

impl Default for RetryLimits {
    fn default() -> Self {
        Self {
            per_source: 3,
            total: Duration::from_secs(10),
        }
    }
}

/// Which policy a host runs and the limits it runs under.
#[derive(Clone, Debug)]
pub struct PolicySettings {
    /// `azimuth.policy.path`: a component file to load and follow.
    pub path: Option<PathBuf>,
    /// `azimuth.policy.name`: a policy published in etcd to load and follow.
    pub name: Option<String>,
    /// Engine limits (`azimuth.policy.call.timeout`, `.memory.limit`,
    /// `.quarantine.after`, `.instances.idle`).
    pub engine: PolicyConfig,
}

/// A worker's settings.
#[derive(Clone, Debug, Default)]
pub struct WorkerSettings {
    /// `azimuth.worker.id` (default `<host>-<port>` of the bound address).
    pub id: Option<String>,
    /// `azimuth.worker.zone` (default: the cluster name).
    pub zone: Option<String>,
    /// `azimuth.worker.listen` (default `127.0.0.1:0`, a free port).
    pub listen: String,
    /// `azimuth.worker.host` (default: the listen address's host, or the
    /// machine's host name when listening on every interface).
    pub host: Option<String>,
    /// `alluxio.worker.page.store.dirs`: the cache directory (default: one
    /// under the system's temporary directory, named for the worker).
    pub cache_dir: Option<PathBuf>,
    /// `alluxio.worker.page.store.sizes`: cache capacity in bytes (default 1 GiB).
    pub cache_capacity: u64,
    /// `alluxio.worker.page.store.page.size`: page size in bytes (default
    /// 1 MiB, 4 KiB to 64 MiB).
    pub page_size: u64,
    /// `azimuth.worker.memory.cache.size`: bytes of hot pages kept in memory
    /// above the disk cache (default 64 MiB; 0 turns it off).
    pub memory_cache_size: u64,
    /// `azimuth.worker.http.header.timeout`: how long a request's headers
    /// may take to arrive (default 10 s, 100 ms to 10 min).
    pub header_timeout: Duration,
    /// `azimuth.worker.http.max.header.bytes`: how large a request's
    /// headers may be (default 32 KiB, 8 KiB to 1 MiB; 431 beyond).
    pub max_header_bytes: usize,
    /// `azimuth.worker.http.max.connections`: connections open at once
    /// (default 10000); one more is closed at once.
    pub max_connections: usize,
    /// `azimuth.worker.threads`: the threads serving requests (default 0:
    /// `None`, one per core). Fewer than the cores leaves the rest to
    /// what shares the machine (compute next to its cache).
    pub threads: Option<usize>,
}

/// The S3 gateway's settings.
#[derive(Clone, Debug, Default)]
pub struct GatewaySettings {
    /// `azimuth.gateway.listen` (default `127.0.0.1:0`, a free port).
    pub listen: String,
    /// `azimuth.gateway.credentials.file`, read: the keys requests may be
    /// signed with (default none: no signed request is accepted).
    pub keys: Option<GatewayKeys>,
    /// `azimuth.gateway.anonymous.read`: unsigned requests may read and
    /// list (default false).
    pub anonymous_read: bool,
    /// `azimuth.gateway.threads`: the threads serving requests (default 0:
    /// `None`, one per core).
    pub threads: Option<usize>,
}

/// `azimuth mount`'s settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountSettings {
    /// `alluxio.user.metadata.cache.expiration.time`: how long a file's
    /// attributes and a directory's listing are trusted, by the mount and
    /// by the kernel (default 1 min, as the metadata sync interval).
    pub metadata_expiration: Duration,
    /// `alluxio.user.metadata.cache.max.size`: file attributes remembered
    /// (default 100,000).
    pub metadata_max_size: usize,
    /// `alluxio.fuse.cached.paths.max`: directory listings remembered
    /// (default 500).
    pub cached_paths_max: usize,
    /// `azimuth.mount.readahead.max`: the largest read-ahead of a
    /// sequential reader (default 8 MiB).
    pub readahead_max: u64,
}

impl Default for MountSettings {
    fn default() -> Self {
        Self {
            metadata_expiration: Duration::from_secs(60),
            metadata_max_size: 100_000,
            cached_paths_max: 500,
            readahead_max: 8 << 20,
        }
    }
}

/// The access keys of the S3 gateway and their secrets. The secrets are
/// kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayKeys {
    /// The file they were read from.
    pub file: PathBuf,
    keys: BTreeMap<String, String>,
}

impl GatewayKeys {
    /// Keys read from `file`: access key to secret key.
    pub fn new(file: PathBuf, keys: BTreeMap<String, String>) -> Self {
        Self { file, keys }
    }

    /// The secret of `access_key`, if it is one of these keys.
    pub fn secret(&self, access_key: &str) -> Option<&str> {
        self.keys.get(access_key).map(String::as_str)
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for GatewayKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayKeys")
            .field("file", &self.file)
            .field("access_keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}
