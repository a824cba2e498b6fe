//! What this client knows of each worker from its own reads: which failed
//! recently, and how fast each answers.
//!
//! A worker that fails a read is unhealthy: policies see `healthy: false`
//! and leave it out, so later reads do not pay for the failure again. It is
//! not trusted again on a timer alone: once its pause is over, a background
//! probe (`HealthWatch`) asks it for `/healthz` — half-open — and only an
//! answer makes it healthy. A probe that fails doubles the pause (1 s up to
//! 30 s); more reads failing while it is down do not. A good read also
//! makes a worker healthy. A worker that leaves membership is forgotten; one
//! that comes back at another address (a restart on a new port, a new pod
//! IP) is probed there at once, never at the address it failed at.
//!
//! Latency is the time to the first byte of a response (reads and probes),
//! smoothed (EWMA, weight 1/4 to the newest sample); policies see it as
//! `rtt_us`, 0 while nothing was measured.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use azimuth_cluster::membership::{MembershipView, WorkerRecord};
use tokio::sync::watch;

use crate::WorkerMap;
use crate::worker_api::WorkerApi;

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Down {
    until: Instant,
    failures: u32,
}

#[derive(Debug, Default)]
struct Known {
    down: WorkerMap<Down>,
    rtt_us: WorkerMap<u32>,
}

/// Failure records and latencies by worker id.
#[derive(Debug, Default)]
pub struct Health {
    known: Mutex<Known>,
}

impl Health {
    /// Whether `worker` is trusted (it has not failed, or has answered
    /// since), and its smoothed time to first byte in µs (0: never
    /// measured): what a candidate tells the policy, under one lock.
    pub fn of(&self, worker: &str) -> (bool, u32) {
        let known = self.lock();
        (
            // Nearly always nobody is down: no need to hash the id for it.
            known.down.is_empty() || !known.down.contains_key(worker),
            known.rtt_us.get(worker).copied().unwrap_or(0),
        )
    }

    /// Records a failed read from `worker`. Returns true when it was healthy
    /// until now, so that the caller starts one background probe. Reads
    /// that fail while it is down (say, eight readers that met it at once)
    /// do not lengthen its pause: only failed probes do.
    pub fn failed(&self, worker: &str) -> bool {
        let mut known = self.lock();
        if known.down.contains_key(worker) {
            return false;
        }
        known.down.insert(
            worker.to_owned(),
            Down {
                until: Instant::now() + FIRST_PAUSE,
                failures: 1,
            },
        );
        true
    }

    /// Records a failed probe of `worker`: its pause doubles (up to 30 s).
    pub fn probe_failed(&self, worker: &str) {
        let mut known = self.lock();
        let entry = known.down.entry(worker.to_owned()).or_insert(Down {
            until: Instant::now(),
            failures: 0,
        });
        entry.failures += 1;
        let pause = FIRST_PAUSE
            .saturating_mul(1 << (entry.failures - 1).min(5))
            .min(LONGEST_PAUSE);
        entry.until = Instant::now() + pause;
    }

    /// When the next probe of `worker` is due; `None` if it is healthy.
    pub fn probe_due(&self, worker: &str) -> Option<Instant> {
        self.lock().down.get(worker).map(|d| d.until)
    }

    /// Records an answer from `worker` that took `first_byte` to arrive.
    pub fn succeeded(&self, worker: &str, first_byte: Duration) {
        let sample = u32::try_from(first_byte.as_micros())
            .unwrap_or(u32::MAX)
            .max(1);
        let mut known = self.lock();
        if !known.down.is_empty() {
            known.down.remove(worker);
        }
        // Every read lands here: a worker seen before costs no allocation.
        match known.rtt_us.get_mut(worker) {
            Some(rtt) => *rtt = ((u64::from(*rtt) * 3 + u64::from(sample)) / 4) as u32,
            None => {
                known.rtt_us.insert(worker.to_owned(), sample);
            }
        }
    }

