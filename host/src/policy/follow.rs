//! Running the policy a process is configured with: the engine, and the
//! task that follows the policy file or the policy published in etcd. Shared
//! by workers and clients.

use std::time::Duration;

use anyhow::Context;

use super::{PolicyEngine, file_watch, published};
use crate::config::{self, SiteConfig};
use crate::membership::etcd::EtcdTarget;
use crate::topology::Layout;

/// A background task, stopped when this is dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Builds the policy engine if the process is configured to run a policy
/// (`azimuth.policy.path` or `.name`), and starts following the file or the
/// published name; the following stops when `tasks` are dropped.
pub fn start_configured(
    config: &SiteConfig,
    layout: &Layout,
    tasks: &mut Vec<AbortOnDrop>,
) -> anyhow::Result<Option<PolicyEngine>> {
    let settings = &config.policy;
    if settings.path.is_none() && settings.name.is_none() {
        return Ok(None);
    }
    let engine =
        PolicyEngine::new(settings.engine.clone()).context("cannot start the policy engine")?;
    if let Some(path) = &settings.path {
        file_watch::load_policy_file(&engine, path)?;
        tasks.push(AbortOnDrop(file_watch::spawn_file_watch(
            engine.clone(),
            path.clone(),
            Duration::from_millis(500),
        )));
    }
    if let Some(name) = &settings.name {
        let endpoints = layout.own_endpoints().ok_or_else(|| {
            anyhow::anyhow!(
                "{}={name} needs etcd, but this process has none ({} is STATIC)",
                config::POLICY_NAME,
                config::MEMBERSHIP_TYPE
            )
        })?;
        tasks.push(AbortOnDrop(published::spawn_follow(
            engine.clone(),
            EtcdTarget {
                endpoints: endpoints.to_vec(),
                credentials: config.etcd_credentials.clone(),
            },
            name.clone(),
        )));
    }
    Ok(Some(engine))
}
