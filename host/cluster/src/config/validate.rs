//! Raw settings to a [`SiteConfig`]: every key checked, typed and given its
//! default; the topology resolved (the topology file read, or the static
//! worker list) and the UFS opened. The first bad setting stops it, named
//! with where it was set, the key, the value and why.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::BTreeMap;

use azimuth_policy::PolicyConfig;
use azimuth_ufs::{S3Options, SyncInterval, Ufs};

use super::keys::*;
use super::settings::{
    ClientSettings, EtcdAccess, EtcdCredentials, GatewayKeys, GatewaySettings, MountSettings,
    PolicySettings, RetryLimits, SiteConfig, WorkerSettings,
};
use super::{ConfigError, Origin, RawSettings, values};
use crate::membership::keys::check_name;
use crate::security::{
    ClusterToken, DEFAULT_OPEN_ROUTES, PemFile, SecuritySettings, TlsError, TlsSettings,
};
use crate::topology::{Layout, MembershipSource};

impl RawSettings {
    /// Validates every key and builds the configuration.
    pub fn validate(self) -> Result<SiteConfig, ConfigError> {
        self.check_keys()?;
        let cluster_name = self.string(CLUSTER_NAME);
        if let Some(name) = &cluster_name {
            check_name(name).map_err(|why| self.bad(CLUSTER_NAME, &why))?;
        }
        let multi_cluster = self.parsed(MULTI_CLUSTER_ENABLED, values::parse_bool)?;
        let multi_cluster = multi_cluster.unwrap_or(false);
        let layout = Layout::resolve(MembershipSource {
            static_list: self.static_list()?.as_deref(),
            cluster: cluster_name.as_deref(),
            multi_cluster,
            topology: self.path(MULTI_CLUSTER_CONFIG_PATH).as_deref(),
            etcd_endpoints: &self.etcd_endpoints()?,
        })?;
        let etcd = self.etcd_access(&layout)?;
        Ok(SiteConfig {
            conf_path: self.conf_path.clone(),
            cluster_name,
            multi_cluster,
            layout,
            etcd,
            lease_ttl: self.bounded_duration(
                FAILURE_DETECTION_TIMEOUT,
                Duration::from_secs(5),
                Duration::from_secs(2)..=Duration::from_secs(3600),
                "2s (etcd's shortest lease) and 1h",
            )?,
            ufs: self.ufs()?,
            metadata_sync: match self.string(METADATA_SYNC_INTERVAL) {
                None => SyncInterval::Every(Duration::from_secs(60)),
                Some(text) => SyncInterval::parse(&text, values::parse_duration)
                    .map_err(|why| self.bad(METADATA_SYNC_INTERVAL, &format!("{why}, or -1")))?,
            },
            client: self.client()?,
            policy: self.policy()?,
            worker: self.worker()?,
            gateway: self.gateway()?,
            mount: self.mount()?,
            security: self.security()?,
        })
    }

