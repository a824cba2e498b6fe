//! Running the policy a process is configured with: the engine, and the
//! task that follows the policy file or the policy published in etcd. Shared
//! by workers and clients.

use std::time::Duration;

use azimuth_policy::file_watch::{self, PolicyFileError};
use azimuth_policy::{EngineError, PolicyEngine};

use crate::config::{self, SiteConfig};
use crate::etcd::EtcdTarget;
use crate::published;

/// How often a followed policy file is checked for a new version.
const FILE_POLL: Duration = Duration::from_millis(500);

/// A background task, stopped when this is dropped.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why the configured policy could not be started.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The engine did not start (its limits are checked with the config,
    /// so this is a defect of the Wasm runtime or the build).
    #[error("cannot start the policy engine: {0}")]
    Engine(#[from] EngineError),
    /// The policy file named by `azimuth.policy.path` is unusable.
    #[error("{key}: {0}", key = config::POLICY_PATH)]
    File(#[from] PolicyFileError),
    /// `azimuth.policy.name` needs etcd, and this process has none.
    #[error(
        "{}={name} needs etcd, but this process has none ({} is STATIC)",
        config::POLICY_NAME,
        config::MEMBERSHIP_TYPE
    )]
    NoEtcd {
        /// The published name.
        name: String,
    },
}

/// The engine a process decides with: the configured policy followed (file
/// or etcd name), or the embedded default. Following stops when the
/// returned tasks are dropped.
pub fn start_configured(
    config: &SiteConfig,
) -> Result<(PolicyEngine, Vec<AbortOnDrop>), FollowError> {
    let settings = &config.policy;
    let engine = PolicyEngine::new(settings.engine.clone())?;
    let mut tasks = Vec::new();
    if let Some(path) = &settings.path {
        file_watch::load_policy_file(&engine, path)?;
        tasks.push(AbortOnDrop(file_watch::spawn_file_watch(
            engine.clone(),
            path.clone(),
            FILE_POLL,
        )));
    }
    if let Some(name) = &settings.name {
        let endpoints = config
            .layout
            .own_endpoints()
            .ok_or_else(|| FollowError::NoEtcd { name: name.clone() })?;
        tasks.push(AbortOnDrop(published::spawn_follow(
            engine.clone(),
            EtcdTarget::new(endpoints, &config.etcd),
            name.clone(),
        )));
    }
    Ok((engine, tasks))
}

/// Whether the configuration names a policy to run (file or etcd), rather
/// than leaving the embedded default to decide.
pub fn is_configured(config: &SiteConfig) -> bool {
    config.policy.path.is_some() || config.policy.name.is_some()
}
