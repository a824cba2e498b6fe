//! The multi-cluster membership view every host reads: per group of
//! clusters, the live workers and whether that knowledge is current.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::record::WorkerRecord;

/// Whether a group's worker list is current.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum GroupStatus {
    /// Not reached yet.
    Connecting,
    /// Watching etcd: the list is current.
    Live,
    /// etcd was reached before and is not now: the last known list is kept.
    Stale {
        /// When the list stopped being current (ms since the Unix epoch).
        since_ms: u64,
        /// The last error.
        error: String,
    },
    /// etcd has never been reached: no list.
    Unreachable {
        /// The last error.
        error: String,
    },
    /// A fixed list from a file (STATIC membership).
    Static,
}

/// One group of clusters sharing an etcd (or the static list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupView {
    /// The clusters of the group.
    pub clusters: Vec<String>,
    /// Its etcd endpoints (empty for STATIC).
    pub endpoints: Vec<String>,
    /// Whether the list is current.
    pub status: GroupStatus,
    /// The live workers, keyed by etcd key (cluster, then id order).
    #[serde(serialize_with = "values_only")]
    pub workers: BTreeMap<String, WorkerRecord>,
}

fn values_only<S: serde::Serializer>(
    map: &BTreeMap<String, WorkerRecord>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(map.values())
}

/// Every group this host sees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MembershipView {
    /// The groups, in topology order.
    pub groups: Vec<GroupView>,
}

impl MembershipView {
    /// Every known worker, group by group.
    pub fn workers(&self) -> impl Iterator<Item = &WorkerRecord> {
        self.groups.iter().flat_map(|g| g.workers.values())
    }

    /// True once no group is still connecting.
    pub fn settled(&self) -> bool {
        self.groups
            .iter()
            .all(|g| g.status != GroupStatus::Connecting)
    }
}

impl GroupStatus {
    /// How long the list has been stale, if it is.
    pub fn stale_for(&self) -> Option<Duration> {
        match self {
            GroupStatus::Stale { since_ms, .. } => {
                let since = SystemTime::UNIX_EPOCH + Duration::from_millis(*since_ms);
                Some(SystemTime::now().duration_since(since).unwrap_or_default())
            }
            _ => None,
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