    /// Refuses unknown `azimuth.` keys; logs unknown `alluxio.` ones.
    fn check_keys(&self) -> Result<(), ConfigError> {
        for (key, entry) in &self.entries {
            if KEYS.iter().any(|(k, _, _)| k == key) {
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
        Ok(())
    }

    /// The static worker list's path with STATIC membership; `None` with ETCD.
    fn static_list(&self) -> Result<Option<PathBuf>, ConfigError> {
        match self.string(MEMBERSHIP_TYPE).as_deref() {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("ETCD") => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("STATIC") => self
                .path(STATIC_MEMBERSHIP_FILE)
                .map(Some)
                .ok_or(ConfigError::Missing {
                    key: STATIC_MEMBERSHIP_FILE,
                    why: format!("{MEMBERSHIP_TYPE}=STATIC needs the file listing the workers"),
                }),
            Some(_) => Err(self.bad(MEMBERSHIP_TYPE, "expected ETCD or STATIC")),
        }
    }

    fn etcd_endpoints(&self) -> Result<Vec<String>, ConfigError> {
        let Some(entry) = self.entries.get(ETCD_ENDPOINTS) else {
            return Ok(Vec::new());
        };
        entry
            .value
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| values::parse_endpoint(e).map_err(|why| self.bad(ETCD_ENDPOINTS, &why)))
            .collect()
    }

    /// The etcd credentials and TLS. TLS is read only when some etcd of the
    /// layout is `https://`, and is then required: a CA to trust etcd's
    /// certificate by (`azimuth.etcd.tls.ca`, else the site's own).
    fn etcd_access(&self, layout: &Layout) -> Result<EtcdAccess, ConfigError> {
        let credentials = self.etcd_credentials()?;
        let etcds = layout.etcds();
        let https = etcds
            .iter()
            .flat_map(|group| &group.endpoints)
            .find(|endpoint| endpoint.starts_with("https://"));
        let Some(https) = https else {
            return Ok(EtcdAccess {
                credentials,
                tls: None,
            });
        };
        let identity = self.identity(ETCD_TLS_CERT, ETCD_TLS_KEY)?;
        let ca = match self.path(ETCD_TLS_CA) {
            Some(ca) => PemFile::certificates(ETCD_TLS_CA, &ca)?,
            None => match self.path(SECURITY_TLS_CA) {
                Some(ca) => PemFile::certificates(SECURITY_TLS_CA, &ca)?,
                None => {
                    return Err(ConfigError::Missing {
                        key: ETCD_TLS_CA,
                        why: format!(
                            "etcd endpoint {https} is https://: name the CA that signs its certificate"
                        ),
                    });
                }
            },
        };
        Ok(EtcdAccess {
            credentials,
            tls: Some(TlsSettings { ca, identity }),
        })
    }

    fn etcd_credentials(&self) -> Result<Option<EtcdCredentials>, ConfigError> {
        let missing = |key, other| ConfigError::Missing {
            key,
            why: format!("{other} is set"),
        };
        match (self.string(ETCD_USERNAME), self.string(ETCD_PASSWORD)) {
            (Some(user), Some(password)) => Ok(Some(EtcdCredentials::new(user, password))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(missing(ETCD_PASSWORD, ETCD_USERNAME)),
            (None, Some(_)) => Err(missing(ETCD_USERNAME, ETCD_PASSWORD)),
        }
    }

    fn ufs(&self) -> Result<Option<Ufs>, ConfigError> {
        let Some(root) = self.string(UFS_ROOT) else {
            return Ok(None);
        };
        let s3 = S3Options {
            access_key_id: self
                .string(S3_ACCESS_KEY_ID)
                .or_else(|| self.string(S3_ACCESS_KEY_ID_AWS)),
            secret_key: self
                .string(S3_SECRET_KEY)
                .or_else(|| self.string(S3_SECRET_KEY_AWS)),
            endpoint: self.string(S3_ENDPOINT),
            region: self.string(S3_REGION),
        };
        if let Some(endpoint) = &s3.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(self.bad(S3_ENDPOINT, "expected a URL such as http://127.0.0.1:9000"));
        }
        Ufs::open(&root, &s3)
            .map(Some)
            .map_err(|source| ConfigError::Ufs {
                origin: self.entries[UFS_ROOT].origin.clone(),
                source: Box::new(source),
            })
    }

    fn client(&self) -> Result<ClientSettings, ConfigError> {
        let retry = RetryLimits::default();
        Ok(ClientSettings {
            prefer_cached_replicas: self
                .parsed(PREFER_CACHED_REPLICAS, values::parse_bool)?
                .unwrap_or(false),
            passive_cache: self
                .parsed(PASSIVE_CACHE, values::parse_bool)?
                .unwrap_or(false),
            ufs_fallback: self
                .parsed(UFS_FALLBACK, values::parse_bool)?
                .unwrap_or(true),
            replicas: self.bounded_whole(REPLICATION_MIN, 1, 1..=16)?,
            connect_timeout: self.bounded_duration(
                CONNECT_TIMEOUT,
                Duration::from_secs(1),
                Duration::from_millis(10)..=Duration::from_secs(60),
                "10ms and 60s",
            )?,
            first_byte_timeout: self.bounded_duration(
                FIRST_BYTE_TIMEOUT,
                Duration::from_secs(5),
                Duration::from_millis(10)..=Duration::from_secs(600),
                "10ms and 600s",
            )?,
            pipelining: self.parsed(PIPELINING, values::parse_bool)?.unwrap_or(true),
            retry: RetryLimits {
                per_source: self.bounded_whole(
                    RETRY_LIMIT_PER_SOURCE,
                    retry.per_source,
                    0..=100,
                )?,
                total: self.bounded_duration(
                    RETRY_LIMIT_TOTAL,
                    retry.total,
                    Duration::ZERO..=Duration::from_secs(600),
                    "0s and 600s",
                )?,
            },
        })
    }

    fn policy(&self) -> Result<PolicySettings, ConfigError> {
        let defaults = PolicyConfig::default();
        let engine = PolicyConfig {
            call_timeout: self
                .parsed(POLICY_CALL_TIMEOUT, values::parse_duration)?
                .unwrap_or(defaults.call_timeout),
            memory_limit: match self.parsed(POLICY_MEMORY_LIMIT, values::parse_size)? {
                Some(bytes) => usize::try_from(bytes)
                    .map_err(|_| self.bad(POLICY_MEMORY_LIMIT, "too large for this machine"))?,
                None => defaults.memory_limit,
            },
            quarantine_after: self
                .parsed(POLICY_QUARANTINE_AFTER, values::parse_whole)?
                .unwrap_or(defaults.quarantine_after),
            idle_instances: self
                .parsed(POLICY_IDLE_INSTANCES, values::parse_whole)?
                .unwrap_or(defaults.idle_instances),
        };
        engine.validate()?;
        let policy = PolicySettings {
            path: self.path(POLICY_PATH),
            name: self.string(POLICY_NAME),
            engine,
        };
        if policy.path.is_some() && policy.name.is_some() {
            return Err(self.bad(
                POLICY_NAME,
                &format!("set either {POLICY_PATH} or {POLICY_NAME}, not both"),
            ));
        }
        if let Some(name) = &policy.name {
            check_name(name).map_err(|why| self.bad(POLICY_NAME, &why))?;
        }
        Ok(policy)
    }

    fn worker(&self) -> Result<WorkerSettings, ConfigError> {
        Ok(WorkerSettings {
            id: self.string(WORKER_ID),
            zone: self.string(WORKER_ZONE),
            listen: self
                .string(WORKER_LISTEN)
                .unwrap_or_else(|| "127.0.0.1:0".into()),
            host: self.string(WORKER_HOST),
            cache_dir: match self.path(PAGE_STORE_DIRS) {
                Some(dir) if dir.to_string_lossy().contains(',') => {
                    return Err(self.bad(
                        PAGE_STORE_DIRS,
                        "Azimuth uses one cache directory per worker",
                    ));
                }
                dir => dir,
            },
            cache_capacity: match self.parsed(PAGE_STORE_SIZES, values::parse_size)? {
                Some(0) => return Err(self.bad(PAGE_STORE_SIZES, "the cache needs some capacity")),
                Some(bytes) => bytes,
                None => 1 << 30,
            },
            page_size: match self.parsed(PAGE_SIZE, values::parse_size)? {
                Some(bytes) if !(4096..=64 << 20).contains(&bytes) => {
                    return Err(self.bad(PAGE_SIZE, "must be between 4KB and 64MB"));
                }
                Some(bytes) => bytes,
                None => 1 << 20,
            },
            memory_cache_size: self
                .parsed(MEMORY_CACHE_SIZE, values::parse_size)?
                .unwrap_or(64 << 20),
            header_timeout: self.bounded_duration(
                WORKER_HEADER_TIMEOUT,
                Duration::from_secs(10),
                Duration::from_millis(100)..=Duration::from_secs(600),
                "100ms and 10min",
            )?,
            max_header_bytes: match self.parsed(WORKER_MAX_HEADER_BYTES, values::parse_size)? {
                // hyper's read buffer, which holds the headers, is 8 KiB at least.
                Some(bytes) if !(8 << 10..=1 << 20).contains(&bytes) => {
                    return Err(self.bad(WORKER_MAX_HEADER_BYTES, "must be between 8KB and 1MB"));
                }
                Some(bytes) => bytes as usize,
                None => 32 << 10,
            },
            max_connections: self.bounded_whole(WORKER_MAX_CONNECTIONS, 10_000, 1..=1_000_000)?,
            threads: match self.bounded_whole(WORKER_THREADS, 0, 0..=1024)? {
                0 => None,
                n => Some(n),
            },
        })
    }

    fn gateway(&self) -> Result<GatewaySettings, ConfigError> {
        let keys = match self.path(GATEWAY_CREDENTIALS_FILE) {
            None => None,
            Some(file) => Some(self.gateway_keys(file)?),
        };
        Ok(GatewaySettings {
            listen: self
                .string(GATEWAY_LISTEN)
                .unwrap_or_else(|| "127.0.0.1:0".into()),
            keys,
            anonymous_read: self
                .parsed(GATEWAY_ANONYMOUS_READ, values::parse_bool)?
                .unwrap_or(false),
            threads: match self.bounded_whole(GATEWAY_THREADS, 0, 0..=1024)? {
                0 => None,
                n => Some(n),
            },
        })
    }

    fn mount(&self) -> Result<MountSettings, ConfigError> {
        let defaults = MountSettings::default();
        Ok(MountSettings {
            metadata_expiration: self.bounded_duration(
                MOUNT_METADATA_EXPIRATION,
                defaults.metadata_expiration,
                Duration::ZERO..=Duration::from_secs(7 * 24 * 3600),
                "0 and 7d",
            )?,
            metadata_max_size: self.bounded_whole(
                MOUNT_METADATA_MAX_SIZE,
                defaults.metadata_max_size,
                1..=100_000_000,
            )?,
            cached_paths_max: self.bounded_whole(
                MOUNT_CACHED_PATHS_MAX,
                defaults.cached_paths_max,
                1..=10_000_000,
            )?,
            readahead_max: match self.parsed(MOUNT_READAHEAD_MAX, values::parse_size)? {
                Some(bytes) if !(128 << 10..=1 << 30).contains(&bytes) => {
                    return Err(self.bad(MOUNT_READAHEAD_MAX, "must be between 128KB and 1GB"));
                }
                Some(bytes) => bytes,
                None => defaults.readahead_max,
            },
        })
    }

    fn security(&self) -> Result<SecuritySettings, ConfigError> {
        let token = match self.path(SECURITY_TOKEN_FILE) {
            None => None,
            Some(file) => Some(
                ClusterToken::read(&file).map_err(|source| ConfigError::Token {
                    origin: self.entries[SECURITY_TOKEN_FILE].origin.clone(),
                    source,
                })?,
            ),
        };
        let open_routes = match self.entries.get(SECURITY_OPEN_ROUTES) {
            // Set but empty: every route needs the token.
            Some(_) => {
                let routes: Vec<String> = self
                    .string(SECURITY_OPEN_ROUTES)
                    .unwrap_or_default()
                    .split(',')
                    .map(|r| r.trim().to_owned())
                    .filter(|r| !r.is_empty())
                    .collect();
                if let Some(other) = routes
                    .iter()
                    .find(|r| !DEFAULT_OPEN_ROUTES.contains(&r.as_str()))
                {
                    return Err(self.bad(
                        SECURITY_OPEN_ROUTES,
                        &format!(
                            "{other:?} cannot be opened: only {} can (the others read files or change state)",
                            DEFAULT_OPEN_ROUTES.join(" and ")
                        ),
                    ));
                }
                routes
            }
            None => SecuritySettings::default().open_routes,
        };
        let tls = self.tls()?;
        Ok(SecuritySettings {
            token,
            open_routes,
            tls,
        })
    }

    fn tls(&self) -> Result<Option<TlsSettings>, ConfigError> {
        let identity = self.identity(SECURITY_TLS_CERT, SECURITY_TLS_KEY)?;
        match self.path(SECURITY_TLS_CA) {
            Some(ca) => Ok(Some(TlsSettings {
                ca: PemFile::certificates(SECURITY_TLS_CA, &ca)?,
                identity,
            })),
            None if identity.is_some() => Err(self.bad(
                SECURITY_TLS_CERT,
                &format!("TLS needs {SECURITY_TLS_CA}: the CA that signs the site's certificates"),
            )),
            None => Ok(None),
        }
    }

    /// A certificate chain and its key, named by the `cert` and `key` keys:
    /// both or neither.
    fn identity(
        &self,
        cert_key: &'static str,
        key_key: &'static str,
    ) -> Result<Option<(PemFile, PemFile)>, ConfigError> {
        match (self.path(cert_key), self.path(key_key)) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some((
                PemFile::certificates(cert_key, &cert)?,
                PemFile::private_key(key_key, &key)?,
            ))),
            (Some(_), None) => Err(TlsError::Unpaired {
                set: cert_key,
                missing: key_key,
            }
            .into()),
            (None, Some(_)) => Err(TlsError::Unpaired {
                set: key_key,
                missing: cert_key,
            }
            .into()),
        }
    }

    /// Reads the gateway's credentials file: `ACCESS_KEY SECRET_KEY` a line,
    /// `#` comments and blank lines allowed.
    fn gateway_keys(&self, file: PathBuf) -> Result<GatewayKeys, ConfigError> {
        let text =
            std::fs::read_to_string(&file).map_err(|source| ConfigError::CredentialsRead {
                origin: self.entries[GATEWAY_CREDENTIALS_FILE].origin.clone(),
                file: file.clone(),
                source,
            })?;
        let mut keys = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let bad = |why: &str| ConfigError::CredentialsLine {
                file: file.clone(),
                line: index + 1,
                why: why.to_owned(),
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(access), Some(secret), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(bad("expected two fields"));
            };
            if keys.insert(access.to_owned(), secret.to_owned()).is_some() {
                return Err(bad(&format!("access key {access:?} is listed twice")));
            }
        }
        Ok(GatewayKeys::new(file, keys))
    }

    /// A duration setting within `range` (`bounds` says it for people),
    /// `default` when unset.
    fn bounded_duration(
        &self,
        key: &str,
        default: Duration,
        range: std::ops::RangeInclusive<Duration>,
        bounds: &str,
    ) -> Result<Duration, ConfigError> {
        match self.parsed(key, values::parse_duration)? {
            Some(d) if !range.contains(&d) => {
                Err(self.bad(key, &format!("must be between {bounds}")))
            }
            Some(d) => Ok(d),
            None => Ok(default),
        }
    }

    /// A whole-number setting within `range`, `default` when unset.
    fn bounded_whole<T>(
        &self,
        key: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        match self.parsed(key, values::parse_whole::<T>)? {
            Some(n) if !range.contains(&n) => Err(self.bad(
                key,
                &format!("must be between {} and {}", range.start(), range.end()),
            )),
            Some(n) => Ok(n),
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
    use crate::config::properties;

    /// One cluster with its own etcd: the least a process can run with.
    const ONE_CLUSTER: &str =
        "alluxio.cluster.name=a\nalluxio.etcd.endpoints=http://127.0.0.1:2379\n";

    fn config(text: &str) -> Result<SiteConfig, ConfigError> {
        RawSettings {
            conf_path: Some("site.properties".into()),
            entries: properties::parse(text, Path::new("site.properties")).unwrap(),
        }
        .validate()
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let c = config(ONE_CLUSTER).unwrap();
        assert!(!c.multi_cluster && !c.client.prefer_cached_replicas && c.client.ufs_fallback);
        assert!(c.client.pipelining);
        assert_eq!(c.lease_ttl, Duration::from_secs(5));
        assert_eq!(c.client.retry, RetryLimits::default());
        assert_eq!(
            c.client.retry,
            RetryLimits {
                per_source: 3,
                total: Duration::from_secs(10)
            }
        );
        assert!(matches!(c.layout, Layout::Etcd { .. }));
        assert!(c.ufs.is_none());
    }

    #[test]
    fn pipelining_is_turned_off_by_its_key_and_a_bad_value_is_named() {
        let off = config(&format!("{ONE_CLUSTER}{PIPELINING}=false\n")).unwrap();
        assert!(!off.client.pipelining);
        let err = config(&format!("{ONE_CLUSTER}{PIPELINING}=sometimes\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(PIPELINING) && err.contains("sometimes"),
            "{err}"
        );
    }

    #[test]
    fn nothing_configured_names_the_cluster_name_as_missing() {
        let err = config("").unwrap_err().to_string();
        assert!(err.starts_with("alluxio.cluster.name is not set"), "{err}");
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
        assert!(config(&format!("{ONE_CLUSTER}alluxio.master.hostname=m1\n")).is_ok());
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
    fn retry_limits_are_read_and_bounded() {
        let c = config(&format!(
            "{ONE_CLUSTER}azimuth.client.retry.limit.per.source=0\nazimuth.client.retry.limit.total=1500ms\n"
        ))
        .unwrap();
        assert_eq!(
            c.client.retry,
            RetryLimits {
                per_source: 0,
                total: Duration::from_millis(1500)
            }
        );
        let err = config(&format!(
            "{ONE_CLUSTER}azimuth.client.retry.limit.per.source=101\n"
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "site.properties:3: azimuth.client.retry.limit.per.source=\"101\": must be between 0 and 100"
        );
        let err = config(&format!(
            "{ONE_CLUSTER}azimuth.client.retry.limit.total=11min\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.ends_with("must be between 0s and 600s"), "{err}");
    }

    #[test]
    fn etcd_passwords_stay_out_of_debug_output() {
        let c = config(&format!(
            "{ONE_CLUSTER}alluxio.etcd.username=root\nalluxio.etcd.password=s3cret-pw\n"
        ))
        .unwrap();
        let credentials = c.etcd.credentials.as_ref().unwrap();
        assert_eq!(
            (credentials.user.as_str(), credentials.password()),
            ("root", "s3cret-pw")
        );
        let shown = format!("{c:?}");
        assert!(
            shown.contains("root") && !shown.contains("s3cret-pw"),
            "{shown}"
        );
    }

    #[test]
    fn flags_override_the_file_and_are_named_in_errors() {
        let mut raw = RawSettings {
            conf_path: None,
            entries: properties::parse(ONE_CLUSTER, Path::new("f")).unwrap(),
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

    #[test]
    fn metadata_sync_reads_alluxio_syntax_and_defaults_to_a_minute() {
        let interval = |text: &str| {
            config(&format!("{ONE_CLUSTER}{text}"))
                .map(|c| c.metadata_sync)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            interval(""),
            Ok(SyncInterval::Every(Duration::from_secs(60)))
        );
        assert_eq!(
            interval("alluxio.user.file.metadata.sync.interval=-1\n"),
            Ok(SyncInterval::Never)
        );
        assert_eq!(
            interval("alluxio.user.file.metadata.sync.interval=0\n"),
            Ok(SyncInterval::Always)
        );
        assert_eq!(
            interval("alluxio.user.file.metadata.sync.interval=500ms\n"),
            Ok(SyncInterval::Every(Duration::from_millis(500)))
        );
        let err = interval("alluxio.user.file.metadata.sync.interval=often\n").unwrap_err();
        assert!(
            err.contains("expected a duration") && err.contains("or -1"),
            "{err}"
        );
    }

    #[test]
    fn gateway_keys_are_read_and_a_bad_line_is_named_without_its_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, "# keys\nAKID1 secret-one\n\nAKID2 secret-two\n").unwrap();
        let c = config(&format!(
            "{ONE_CLUSTER}azimuth.gateway.credentials.file={}\nazimuth.gateway.anonymous.read=true\n",
            file.display()
        ))
        .unwrap();
        let keys = c.gateway.keys.as_ref().unwrap();
        assert_eq!((keys.len(), keys.secret("AKID2")), (2, Some("secret-two")));
        assert!(c.gateway.anonymous_read);
        assert!(!format!("{c:?}").contains("secret-one"));
        std::fs::write(&file, "AKID1 secret-one\nAKID3 hunter2 extra\n").unwrap();
        let err = config(&format!(
            "{ONE_CLUSTER}azimuth.gateway.credentials.file={}\n",
            file.display()
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.ends_with("keys:2: expected two fields (a line is `ACCESS_KEY SECRET_KEY`)"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_ufs_root_that_is_not_a_directory_is_refused_where_it_was_set() {
        let err = config(&format!(
            "{ONE_CLUSTER}alluxio.dora.client.ufs.root=/no/such/dir\n"
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "site.properties:3: alluxio.dora.client.ufs.root: UFS \"/no/such/dir\": no such directory"
        );
    }
}
