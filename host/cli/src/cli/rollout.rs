//! `azimuth policy publish` and `azimuth policy status`: rolling a policy out
//! through etcd and watching it land.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use azimuth_cluster::SiteConfig;
use azimuth_cluster::etcd::EtcdTarget;
use azimuth_cluster::membership::keys::check_name;
use azimuth_cluster::published::{self, PublishedMeta};
use serde::Serialize;

use super::info::{read_view, report_unreachable};
use super::{Outcome, SiteArgs};

/// The distinct etcds of this host's layout, each with the clusters it serves.
fn etcd_targets(config: &SiteConfig) -> anyhow::Result<Vec<(EtcdTarget, Vec<String>)>> {
    let etcds = config.layout.etcds();
    if etcds.is_empty() {
        bail!("publishing needs etcd, and this configuration has STATIC membership");
    }
    Ok(etcds
        .into_iter()
        .map(|group| {
            let target = EtcdTarget::new(&group.endpoints, &config.etcd);
            (target, group.clusters)
        })
        .collect())
}

/// Validates `file` and stores it under `name` in every etcd.
pub fn publish(site: &SiteArgs, file: &Path, name: &str) -> anyhow::Result<Outcome> {
    check_name(name).map_err(|why| anyhow::anyhow!("--name {name:?}: {why}"))?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    azimuth_policy_tools::check::check(&bytes, &file.display().to_string())?;
    let targets = etcd_targets(&site.load(|_| {})?)?;
    let source = file.display().to_string();
    let runtime = tokio::runtime::Runtime::new()?;
    let mut failed = false;
    runtime.block_on(async {
        for (target, clusters) in &targets {
            match published::publish(target, name, &bytes, &source).await {
                Ok(meta) => println!(
                    "published {name} (sha256 {}, {} bytes) to etcd {} for {}",
                    meta.sha256,
                    meta.size,
                    target.describe(),
                    clusters.join(", ")
                ),
                Err(error) => {
                    failed = true;
                    eprintln!(
                        "error: etcd {} ({}): {error}",
                        target.describe(),
                        clusters.join(", ")
                    );
                }
            }
        }
    });
    Ok(if failed {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

#[derive(Serialize)]
struct Status {
    name: String,
    published: Vec<PublishedIn>,
    workers: Vec<WorkerPolicy>,
}

#[derive(Serialize)]
struct PublishedIn {
    etcd: String,
    clusters: Vec<String>,
    meta: Option<PublishedMeta>,
    /// What is wrong with what is published there (hosts refuse it).
    error: Option<String>,
    /// Why that etcd could not be read.
    unreachable: Option<String>,
}

#[derive(Serialize)]
struct WorkerPolicy {
    cluster: String,
    id: String,
    policy_sha256: Option<String>,
    runs_published: bool,
}

/// Prints each worker's policy next to what is published under `name`.
pub fn status(site: &SiteArgs, name: &str, json: bool) -> anyhow::Result<Outcome> {
    check_name(name).map_err(|why| anyhow::anyhow!("--name {name:?}: {why}"))?;
    let config = site.load(|_| {})?;
    let targets = etcd_targets(&config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let published: Vec<PublishedIn> = runtime.block_on(async {
        let mut out = Vec::new();
        for (target, clusters) in targets {
            let result = async {
                let mut client = target.connect().await?;
                published::fetch(&mut client, name).await
            }
            .await;
            let (meta, error, unreachable) = match result.map(|fetched| fetched.policy) {
                Ok(None) => (None, None, None),
                Ok(Some(Ok(p))) => (Some(p.meta), None, None),
                Ok(Some(Err(unusable))) => (None, Some(unusable.to_string()), None),
                Err(e) => (None, None, Some(e.to_string())),
            };
            out.push(PublishedIn {
                etcd: target.describe(),
                clusters,
                meta,
                error,
                unreachable,
            });
        }
        out
    });
    drop(runtime);
    let view = read_view(&config, Duration::from_secs(5))?;
    let published_for = |cluster: &str| {
        published
            .iter()
            .find(|p| p.clusters.iter().any(|c| c == cluster))
            .and_then(|p| p.meta.as_ref())
            .map(|m| m.sha256.as_str())
    };
    let workers: Vec<WorkerPolicy> = view
        .workers()
        .map(|w| WorkerPolicy {
            cluster: w.cluster.clone(),
            id: w.id.clone(),
            policy_sha256: w.policy_sha256.clone(),
            runs_published: published_for(&w.cluster).is_some()
                && w.policy_sha256.as_deref() == published_for(&w.cluster),
        })
        .collect();
    let status = Status {
        name: name.to_owned(),
        published,
        workers,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        for p in &status.published {
            let what = match (&p.meta, &p.error, &p.unreachable) {
                (Some(meta), _, _) => format!(
                    "sha256 {} ({} bytes, from {})",
                    meta.sha256, meta.size, meta.source
                ),
                (_, Some(error), _) => format!("UNUSABLE, hosts refuse it: {error}"),
                (_, _, Some(error)) => format!("UNREACHABLE: {error}"),
                (None, None, None) => "nothing published".into(),
            };
            println!(
                "published {name} in etcd {} ({}): {what}",
                p.etcd,
                p.clusters.join(", ")
            );
        }
        println!(
            "{:<24} {:<24} {:<66} PUBLISHED?",
            "CLUSTER", "WORKER", "POLICY SHA256"
        );
        for w in &status.workers {
            println!(
                "{:<24} {:<24} {:<66} {}",
                w.cluster,
                w.id,
                w.policy_sha256.as_deref().unwrap_or("-"),
                if w.runs_published { "yes" } else { "no" }
            );
        }
        let running = status.workers.iter().filter(|w| w.runs_published).count();
        println!(
            "{running} of {} workers run the published {name}",
            status.workers.len()
        );
    }
    let unreachable = status.published.iter().any(|p| p.unreachable.is_some());
    Ok(match report_unreachable(&view) {
        Outcome::Success if !unreachable => Outcome::Success,
        _ => Outcome::Failed,
    })
}
