//! `azimuth info nodes`: the workers of every cluster this host sees.

use std::time::Duration;

use clap::Subcommand;

use super::{Outcome, SiteArgs};
use azimuth_cluster::SiteConfig;
use azimuth_cluster::membership::{GroupStatus, MembershipView, MembershipWatcher};
use azimuth_cluster::topology::Layout;

/// Information commands.
#[derive(Debug, Subcommand)]
pub enum InfoCommand {
    /// List the workers of every participating cluster, grouped by cluster.
    ///
    /// Reads membership from each group's etcd (or the STATIC workers file).
    /// If a group's etcd cannot be reached, the others are still listed, that
    /// group is reported unreachable, and the exit status is 1. Example:
    /// `azimuth --conf alluxio-site.properties info nodes --json`
    Nodes {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// How long to wait for every group's etcd, in seconds.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
    },
}

/// Runs an info command.
pub fn run(site: &SiteArgs, command: InfoCommand) -> anyhow::Result<Outcome> {
    match command {
        InfoCommand::Nodes { json, timeout } => {
            let config = site.load(|_| {})?;
            let view = read_view(&config, Duration::from_secs_f64(timeout.max(0.1)))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print_table(&view);
            }
            Ok(report_unreachable(&view))
        }
    }
}

/// Reads the membership view once, as a client would see it now.
pub fn read_view(config: &SiteConfig, limit: Duration) -> anyhow::Result<MembershipView> {
    match &config.layout {
        Layout::Static { view, .. } => Ok(view.clone()),
        Layout::Etcd { groups, .. } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                config.check_etcd_credentials().await?;
                let watcher = MembershipWatcher::start(groups, &config.etcd);
                Ok(watcher.settled(limit).await.as_ref().clone())
            })
        }
    }
}

/// Prints unreachable groups to stderr; `Failed` if there are any.
pub fn report_unreachable(view: &MembershipView) -> Outcome {
    let mut failed = false;
    for group in &view.groups {
        let problem = match &group.status {
            GroupStatus::Unreachable { error } | GroupStatus::Stale { error, .. } => error.clone(),
            GroupStatus::Connecting => "no answer in time".into(),
            GroupStatus::Live | GroupStatus::Static => continue,
        };
        failed = true;
        eprintln!(
            "error: etcd {} of cluster(s) {} is unreachable: {problem}",
            group.endpoints.join(","),
            group.clusters.join(", ")
        );
    }
    if failed {
        Outcome::Failed
    } else {
        Outcome::Success
    }
}

fn print_table(view: &MembershipView) {
    for group in &view.groups {
        let status = match &group.status {
            GroupStatus::Live => "live".to_owned(),
            GroupStatus::Static => "static list".to_owned(),
            GroupStatus::Connecting => "UNREACHABLE (no answer in time)".to_owned(),
            GroupStatus::Unreachable { error } => format!("UNREACHABLE ({error})"),
            GroupStatus::Stale { error, .. } => format!(
                "STALE for {:.0?} ({error})",
                group.status.stale_for().unwrap_or_default()
            ),
        };
        let state = match &group.status {
            GroupStatus::Live => "LIVE",
            GroupStatus::Static => "LISTED",
            _ => "STALE",
        };
        for cluster in &group.clusters {
            let source = if group.endpoints.is_empty() {
                String::new()
            } else {
                format!("etcd {}: ", group.endpoints.join(","))
            };
            println!("cluster {cluster} ({source}{status})");
            let workers: Vec<_> = group
                .workers
                .values()
                .filter(|w| &w.cluster == cluster)
                .collect();
            if workers.is_empty() {
                println!("  (no workers)");
                continue;
            }
            println!(
                "  {:<24} {:<16} {:<22} {:<6} {:<21} POLICY",
                "ID", "ZONE", "ADDRESS", "STATE", "CACHE USED/CAPACITY"
            );
            for w in workers {
                let cache = format!("{} / {}", bytes(w.used_bytes), bytes(w.capacity_bytes));
                let policy = w
                    .policy_sha256
                    .as_deref()
                    .map_or("-", |s| &s[..s.len().min(12)]);
                println!(
                    "  {:<24} {:<16} {:<22} {:<6} {:<21} {policy}",
                    w.id,
                    w.zone,
                    w.http_address(),
                    state,
                    cache
                );
            }
        }
    }
}

/// Bytes in binary units, for people.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