    /// Forgets `worker` (it left membership).
    pub fn forget(&self, worker: &str) {
        let mut known = self.lock();
        known.down.remove(worker);
        known.rtt_us.remove(worker);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A client's health records and the probes that restore trust in failed
/// workers.
pub(crate) struct HealthWatch {
    /// The records; probes hold them weakly, so they end with the client.
    pub(crate) records: Arc<Health>,
    api: WorkerApi,
    view: watch::Receiver<Arc<MembershipView>>,
    /// How long a probe waits for `/healthz`.
    timeout: Duration,
}

impl HealthWatch {
    /// Health records for the workers of `view`, probed through `api`.
    pub(crate) fn new(
        api: WorkerApi,
        view: watch::Receiver<Arc<MembershipView>>,
        timeout: Duration,
    ) -> Self {
        Self {
            records: Arc::default(),
            api,
            view,
            timeout,
        }
    }

    /// Records that `worker` failed a read; the first failure starts a
    /// background probe that trusts it again once it answers `/healthz`, or
    /// forgets it once it leaves membership.
    pub(crate) fn failed(&self, worker: &WorkerRecord) {
        if !self.records.failed(&worker.id) {
            return;
        }
        tracing::info!(worker = %worker.id, "worker failed a read; left out until it answers a probe");
        let health: Weak<Health> = Arc::downgrade(&self.records);
        let (api, mut view, timeout) = (self.api.clone(), self.view.clone(), self.timeout);
        let id = worker.id.clone();
        let mut probed = worker.http_address();
        tokio::spawn(async move {
            loop {
                let Some(due) = health.upgrade().and_then(|h| h.probe_due(&id)) else {
                    return; // Healthy again through a read, or the client is gone.
                };
                // Woken early by membership: a worker that comes back at
                // another address (restarted on a new port, a new pod IP)
                // is a new process, probed at once rather than after a
                // pause earned by the old one.
                let view_changed = tokio::select! {
                    () = tokio::time::sleep_until(due.into()) => false,
                    changed = view.changed() => changed.is_ok(),
                };
                let Some(health) = health.upgrade() else {
                    return;
                };
                let current = view
                    .borrow()
                    .workers()
                    .find(|w| w.id == id)
                    .map(WorkerRecord::http_address);
                let Some(address) = current else {
                    tracing::info!(worker = %id, "worker left membership; forgotten");
                    health.forget(&id);
                    return;
                };
                if view_changed && address == probed && Instant::now() < due {
                    continue;
                }
                probed = address;
                let started = Instant::now();
                match api.healthz(&probed, timeout).await {
                    Ok(()) => {
                        tracing::info!(worker = %id, "worker answers again; trusted again");
                        health.succeeded(&id, started.elapsed());
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(worker = %id, error = %e, "health probe failed");
                        health.probe_failed(&id);
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_worker_stays_unhealthy_past_its_pause_until_it_answers() {
        let health = Health::default();
        assert!(health.of("w1").0);
        assert!(health.failed("w1"), "the first failure starts a probe");
        let due = health.probe_due("w1").unwrap();
        assert!(!health.failed("w1"), "later ones do not start another");
        assert_eq!(health.probe_due("w1"), Some(due), "nor lengthen the pause");
        assert!(!health.of("w1").0);
        assert!(health.of("w2").0);
        health.lock().down.get_mut("w1").unwrap().until = Instant::now();
        assert!(!health.of("w1").0, "a timer alone does not restore trust");
        health.succeeded("w1", Duration::from_micros(300));
        assert!(health.of("w1").0);
        assert!(health.probe_due("w1").is_none());
    }

    #[test]
    fn pauses_double_with_failed_probes_up_to_the_longest() {
        let health = Health::default();
        health.failed("w1");
        for _ in 0..10 {
            health.probe_failed("w1");
        }
        let pause = health.probe_due("w1").unwrap() - Instant::now();
        assert!(pause > Duration::from_secs(29) && pause <= LONGEST_PAUSE);
    }

    #[test]
    fn latency_is_a_smoothed_time_to_first_byte() {
        let health = Health::default();
        assert_eq!(health.of("w1"), (true, 0));
        health.succeeded("w1", Duration::from_micros(400));
        assert_eq!(health.of("w1"), (true, 400));
        health.succeeded("w1", Duration::from_micros(800));
        assert_eq!(health.of("w1"), (true, 500));
        health.forget("w1");
        assert_eq!(health.of("w1"), (true, 0));
    }
}
