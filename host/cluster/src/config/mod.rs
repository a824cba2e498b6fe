//! Site configuration: the `alluxio-site.properties`-style file named by
//! `--conf` or `AZIMUTH_CONF`, overridden by command-line flags, validated once
//! into a [`SiteConfig`] from which every part of a process is built.
//!
//! - [`keys`]: every key, its default and meaning;
//! - [`properties`]: reading the file as Java reads it;
//! - [`values`]: durations, sizes, booleans, URLs;
//! - [`settings`]: the validated, typed settings;
//! - `validate`: raw strings to settings, the topology and the UFS resolved.
//!
//! Keys users already know from the system we implement (`alluxio.*`) are read
//! verbatim; keys of this project start with `azimuth.`. An unknown `azimuth.`
//! key is an error (a typo must not silently change nothing); an unknown
//! `alluxio.` key is logged and ignored, since real site files carry many keys
//! that concern parts of that system we do not have.

pub mod keys;
pub mod properties;
pub mod settings;
mod validate;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use keys::*;
pub use properties::{Entry, Origin};
pub use settings::{
    ClientSettings, EtcdAccess, EtcdCredentials, GatewayKeys, GatewaySettings, MountSettings,
    PolicySettings, RetryLimits, SiteConfig, WorkerSettings,
};

/// Why a configuration was refused. Each names the file or flag, the key and the value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The site file could not be read or parsed.
    #[error(transparent)]
    Properties(#[from] properties::PropertiesError),
    /// A value of the wrong type or out of range.
    #[error("{origin}: {key}={value:?}: {why}")]
    Value {
        /// Where it was set.
        origin: Origin,
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// An `azimuth.` key this program does not know.
    #[error("{origin}: unknown key {key}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    UnknownKey {
        /// Where it was set.
        origin: Origin,
        /// The key.
        key: String,
        /// The known key nearest to it, if one is near.
        suggestion: Option<String>,
    },
    /// A key that must be set is missing.
    #[error("{key} is not set: {why}")]
    Missing {
        /// The key.
        key: &'static str,
        /// Why it is needed.
        why: String,
    },
    /// The UFS named by `alluxio.dora.client.ufs.root` (or `--ufs`) is unusable.
    #[error("{origin}: {UFS_ROOT}: {source}")]
    Ufs {
        /// Where it was set.
        origin: Origin,
        /// Why it cannot be opened (boxed: object_store's errors are large).
        #[source]
        source: Box<azimuth_ufs::UfsError>,
    },
    /// Policy engine limits that cannot work (the message names the key).
    #[error(transparent)]
    Policy(#[from] azimuth_policy::PolicyConfigError),
    /// The topology file is unusable.
    #[error(transparent)]
    Topology(#[from] crate::topology::TopologyError),
    /// The static worker list is unusable.
    #[error(transparent)]
    StaticList(#[from] crate::membership::static_list::StaticListError),
    /// The gateway's credentials file cannot be read.
    #[error("{origin}: {key}: cannot read {}: {source}", file.display(), key = GATEWAY_CREDENTIALS_FILE)]
    CredentialsRead {
        /// Where the file was named.
        origin: Origin,
        /// The file.
        file: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The cluster token's file is unusable (the message names the file,
    /// never the token).
    #[error("{origin}: {key}: {source}", key = SECURITY_TOKEN_FILE)]
    Token {
        /// Where the file was named.
        origin: Origin,
        /// What is wrong with it.
        #[source]
        source: crate::security::TokenError,
    },
    /// A TLS file is unusable (the message names the file and key).
    #[error(transparent)]
    Tls(#[from] crate::security::TlsError),
    /// A line of the gateway's credentials file is not `ACCESS_KEY SECRET_KEY`
    /// (the message never quotes the line: it may hold a secret).
    #[error("{}:{line}: {why} (a line is `ACCESS_KEY SECRET_KEY`)", file.display())]
    CredentialsLine {
        /// The file.
        file: PathBuf,
        /// The line number.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
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

    /// Whether every etcd of the layout accepts `alluxio.etcd.username` and
    /// `.password` (when they are set): a process checks once at start, so
    /// that a wrong password stops it with etcd's answer instead of leaving
    /// it retrying. The etcds are asked at once; one that does not answer
    /// (within 2 s) is not held against the credentials.
    pub async fn check_etcd_credentials(&self) -> Result<(), crate::etcd::CredentialsRefused> {
        if self.etcd.credentials.is_none() {
            return Ok(());
        }
        let mut set = tokio::task::JoinSet::new();
        for group in self.layout.etcds() {
            let target = crate::etcd::EtcdTarget::new(&group.endpoints, &self.etcd);
            set.spawn(async move { target.check_credentials().await });
        }
        while let Some(result) = set.join_next().await {
            if let Ok(Err(refused)) = result {
                return Err(refused);
            }
        }
        Ok(())
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

    /// The UFS, or an error saying why this command needs one.
    pub fn require_ufs(&self, why: &str) -> Result<&azimuth_ufs::Ufs, ConfigError> {
        self.ufs.as_ref().ok_or_else(|| ConfigError::Missing {
            key: UFS_ROOT,
            why: why.to_owned(),
        })
    }
}
