//! Following membership through etcd watches: one task per group keeps that
//! group's part of a [`MembershipView`] current and publishes every change
//! through a `tokio::sync::watch`.
//!
//! Each round reads the whole group in one transaction (one revision), then
//! watches from the next revision, so no event is missed or applied twice.
//! When etcd stops answering the last list stays in use, marked stale, and
//! the task reconnects with backoff; the next round's full read drops any
//! entry that disappeared meanwhile.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{EventType, GetOptions, Txn, TxnOp, TxnOpResponse, WatchOptions};
use tokio::sync::watch;

use super::keys::workers_prefix;
use super::record::WorkerRecord;
use super::view::{GroupStatus, GroupView, MembershipView, now_ms};
use crate::config::EtcdAccess;
use crate::etcd::{Backoff, EtcdError, EtcdTarget, timed};
use crate::topology::Group;

/// How often a watching task checks that etcd still answers, besides the
/// HTTP/2 keepalive: a partition can leave a watch open and silent.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// A running membership watcher; dropping it stops the tasks.
pub struct MembershipWatcher {
    view: watch::Receiver<Arc<MembershipView>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for MembershipWatcher {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl MembershipWatcher {
    /// Starts watching every group. Must be called inside a tokio runtime.
    pub fn start(groups: &[Group], etcd: &EtcdAccess) -> Self {
        let initial = MembershipView {
            groups: groups
                .iter()
                .map(|g| GroupView {
                    clusters: g.clusters.clone(),
                    endpoints: g.endpoints.clone(),
                    status: GroupStatus::Connecting,
                    workers: BTreeMap::new(),
                })
                .collect(),
        };
        let (tx, view) = watch::channel(Arc::new(initial));
        let tx = Arc::new(tx);
        let tasks = groups
            .iter()
            .enumerate()
            .map(|(index, group)| {
                let target = EtcdTarget::new(&group.endpoints, etcd);
                tokio::spawn(follow_group(
                    tx.clone(),
                    index,
                    group.clusters.clone(),
                    target,
                ))
            })
            .collect();
        Self { view, tasks }
    }

    /// The view, updated on every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MembershipView>> {
        self.view.clone()
    }

    /// Waits until every group has been reached or has failed once, up to `limit`.
    pub async fn settled(&self, limit: Duration) -> Arc<MembershipView> {
        let mut view = self.view.clone();
        let _ = tokio::time::timeout(limit, view.wait_for(|v| v.settled())).await;
        view.borrow().clone()
    }
}

type ViewSender = Arc<watch::Sender<Arc<MembershipView>>>;

fn update_group(tx: &ViewSender, index: usize, change: impl FnOnce(&mut GroupView)) {
    tx.send_modify(|view| change(&mut Arc::make_mut(view).groups[index]));
}

async fn follow_group(tx: ViewSender, index: usize, clusters: Vec<String>, target: EtcdTarget) {
    let mut backoff = Backoff::default();
    loop {
        let error = watch_round(&tx, index, &clusters, &target, &mut backoff)
            .await
            .to_string();
        tracing::warn!(etcd = %target.describe(), clusters = ?clusters, %error, "membership watch lost; keeping the last known workers");
        update_group(&tx, index, |group| {
            group.status = match &group.status {
                GroupStatus::Live => GroupStatus::Stale {
                    since_ms: now_ms(),
                    error,
                },
                GroupStatus::Stale { since_ms, .. } => GroupStatus::Stale {
                    since_ms: *since_ms,
                    error,
                },
                _ => GroupStatus::Unreachable { error },
            };
        });
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// One connection's worth of following: full read, then watch until an error.
async fn watch_round(
    tx: &ViewSender,
    index: usize,
    clusters: &[String],
    target: &EtcdTarget,
    backoff: &mut Backoff,
) -> EtcdError {
    let mut client = match target.connect().await {
        Ok(client) => client,
        Err(e) => return e,
    };
    let prefixes: Vec<String> = clusters.iter().map(|c| workers_prefix(c)).collect();
    let read = Txn::new().and_then(
        prefixes
            .iter()
            .map(|p| TxnOp::get(p.as_str(), Some(GetOptions::new().with_prefix())))
            .collect::<Vec<_>>(),
    );
    let response = match timed("read workers", client.txn(read)).await {
        Ok(response) => response,
        Err(e) => return e,
    };
    let revision = response.header().map_or(0, |h| h.revision());
    let mut workers = BTreeMap::new();
    for op in response.op_responses() {
        if let TxnOpResponse::Get(get) = op {
            for kv in get.kvs() {
                if let Some(record) = parse_record(kv.key(), kv.value()) {
                    workers.insert(String::from_utf8_lossy(kv.key()).into_owned(), record);
                }
            }
        }
    }
    update_group(tx, index, |group| {
        group.workers = workers;
        group.status = GroupStatus::Live;
    });
    backoff.reset();

    let options = || {
        Some(
            WatchOptions::new()
                .with_prefix()
                .with_start_revision(revision + 1),
        )
    };
    let mut stream = match timed("watch", client.watch(prefixes[0].as_str(), options())).await {
        Ok(stream) => stream,
        Err(e) => return e,
    };
    for prefix in &prefixes[1..] {
        if let Err(e) = timed("watch", stream.watch(prefix.as_str(), options())).await {
            return e;
        }
    }
    let mut probe = tokio::time::interval(PROBE_INTERVAL);
    probe.tick().await;
    loop {
        tokio::select! {
            message = stream.message() => {
                let response = match message {
                    Ok(Some(response)) => response,
                    Ok(None) => return EtcdError::Ended("watch stream closed by etcd".into()),
                    Err(source) => return EtcdError::Request { what: "watch", source },
                };
                if response.canceled() {
                    // Compaction overtook us: the next round re-reads everything.
                    return EtcdError::Ended(format!("watch canceled by etcd: {}", response.cancel_reason()));
                }
                if response.events().is_empty() {
                    continue;
                }
                update_group(tx, index, |group| {
                    for event in response.events() {
                        let Some(kv) = event.kv() else { continue };
                        let key = String::from_utf8_lossy(kv.key()).into_owned();
                        match event.event_type() {
                            EventType::Put => match parse_record(kv.key(), kv.value()) {
                                Some(record) => { group.workers.insert(key, record); }
                                None => { group.workers.remove(&key); }
                            },
                            EventType::Delete => { group.workers.remove(&key); }
                        }
                    }
                    group.status = GroupStatus::Live;
                });
            }
            _ = probe.tick() => {
                if let Err(e) = timed("probe", client.status()).await {
                    return e;
                }
            }
        }
    }
}

/// Parses a membership value; a value that is not a worker record is logged
/// and left out rather than breaking the view.
fn parse_record(key: &[u8], value: &[u8]) -> Option<WorkerRecord> {
    match serde_json::from_slice(value) {
        Ok(record) => Some(record),
        Err(e) => {
            tracing::warn!(key = %String::from_utf8_lossy(key), error = %e, "ignoring a membership entry that is not a worker record");
            None
        }
    }
}
