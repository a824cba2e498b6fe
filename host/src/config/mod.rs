//! Site configuration: the `alluxio-site.properties`-style file named by
//! `--conf` or `AZIMUTH_CONF`, overridden by command-line flags, validated once
//! into a [`SiteConfig`] from which every part of a process is built.
//!
//! Keys users already know from the system we implement (`alluxio.*`) are read
//! verbatim; keys of this project start with `azimuth.`. An unknown `azimuth.`
//! key is an error (a typo must not silently change nothing); an unknown
//! `alluxio.` key is logged and ignored, since real site files carry many keys
//! that concern parts of that system we do not have.

pub mod properties;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::policy::PolicyConfig;
pub use properties::{Entry, Origin};

/// Every key this program reads, with its default and meaning. The README's
/// configuration table is this list.
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        CLUSTER_NAME,
        "(none)",
        "the cluster this process belongs to",
    ),
    (
        MULTI_CLUSTER_ENABLED,
        "false",
        "see every cluster of the topology file, not just this one",
    ),
    (
        MULTI_CLUSTER_CONFIG_PATH,
        "(none)",
        "path of multi-az-clusters.json",
    ),
    (
        ETCD_ENDPOINTS,
        "(none)",
        "comma-separated etcd URLs of this cluster (external etcd)",
    ),
    (
        ETCD_USERNAME,
        "(none)",
        "etcd user, with alluxio.etcd.password",
    ),
    (ETCD_PASSWORD, "(none)", "etcd password"),
    (
        MEMBERSHIP_TYPE,
        "ETCD",
        "ETCD, or STATIC for a fixed list of workers and no etcd",
    ),
    (
        STATIC_MEMBERSHIP_FILE,
        "(none)",
        "with STATIC: file listing worker addresses, one per line",
    ),
    (
        FAILURE_DETECTION_TIMEOUT,
        "5s",
        "a worker's lease TTL: how long a dead worker stays listed",
    ),
    (
        PREFER_CACHED_REPLICAS,
        "false",
        "rank fully cached replicas first",
    ),
    (
        PASSIVE_CACHE,
        "false",
        "a read served by another cluster leaves a replica in this one",
    ),
    (
        UFS_FALLBACK,
        "true",
        "read from the UFS when no worker can serve",
    ),
    (
        UFS_ROOT,
        "(none)",
        "the UFS root URL (file:///dir, s3://bucket/prefix)",
    ),
    (
        REPLICATION_MIN,
        "1",
        "replicas of a file in each cluster (1 to 16)",
    ),
    (
        CONNECT_TIMEOUT,
        "1s",
        "how long a client waits to connect to a worker",
    ),
    (
        FIRST_BYTE_TIMEOUT,
        "5s",
        "how long a client waits for a worker's first byte, then each chunk",
    ),
    (
        POLICY_PATH,
        "(none)",
        "a policy component file to run and follow (hot swap)",
    ),
    (
        POLICY_NAME,
        "(none)",
        "a policy published in etcd to run and follow",
    ),
    (
        POLICY_CALL_TIMEOUT,
        "10ms",
        "CPU time a policy may spend on one decision",
    ),
    (
        POLICY_MEMORY_LIMIT,
        "16MB",
        "memory cap of each policy instance",
    ),
    (
        POLICY_QUARANTINE_AFTER,
        "5",
        "consecutive failures after which a policy is quarantined",
    ),
    (
        WORKER_ID,
        "<host>-<port>",
        "this worker's identity in membership",
    ),
    (
        WORKER_ZONE,
        "<cluster name>",
        "this worker's availability zone, for display",
    ),
    (
        WORKER_LISTEN,
        "127.0.0.1:0",
        "the worker's HTTP listen address",
    ),
    (
        WORKER_HOST,
        "<listen host>",
        "the host name clients reach the worker at (needed with 0.0.0.0)",
    ),
    (
        PAGE_STORE_DIRS,
        "<tmp>/azimuth-cache/<cluster>-<id>",
        "the worker's cache directory (one)",
    ),
    (PAGE_STORE_SIZES, "1GB", "the worker's cache capacity"),
    (PAGE_SIZE, "1MB", "the size of a cached page (4KB to 64MB)"),
    (
        MEMORY_CACHE_SIZE,
        "64MB",
        "verified pages of small reads kept in memory above the disk cache (0: off)",
    ),
    (
        POLICY_IDLE_INSTANCES,
        "2 x CPUs",
        "ready policy instances kept for concurrent decisions",
    ),
];

