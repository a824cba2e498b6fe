//! Passive caching: when a worker of another cluster serves a read and the
//! policy names a local target, the target is asked (`POST /load`) to cache
//! the file, in the background; the read never waits for it.
//!
//! The target copies from the UFS, not from the remote worker: the UFS holds
//! the version of record (the worker checks the ETag, so it cannot cache a
//! stale copy), its availability does not depend on the remote zone that may
//! be failing, and the remote worker is spared a second full read while it
//! serves clients. Concurrent triggers for one file are merged here (one
//! request in flight per target and file) and again in the worker (one load
//! per file).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use azimuth_policy::Source;

use crate::Inner;
use crate::placement::Member;
use crate::probes::CacheProbes;
use crate::read::plan::ReadPlan;
use crate::worker_api::WorkerApi;

/// Passive loads in flight, by (target worker, path).
#[derive(Default)]
pub(crate) struct InFlight(Mutex<HashSet<(String, String)>>);

impl InFlight {
    /// Marks the load as in flight; false if it already was.
    fn start(&self, key: &(String, String)) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone())
    }

    fn end(&self, key: &(String, String)) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

impl Inner {
    /// After `source` finished the read: if it is a worker of another
    /// cluster and the policy named a local target, asks the target to load
    /// the file.
    pub(crate) fn leave_passive_replica(&self, plan: &ReadPlan, source: Source) {
        let Some(target) = plan.passive_cache_to else {
            return;
        };
        if matches!(source, Source::Worker(_)) && plan.crosses_zones(source) {
            load_in_background(
                &self.passive,
                &self.api,
                &self.probes,
                &plan.replicas[target as usize],
                &plan.path,
            );
        }
    }
}

/// Asks `target` to cache `path`, in the background, once at a time.
fn load_in_background(
    in_flight: &Arc<InFlight>,
    api: &WorkerApi,
    probes: &Arc<CacheProbes>,
    target: &Member,
    path: &str,
) {
    let key = (target.record.id.clone(), path.to_owned());
    if !in_flight.start(&key) {
        return;
    }
    let (in_flight, api, probes) = (in_flight.clone(), api.clone(), probes.clone());
    let address = target.address.clone();
    tokio::spawn(async move {
        match api.load(&address, &key.1).await {
            // What probes said of the target is out of date now.
            Ok(_) => probes.forget(&key.0, &key.1),
            Err(error) => tracing::warn!(
                worker = %key.0,
                path = %key.1,
                %error,
                "passive cache load failed"
            ),
        }
        in_flight.end(&key);
    });
}
