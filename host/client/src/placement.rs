//! Where files live for one view of membership: each visible cluster's hash
//! ring and workers, the client's own cluster first. Built once per view
//! change, not per read; a ring (160 SHA-256 points per worker) only when
//! its cluster's members change, not when a member's record does (workers
//! republish theirs as their cache fills).

use std::sync::{Arc, Mutex};

use azimuth_cluster::membership::{MembershipView, WorkerRecord};
use tokio::sync::watch;

use crate::ring::HashRing;

/// A worker as reads meet it: its record, and the address of its API,
/// written out once per view rather than on every read that names it.
pub(crate) struct Member {
    pub(crate) record: WorkerRecord,
    pub(crate) address: String,
}

/// One cluster of a view: its ring, and its members in the ring's order
/// (`HashRing::workers`), so that a replica's index is its member's.
pub(crate) struct ClusterPlacement {
    pub(crate) ring: Arc<HashRing>,
    /// Shared, so that a read's plan holds its candidates without copying
    /// their records.
    pub(crate) members: Vec<Arc<Member>>,
}

impl ClusterPlacement {
    /// The `n` members (fewer if the cluster is smaller) holding the file
    /// at `at` (`HashRing::point_of`), primary first.
    pub(crate) fn replicas(&self, at: u64, n: usize) -> impl Iterator<Item = &Arc<Member>> {
        self.ring
            .replicas_at(at, n)
            .into_iter()
            .map(|index| &self.members[index])
    }
}

/// The rings of one membership view.
pub(crate) struct Placement {
    view: Arc<MembershipView>,
    /// Each cluster; the client's own is index 0.
    pub(crate) clusters: Vec<ClusterPlacement>,
}

impl Placement {
    /// The placement of `view`, taking the rings of `before` whose
    /// clusters kept the same members.
    fn new(view: Arc<MembershipView>, own_cluster: &str, before: Option<&Placement>) -> Self {
        let mut order: Vec<&str> = vec![own_cluster];
        for cluster in view.groups.iter().flat_map(|g| &g.clusters) {
            if !order.contains(&cluster.as_str()) {
                order.push(cluster);
            }
        }
        let clusters = order
            .iter()
            .map(|cluster| {
                let records: Vec<&WorkerRecord> =
                    view.workers().filter(|r| r.cluster == *cluster).collect();
                let mut ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
                ids.sort_unstable();
                ids.dedup();
                let ring = before
                    .into_iter()
                    .flat_map(|b| &b.clusters)
                    .map(|c| &c.ring)
                    .find(|ring| {
                        ring.workers()
                            .iter()
                            .map(String::as_str)
                            .eq(ids.iter().copied())
                    })
                    .cloned()
                    .unwrap_or_else(|| Arc::new(HashRing::new(ids.iter().copied())));
                let members = ring
                    .workers()
                    .iter()
                    .map(|id| {
                        let record = records.iter().find(|r| r.id == *id).expect("a member");
                        Arc::new(Member {
                            address: record.http_address(),
                            record: (*record).clone(),
                        })
                    })
                    .collect();
                ClusterPlacement { ring, members }
            })
            .collect();
        Self { view, clusters }
    }

    /// The `replicas` workers of `path` in each cluster, cluster by cluster
    /// (the client's first), each with the index of its cluster.
    pub(crate) fn replicas(
        &self,
        path: &str,
        replicas: usize,
    ) -> impl Iterator<Item = (usize, &Arc<Member>)> {
        let at = HashRing::point_of(path);
        self.clusters
            .iter()
            .enumerate()
            .flat_map(move |(index, cluster)| {
                cluster
                    .replicas(at, replicas)
                    .map(move |member| (index, member))
            })
    }
}

/// The placement of the current view, rebuilt only when the view changes.
pub(crate) struct Placements {
    own_cluster: String,
    view: watch::Receiver<Arc<MembershipView>>,
    current: Mutex<Option<Arc<Placement>>>,
}