pub const CLUSTER_NAME: &str = "alluxio.cluster.name";
pub const MULTI_CLUSTER_ENABLED: &str = "alluxio.multi.cluster.enabled";
pub const MULTI_CLUSTER_CONFIG_PATH: &str = "alluxio.multi.cluster.config.path";
pub const ETCD_ENDPOINTS: &str = "alluxio.etcd.endpoints";
pub const ETCD_USERNAME: &str = "alluxio.etcd.username";
pub const ETCD_PASSWORD: &str = "alluxio.etcd.password";
pub const MEMBERSHIP_TYPE: &str = "alluxio.worker.membership.manager.type";
pub const STATIC_MEMBERSHIP_FILE: &str = "alluxio.worker.static.membership.manager.config.file";
pub const FAILURE_DETECTION_TIMEOUT: &str = "alluxio.worker.failure.detection.timeout";
pub const PREFER_CACHED_REPLICAS: &str = "alluxio.user.replica.prefer.cached.replicas";
pub const PASSIVE_CACHE: &str = "alluxio.user.file.passive.cache.enabled";
pub const UFS_FALLBACK: &str = "alluxio.dora.client.ufs.fallback.enabled";
pub const UFS_ROOT: &str = "alluxio.dora.client.ufs.root";
pub const POLICY_PATH: &str = "azimuth.policy.path";
pub const POLICY_NAME: &str = "azimuth.policy.name";
pub const POLICY_CALL_TIMEOUT: &str = "azimuth.policy.call.timeout";
pub const POLICY_MEMORY_LIMIT: &str = "azimuth.policy.memory.limit";
pub const POLICY_QUARANTINE_AFTER: &str = "azimuth.policy.quarantine.after";
pub const WORKER_ID: &str = "azimuth.worker.id";
pub const WORKER_ZONE: &str = "azimuth.worker.zone";
pub const WORKER_LISTEN: &str = "azimuth.worker.listen";
pub const WORKER_HOST: &str = "azimuth.worker.host";
pub const PAGE_STORE_DIRS: &str = "alluxio.worker.page.store.dirs";
pub const PAGE_STORE_SIZES: &str = "alluxio.worker.page.store.sizes";
pub const PAGE_SIZE: &str = "alluxio.worker.page.store.page.size";
pub const MEMORY_CACHE_SIZE: &str = "azimuth.worker.memory.cache.size";
pub const REPLICATION_MIN: &str = "alluxio.user.file.replication.min";
pub const CONNECT_TIMEOUT: &str = "azimuth.client.connect.timeout";
pub const FIRST_BYTE_TIMEOUT: &str = "azimuth.client.first.byte.timeout";
pub const POLICY_IDLE_INSTANCES: &str = "azimuth.policy.instances.idle";

