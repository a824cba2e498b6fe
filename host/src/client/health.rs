//! Which workers this client has seen fail, and when to trust them again.
//!
//! A worker that fails a read is unhealthy for a while: policies see
//! `healthy: false` and leave it out, so later reads do not pay for the
//! failure again. The while doubles with each consecutive failure (1 s up to
//! 30 s). When it runs out the worker is half-open: the next read may try it;
//! a success makes it healthy, a failure sends it back for longer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Down {
    until: Instant,
    failures: u32,
}

/// Failure records by worker id.
#[derive(Debug, Default)]
pub struct Health {
    down: Mutex<HashMap<String, Down>>,
}

impl Health {
    /// True unless `worker` failed recently.
    pub fn is_healthy(&self, worker: &str) -> bool {
        self.lock()
            .get(worker)
            .is_none_or(|d| Instant::now() >= d.until)
    }

    /// Records a failed read from `worker`.
    pub fn failed(&self, worker: &str) {
        let mut down = self.lock();
        let entry = down.entry(worker.to_owned()).or_insert(Down {
            until: Instant::now(),
            failures: 0,
        });
        entry.failures += 1;
        let pause = FIRST_PAUSE
            .saturating_mul(1 << (entry.failures - 1).min(5))
            .min(LONGEST_PAUSE);
        entry.until = Instant::now() + pause;
    }

    /// Records a good read from `worker`.
    pub fn succeeded(&self, worker: &str) {
        let mut down = self.lock();
        if !down.is_empty() {
            down.remove(worker);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Down>> {
        self.down.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_worker_is_unhealthy_until_its_pause_ends_or_it_succeeds() {
        let health = Health::default();
        assert!(health.is_healthy("w1"));
        health.failed("w1");
        assert!(!health.is_healthy("w1"));
        assert!(health.is_healthy("w2"));
        health.succeeded("w1");
        assert!(health.is_healthy("w1"));
    }

    #[test]
    fn pauses_double_with_consecutive_failures_up_to_the_longest() {
        let health = Health::default();
        for _ in 0..10 {
            health.failed("w1");
        }
        let until = health.lock()["w1"].until;
        let pause = until - Instant::now();
        assert!(pause > Duration::from_secs(29) && pause <= LONGEST_PAUSE);
    }
}