impl Placements {
    pub(crate) fn new(own_cluster: &str, view: watch::Receiver<Arc<MembershipView>>) -> Self {
        Self {
            own_cluster: own_cluster.to_owned(),
            view,
            current: Mutex::default(),
        }
    }

    /// The placement for the view now.
    pub(crate) fn now(&self) -> Arc<Placement> {
        let view = self.view.borrow().clone();
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some(p) if Arc::ptr_eq(&p.view, &view) => p.clone(),
            before => {
                let placement =
                    Arc::new(Placement::new(view, &self.own_cluster, before.as_deref()));
                *current = Some(placement.clone());
                placement
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use azimuth_cluster::membership::{GroupStatus, GroupView, Ports};

    use super::*;

    fn record(cluster: &str, id: &str, port: u16, used_bytes: u64) -> WorkerRecord {
        WorkerRecord {
            id: id.to_owned(),
            cluster: cluster.to_owned(),
            zone: format!("zone-{cluster}"),
            host: "127.0.0.1".to_owned(),
            ports: Ports { http: port },
            capacity_bytes: 1 << 30,
            used_bytes,
            start_time_ms: 0,
            version: String::new(),
            policy_sha256: None,
        }
    }

    fn view(records: &[WorkerRecord]) -> Arc<MembershipView> {
        let workers: BTreeMap<String, WorkerRecord> = records
            .iter()
            .map(|r| (format!("{}/{}", r.cluster, r.id), r.clone()))
            .collect();
        Arc::new(MembershipView {
            groups: vec![GroupView {
                clusters: vec!["a".to_owned(), "b".to_owned()],
                endpoints: Vec::new(),
                status: GroupStatus::Static,
                workers,
            }],
        })
    }

    #[test]
    fn a_record_update_keeps_the_rings_and_a_new_member_rebuilds_its_cluster_ring() {
        let first = view(&[
            record("a", "a2", 2, 0),
            record("a", "a1", 1, 0),
            record("b", "b1", 3, 0),
        ]);
        let before = Placement::new(first, "a", None);
        // Members are in the ring's order, with their addresses written out.
        let own = &before.clusters[0];
        assert_eq!(own.ring.workers(), ["a1", "a2"]);
        let ids: Vec<&str> = own.members.iter().map(|m| m.record.id.as_str()).collect();
        assert_eq!(ids, ["a1", "a2"]);
        assert_eq!(own.members[1].address, "127.0.0.1:2");

        // a1's cache filled: same members, so the same rings, with the new record.
        let refilled = view(&[
            record("a", "a2", 2, 0),
            record("a", "a1", 1, 4096),
            record("b", "b1", 3, 0),
        ]);
        let after = Placement::new(refilled, "a", Some(&before));
        assert!(Arc::ptr_eq(
            &after.clusters[0].ring,
            &before.clusters[0].ring
        ));
        assert!(Arc::ptr_eq(
            &after.clusters[1].ring,
            &before.clusters[1].ring
        ));
        assert_eq!(after.clusters[0].members[0].record.used_bytes, 4096);

        // b2 joined: b's ring is new and places files as one built from scratch does.
        let joined = view(&[
            record("a", "a2", 2, 0),
            record("a", "a1", 1, 4096),
            record("b", "b1", 3, 0),
            record("b", "b2", 4, 0),
        ]);
        let grown = Placement::new(joined, "a", Some(&after));
        assert!(Arc::ptr_eq(
            &grown.clusters[0].ring,
            &after.clusters[0].ring
        ));
        assert!(!Arc::ptr_eq(
            &grown.clusters[1].ring,
            &after.clusters[1].ring
        ));
        let fresh = HashRing::new(["b2", "b1"]);
        for i in 0..200 {
            let path = format!("data/part-{i}");
            let placed: Vec<&str> = grown
                .replicas(&path, 1)
                .map(|(_, m)| m.record.id.as_str())
                .collect();
            assert_eq!(placed[1], fresh.replicas(&path, 1)[0], "{path}");
        }
    }
}