/// Why a configuration was refused. Each names the file or flag, the key and the value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The site file could not be read or parsed.
    #[error(transparent)]
    Properties(#[from] properties::PropertiesError),
    /// A value of the wrong type or out of range.
    #[error("{origin}: {key}={value:?}: {why}")]
    Value {
        origin: Origin,
        key: String,
        value: String,
        why: String,
    },
    /// An `azimuth.` key this program does not know.
    #[error("{origin}: unknown key {key}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    UnknownKey {
        origin: Origin,
        key: String,
        suggestion: Option<String>,
    },
    /// A key that must be set is missing.
    #[error("{key} is not set: {why}")]
    Missing { key: &'static str, why: String },
    /// The UFS named by `alluxio.dora.client.ufs.root` (or `--ufs`) is unusable.
    #[error("{UFS_ROOT}: {0}")]
    Ufs(#[from] crate::ufs::UfsError),
    /// Policy engine limits that cannot work (the message names the key).
    #[error(transparent)]
    Policy(#[from] crate::policy::engine::ConfigError),
    /// The topology file is unusable.
    #[error(transparent)]
    Topology(#[from] crate::topology::TopologyError),
}

/// How workers are found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MembershipType {
    /// Leased keys in etcd, watched.
    Etcd,
    /// A fixed list of worker addresses in a file; no etcd.
    Static { file: PathBuf },
}

/// The read settings users know from the seed, passed to policies with each read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingSettings {
    /// `alluxio.user.replica.prefer.cached.replicas` (default false).
    pub prefer_cached_replicas: bool,
    /// `alluxio.user.file.passive.cache.enabled` (default false).
    pub passive_cache: bool,
    /// `alluxio.dora.client.ufs.fallback.enabled` (default true).
    pub ufs_fallback: bool,
    /// `alluxio.dora.client.ufs.root` (default none).
    pub ufs_root: Option<String>,
    /// `alluxio.user.file.replication.min`: replicas of a file per cluster
    /// (default 1).
    pub replicas: usize,
    /// `azimuth.client.connect.timeout`: how long a client waits to connect
    /// to a worker (default 1s).
    pub connect_timeout: Duration,
    /// `azimuth.client.first.byte.timeout`: how long a client waits for a
    /// worker's first byte, and then for each next chunk (default 5s).
    pub first_byte_timeout: Duration,
}

/// Which policy a host runs and the limits it runs under.
#[derive(Clone, Debug)]
pub struct PolicySettings {
    /// `azimuth.policy.path`: a component file to load and follow.
    pub path: Option<PathBuf>,
    /// `azimuth.policy.name`: a policy published in etcd to load and follow.
    pub name: Option<String>,
    /// Engine limits (`azimuth.policy.call.timeout`, `.memory.limit`, `.quarantine.after`).
    pub engine: PolicyConfig,
}

/// Worker identity settings.
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
    /// `alluxio.worker.page.store.page.size`: page size in bytes (default 1 MiB).
    pub page_size: u64,
    /// `azimuth.worker.memory.cache.size`: bytes of hot pages kept in memory
    /// above the disk cache (default 64 MiB; 0 turns it off).
    pub memory_cache_size: u64,
}

/// The validated configuration of one process.
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// The site file it came from, if any.
    pub conf_path: Option<PathBuf>,
    /// `alluxio.cluster.name`.
    pub cluster_name: Option<String>,
    /// `alluxio.multi.cluster.enabled`.
    pub multi_cluster: bool,
    /// `alluxio.multi.cluster.config.path`.
    pub topology_path: Option<PathBuf>,
    /// `alluxio.etcd.endpoints`, each checked to be a URL.
    pub etcd_endpoints: Vec<String>,
    /// `alluxio.etcd.username` and `.password`.
    pub etcd_credentials: Option<(String, String)>,
    /// `alluxio.worker.membership.manager.type`.
    pub membership: MembershipType,
    /// `alluxio.worker.failure.detection.timeout`: the lease TTL.
    pub lease_ttl: Duration,
    /// Read settings.
    pub routing: RoutingSettings,
    /// Policy settings.
    pub policy: PolicySettings,
    /// Worker settings.
    pub worker: WorkerSettings,
}

/// The raw settings: the site file's entries with flag overrides on top.
#[derive(Clone, Debug, Default)]
pub struct RawSettings {
    conf_path: Option<PathBuf>,
    entries: BTreeMap<String, Entry>,
}

impl RawSettings {
    /// Reads the site file, if one is given.
    pub fn load(conf: Option<&Path>) -> Result<Self, ConfigError> {
        let entries = match conf {
            Some(path) => properties::read_file(path)?,
            None => BTreeMap::new(),
        };
        Ok(Self {
            conf_path: conf.map(Path::to_owned),
            entries,
        })
    }

    /// Sets `key` from a command-line flag, overriding the site file.
    pub fn set_flag(&mut self, flag: &'static str, key: &str, value: Option<impl Into<String>>) {
        if let Some(value) = value {
            self.entries.insert(
                key.to_owned(),
                Entry {
                    value: value.into(),
                    origin: Origin::Flag(flag),
                },
            );
        }
    }

