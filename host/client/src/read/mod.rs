//! The read path, as the steps a read takes:
//!
//! 1. [`plan`]: the file's replicas become candidates; the policy orders them.
//! 2. [`attempt`]: the first source is read, from the first byte not yet
//!    delivered.
//! 3. On a failure, the policy says what next (unless the request itself
//!    was at fault, which ends the read: every source would refuse it) ([`retry`] holds the host's
//!    ceilings on its retries), and step 2 goes on with the next source or
//!    the same one again, from the exact byte where the failed one stopped.
//! 4. Every step is recorded (`record`): the read's story and the counters.
//!
//! A success by a worker of another cluster leaves a passive replica in the
//! client's own (`passive`).

pub(crate) mod attempt;
pub(crate) mod plan;
mod retry;

use std::sync::Arc;

use azimuth_policy::{Failure, FailureKind, Source};

use self::attempt::{Blame, Sink};
use self::retry::{Cursor, Then};
use crate::record::Recorder;
use crate::{Inner, ReadError};

impl Inner {
    /// Reads `length` bytes of `path` from `offset` into `sink`, of version
    /// `etag` only when one is named.
    pub(crate) async fn read_into(
        self: &Arc<Self>,
        path: &str,
        offset: u64,
        length: Option<u64>,
        etag: Option<&str>,
        sink: &mut Sink<'_>,
        record: &Recorder<'_>,
    ) -> Result<(), ReadError> {
        // 1. Plan.
        let mut plan = self.plan(path, offset, length, etag).await;
        record.planned(&plan);
        let mut cursor = Cursor::new(plan.sources.clone(), self.settings.retry);
        let mut delivered = 0u64;
        while let Some(source) = cursor.current() {
            // 2. Attempt.
            let attempt = self.attempt(&plan, source, delivered, sink).await;
            delivered += attempt.bytes;
            // Bytes of one version are out: the rest must be of that
            // version too, or a file rewritten meanwhile would be served
            // half old, half new. Sources with another version are skipped.
            if plan.etag.is_none() && attempt.bytes > 0 {
                plan.etag = attempt.version.clone();
            }
            record.attempted(&plan, source, &attempt);
            let error = match attempt.result {
                Ok(()) => {
                    record.served(&plan, source);
                    self.leave_passive_replica(&plan, source);
                    return Ok(());
                }
                Err(error) => error,
            };
            if sink.is_closed() {
                return Ok(()); // The reader went away.
            }
            match error.blame {
                // No source would take it: end here, everyone healthy.
                Blame::Request => return Err(record.rejected(&plan, &error)),
                Blame::Credentials => {}
                Blame::Source => self.source_failed(&plan, source, error.kind),
            }
            // 3. Ask the policy, within the host's ceilings.
            plan.request.attempt += 1;
            let failure = Failure {
                source,
                kind: error.kind,
                retries: cursor.retries(),
                delivered,
            };
            let step = self
                .engine
                .failover(&plan.request, &plan.candidates, &failure)
                .value;
            match cursor.after_failure(step) {
                (Then::Retry(wait), _) => {
                    record.then(format!("retry after {} ms", wait.as_millis()), false);
                    tokio::time::sleep(wait).await;
                }
                (Then::Next, capped) => {
                    let what = match capped {
                        Some(limit) => format!("next source ({limit} is reached)"),
                        None => "next source".to_owned(),
                    };
                    record.then(what, cursor.current().is_some());
                }
                (Then::Stop, _) => {
                    record.then("give up (the policy's answer)".to_owned(), false);
                    break;
                }
            }
        }
        Err(record.exhausted(&plan))
    }

    /// What the client learns from a failed attempt: a worker that failed
    /// (anything but a 404, which says the file is missing, not the worker)
    /// is unhealthy, and what a probe said of it is forgotten.
    fn source_failed(&self, plan: &plan::ReadPlan, source: Source, kind: FailureKind) {
        if let Some(worker) = plan.worker(source)
            && kind != FailureKind::NotFound
        {
            self.health.failed(&worker.record);
            self.probes.forget(&worker.record.id, &plan.path);
        }
    }
}
