//! Where files live for one view of membership: each visible cluster's hash
//! ring and workers, the client's own cluster first. Built once per view
//! change, not per read (a ring is 160 SHA-256 points per worker).

use std::sync::{Arc, Mutex};

use azimuth_cluster::membership::{MembershipView, WorkerRecord};
use tokio::sync::watch;

use crate::ring::HashRing;

/// The rings of one membership view.
pub(crate) struct Placement {
    view: Arc<MembershipView>,
    /// Each cluster's ring and workers; the client's own cluster is index 0.
    /// Shared, so that a read's plan holds its candidates without copying
    /// their records.
    pub(crate) clusters: Vec<(HashRing, Vec<Arc<WorkerRecord>>)>,
}

impl Placement {
    fn new(view: Arc<MembershipView>, own_cluster: &str) -> Self {
        let mut order: Vec<&str> = vec![own_cluster];
        for cluster in view.groups.iter().flat_map(|g| &g.clusters) {
            if !order.contains(&cluster.as_str()) {
                order.push(cluster);
            }
        }
        let clusters = order
            .iter()
            .map(|cluster| {
                let records: Vec<Arc<WorkerRecord>> = view
                    .workers()
                    .filter(|r| r.cluster == *cluster)
                    .map(|r| Arc::new(r.clone()))
                    .collect();
                (
                    HashRing::new(records.iter().map(|r| r.id.as_str())),
                    records,
                )
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
    ) -> impl Iterator<Item = (usize, &Arc<WorkerRecord>)> {
        self.clusters
            .iter()
            .enumerate()
            .flat_map(move |(index, (ring, records))| {
                ring.replicas(path, replicas).into_iter().map(move |id| {
                    let record = records.iter().find(|r| r.id == id).expect("on the ring");
                    (index, record)
                })
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
            _ => {
                let placement = Arc::new(Placement::new(view, &self.own_cluster));
                *current = Some(placement.clone());
                placement
            }
        }
    }
}