    /// Validates every key and builds the configuration.
    pub fn validate(self) -> Result<SiteConfig, ConfigError> {
        for (key, entry) in &self.entries {
            let known = KEYS.iter().any(|(k, _, _)| k == key);
            if known {
                continue;
            }
            if key.starts_with("azimuth.") {
                return Err(ConfigError::UnknownKey {
                    origin: entry.origin.clone(),
                    key: key.clone(),
                    suggestion: closest_key(key),
                });
            }
            tracing::info!(key, origin = %entry.origin, "ignoring a key Azimuth does not use");
        }
        let s = &self;
        let membership = match s.string(MEMBERSHIP_TYPE).as_deref() {
            None => MembershipType::Etcd,
            Some(v) if v.eq_ignore_ascii_case("ETCD") => MembershipType::Etcd,
            Some(v) if v.eq_ignore_ascii_case("STATIC") => MembershipType::Static {
                file: s.path(STATIC_MEMBERSHIP_FILE).ok_or(ConfigError::Missing {
                    key: STATIC_MEMBERSHIP_FILE,
                    why: format!("{MEMBERSHIP_TYPE}=STATIC needs the file listing the workers"),
                })?,
            },
            Some(_) => return Err(s.bad(MEMBERSHIP_TYPE, "expected ETCD or STATIC")),
        };
        let lease_ttl = s.parsed(FAILURE_DETECTION_TIMEOUT, values::parse_duration)?;
        let lease_ttl = lease_ttl.unwrap_or(Duration::from_secs(5));
        if !(Duration::from_secs(2)..=Duration::from_secs(3600)).contains(&lease_ttl) {
            return Err(s.bad(
                FAILURE_DETECTION_TIMEOUT,
                "must be between 2s (etcd's shortest lease) and 1h",
            ));
        }
        let etcd_endpoints = match s.entries.get(ETCD_ENDPOINTS) {
            None => Vec::new(),
            Some(entry) => entry
                .value
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| values::parse_endpoint(e).map_err(|why| s.bad(ETCD_ENDPOINTS, &why)))
                .collect::<Result<_, _>>()?,
        };
        let etcd_credentials = match (s.string(ETCD_USERNAME), s.string(ETCD_PASSWORD)) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    key: ETCD_PASSWORD,
                    why: format!("{ETCD_USERNAME} is set"),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    key: ETCD_USERNAME,
                    why: format!("{ETCD_PASSWORD} is set"),
                });
            }
        };
        let defaults = PolicyConfig::default();
        let engine = PolicyConfig {
            call_timeout: s
                .parsed(POLICY_CALL_TIMEOUT, values::parse_duration)?
                .unwrap_or(defaults.call_timeout),
            memory_limit: match s.parsed(POLICY_MEMORY_LIMIT, values::parse_size)? {
                Some(bytes) => usize::try_from(bytes)
                    .map_err(|_| s.bad(POLICY_MEMORY_LIMIT, "too large for this machine"))?,
                None => defaults.memory_limit,
            },
            quarantine_after: s
                .parsed(POLICY_QUARANTINE_AFTER, values::parse_whole)?
                .unwrap_or(defaults.quarantine_after),
            idle_instances: s
                .parsed(POLICY_IDLE_INSTANCES, values::parse_whole)?
                .unwrap_or(defaults.idle_instances),
        };
        engine.validate()?;
        let policy = PolicySettings {
            path: s.path(POLICY_PATH),
            name: s.string(POLICY_NAME),
            engine,
        };
        if let (Some(_), Some(_)) = (&policy.path, &policy.name) {
            return Err(s.bad(
                POLICY_NAME,
                &format!("set either {POLICY_PATH} or {POLICY_NAME}, not both"),
            ));
        }
        if let Some(name) = &policy.name {
            crate::membership::keys::check_name(name).map_err(|why| s.bad(POLICY_NAME, &why))?;
        }
        let cluster_name = s.string(CLUSTER_NAME);
        if let Some(name) = &cluster_name {
            crate::membership::keys::check_name(name).map_err(|why| s.bad(CLUSTER_NAME, &why))?;
        }
        let multi_cluster = s
            .parsed(MULTI_CLUSTER_ENABLED, values::parse_bool)?
            .unwrap_or(false);
        let topology_path = s.path(MULTI_CLUSTER_CONFIG_PATH);
        // A STATIC list names its clusters itself (`[cluster]` sections).
        let static_list = matches!(membership, MembershipType::Static { .. });
        if multi_cluster && topology_path.is_none() && !static_list {
            return Err(ConfigError::Missing {
                key: MULTI_CLUSTER_CONFIG_PATH,
                why: format!(
                    "{MULTI_CLUSTER_ENABLED}=true needs the topology file (multi-az-clusters.json), \
                     or a STATIC worker list with [cluster] sections"
                ),
            });
        }
        Ok(SiteConfig {
            conf_path: s.conf_path.clone(),
            cluster_name,
            multi_cluster,
            topology_path,
            etcd_endpoints,
            etcd_credentials,
            membership,
            lease_ttl,
            routing: RoutingSettings {
                prefer_cached_replicas: s
                    .parsed(PREFER_CACHED_REPLICAS, values::parse_bool)?
                    .unwrap_or(false),
                passive_cache: s
                    .parsed(PASSIVE_CACHE, values::parse_bool)?
                    .unwrap_or(false),
                ufs_fallback: s.parsed(UFS_FALLBACK, values::parse_bool)?.unwrap_or(true),
                ufs_root: s.string(UFS_ROOT),
                replicas: match s.parsed(REPLICATION_MIN, values::parse_whole::<usize>)? {
                    Some(n) if !(1..=16).contains(&n) => {
                        return Err(s.bad(REPLICATION_MIN, "must be between 1 and 16"));
                    }
                    Some(n) => n,
                    None => 1,
                },
                connect_timeout: s.bounded_duration(
                    CONNECT_TIMEOUT,
                    Duration::from_secs(1),
                    Duration::from_millis(10)..=Duration::from_secs(60),
                )?,
                first_byte_timeout: s.bounded_duration(
                    FIRST_BYTE_TIMEOUT,
                    Duration::from_secs(5),
                    Duration::from_millis(10)..=Duration::from_secs(600),
                )?,
            },
            policy,
            worker: WorkerSettings {
                id: s.string(WORKER_ID),
                zone: s.string(WORKER_ZONE),
                listen: s
                    .string(WORKER_LISTEN)
                    .unwrap_or_else(|| "127.0.0.1:0".into()),
                host: s.string(WORKER_HOST),
                cache_dir: match s.path(PAGE_STORE_DIRS) {
                    Some(dir) if dir.to_string_lossy().contains(',') => {
                        return Err(s.bad(
                            PAGE_STORE_DIRS,
                            "Azimuth uses one cache directory per worker",
                        ));
                    }
                    dir => dir,
                },
                cache_capacity: match s.parsed(PAGE_STORE_SIZES, values::parse_size)? {
                    Some(0) => return Err(s.bad(PAGE_STORE_SIZES, "the cache needs some capacity")),
                    Some(bytes) => bytes,
                    None => 1 << 30,
                },
                page_size: match s.parsed(PAGE_SIZE, values::parse_size)? {
                    Some(bytes) if !(4096..=64 << 20).contains(&bytes) => {
                        return Err(s.bad(PAGE_SIZE, "must be between 4KB and 64MB"));
                    }
                    Some(bytes) => bytes,
                    None => 1 << 20,
                },
                memory_cache_size: s
                    .parsed(MEMORY_CACHE_SIZE, values::parse_size)?
                    .unwrap_or(64 << 20),
            },
        })
    }

    /// A duration setting within `range`, `default` when unset.
    fn bounded_duration(
        &self,
        key: &str,
        default: Duration,
        range: std::ops::RangeInclusive<Duration>,
    ) -> Result<Duration, ConfigError> {
        match self.parsed(key, values::parse_duration)? {
            Some(d) if !range.contains(&d) => Err(self.bad(
                key,
                &format!("must be between {:?} and {:?}", range.start(), range.end()),
            )),
            Some(d) => Ok(d),
            None => Ok(default),
        }
    }

    fn bad(&self, key: &str, why: &str) -> ConfigError {
        let entry = &self.entries[key];
        ConfigError::Value {
            origin: entry.origin.clone(),
            key: key.to_owned(),
            value: entry.value.clone(),
            why: why.to_owned(),
        }
    }

    /// A non-empty string value; an empty value counts as unset.
    fn string(&self, key: &str) -> Option<String> {
        self.entries
            .get(key)
            .map(|e| e.value.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A path, relative paths taken from the site file's directory when set there.
    fn path(&self, key: &str) -> Option<PathBuf> {
        let path = PathBuf::from(self.string(key)?);
        Some(match &self.entries[key].origin {
            Origin::File { path: conf, .. } if path.is_relative() => {
                conf.parent().unwrap_or(Path::new(".")).join(path)
            }
            _ => path,
        })
    }

    fn parsed<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.string(key) {
            None => Ok(None),
            Some(value) => parse(&value).map(Some).map_err(|why| self.bad(key, &why)),
        }
    }
}

impl SiteConfig {
    /// Reads `conf` (if any), applies `flags`, and validates.
    pub fn load(
        conf: Option<&Path>,
        flags: impl FnOnce(&mut RawSettings),
    ) -> Result<Self, ConfigError> {
        let mut raw = RawSettings::load(conf)?;
        flags(&mut raw);
        raw.validate()
    }

    /// The cluster name, or an error saying why this command needs one.
    pub fn require_cluster_name(&self, why: &str) -> Result<&str, ConfigError> {
        self.cluster_name
            .as_deref()
            .ok_or_else(|| ConfigError::Missing {
                key: CLUSTER_NAME,
                why: why.to_owned(),
            })
    }
}

/// The known key closest to a misspelt one, if any is close.
fn closest_key(key: &str) -> Option<String> {
    KEYS.iter()
        .map(|(k, _, _)| (edit_distance(k, key), *k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k.to_owned())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<SiteConfig, ConfigError> {
        RawSettings {
            conf_path: Some("site.properties".into()),
            entries: properties::parse(text, Path::new("site.properties")).unwrap(),
        }
        .validate()
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let c = config("").unwrap();
        assert!(!c.multi_cluster && !c.routing.prefer_cached_replicas && c.routing.ufs_fallback);
        assert_eq!(c.lease_ttl, Duration::from_secs(5));
        assert_eq!(c.membership, MembershipType::Etcd);
    }

    #[test]
    fn unknown_azimuth_key_is_refused_with_a_suggestion() {
        let err = config("azimuth.policy.pth=/x.wasm\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "site.properties:1: unknown key azimuth.policy.pth (did you mean azimuth.policy.path?)"
        );
    }

    #[test]
    fn unknown_alluxio_key_is_ignored() {
        assert!(config("alluxio.worker.page.store.sizes=1GB\n").is_ok());
    }

    #[test]
    fn wrong_type_names_the_line_key_and_value() {
        let err = config("\nalluxio.multi.cluster.enabled = yes\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "site.properties:2: alluxio.multi.cluster.enabled=\"yes\": expected true or false"
        );
    }

    #[test]
    fn flags_override_the_file_and_are_named_in_errors() {
        let mut raw = RawSettings {
            conf_path: None,
            entries: properties::parse("alluxio.cluster.name=a\n", Path::new("f")).unwrap(),
        };
        raw.set_flag("--cluster", CLUSTER_NAME, Some("b"));
        assert_eq!(
            raw.clone().validate().unwrap().cluster_name.as_deref(),
            Some("b")
        );
        raw.set_flag("--cluster", CLUSTER_NAME, Some("b/c"));
        let err = raw.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("command line --cluster: alluxio.cluster.name=\"b/c\""),
            "{err}"
        );
    }

    #[test]
    fn multi_cluster_needs_a_topology_path() {
        let err = config("alluxio.multi.cluster.enabled=true\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("alluxio.multi.cluster.config.path is not set"),
            "{err}"
        );
    }
}
