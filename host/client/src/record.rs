//! Step 4 of a read, alongside the others: recording it. One recorder per
//! read feeds both what the read tells (its [`Explain`], for `--explain` and
//! tests) and the client's counters, so the two cannot disagree.
//!
//! Telling the story costs a few allocations per read (names, addresses);
//! a reader that never looks at it (a gateway serving thousands of reads a
//! second) reads with [`ReadOptions::quiet`](crate::ReadOptions::quiet), and
//! only the counters and what a failure must say are kept.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use azimuth_cluster::config;
use azimuth_policy::{CacheState, Source};

use crate::ReadError;
use crate::explain::{Attempt, Explain, ExplainedCandidate};
use crate::read::attempt::{Attempted, SourceError};
use crate::read::plan::ReadPlan;
use crate::stats::Counters;

/// Records one read.
pub(crate) struct Recorder<'a> {
    /// The story, unless the read is quiet.
    story: Option<&'a Mutex<Explain>>,
    counters: &'a Counters,
    /// Bytes delivered so far.
    delivered: AtomicU64,
    /// Each failed attempt, `source (outcome)`: what the error lists.
    failures: Mutex<Vec<String>>,
}

fn cache_name(state: CacheState) -> &'static str {
    match state {
        CacheState::Unknown => "unknown",
        CacheState::None => "none",
        CacheState::Partial => "partial",
        CacheState::Full => "full",
    }
}

/// How the story names a source.
fn source_name(plan: &ReadPlan, source: Source) -> String {
    match source {
        Source::Worker(_) => format!("worker {}", plan.name(source)),
        Source::Ufs => plan.name(source),
    }
}

impl<'a> Recorder<'a> {
    /// A recorder telling `story` (none: a quiet read) and counting in `counters`.
    pub(crate) fn new(story: Option<&'a Mutex<Explain>>, counters: &'a Counters) -> Self {
        Self {
            story,
            counters,
            delivered: AtomicU64::new(0),
            failures: Mutex::default(),
        }
    }

    fn story(&self) -> Option<MutexGuard<'_, Explain>> {
        self.story
            .map(|story| story.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The candidates, the policy and its plan.
    pub(crate) fn planned(&self, plan: &ReadPlan) {
        let Some(mut s) = self.story() else {
            return;
        };
        s.candidates = plan
            .replicas
            .iter()
            .zip(&plan.candidates)
            .map(|(r, c)| ExplainedCandidate {
                worker: r.record.id.clone(),
                cluster: r.record.cluster.clone(),
                zone: r.record.zone.clone(),
                address: r.address.clone(),
                local: c.local,
                cache: cache_name(c.cache),
                cached_bytes: c.cached_bytes,
                healthy: c.healthy,
            })
            .collect();
        // Sized first: written piece by piece, the string would grow four times.
        let id = &plan.policy;
        let mut policy = String::with_capacity(id.origin.len() + id.sha256.len() + 10);
        let _ = write!(policy, "{id}");
        s.policy = policy;
        s.policy_fallback = plan.fallback.as_ref().map(ToString::to_string);
        s.plan = plan.sources.iter().map(|&src| plan.name(src)).collect();
        s.passive_cache_to = plan
            .passive_cache_to
            .map(|i| plan.replicas[i as usize].record.id.clone());
    }

    /// One attempt and how it ended; bytes from another zone count as
    /// crossing zones whether or not the attempt finished the read.
    pub(crate) fn attempted(&self, plan: &ReadPlan, source: Source, attempt: &Attempted) {
        if plan.crosses_zones(source) {
            self.counters.crossed_zones(attempt.bytes);
        }
        self.delivered.fetch_add(attempt.bytes, Ordering::Relaxed);
        let outcome = match &attempt.result {
            Ok(()) => None,
            Err(e) => {
                let outcome = e.describe();
                self.failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{} ({outcome})", source_name(plan, source)));
                Some(outcome)
            }
        };
        if let Some(mut s) = self.story() {
            s.attempts.push(Attempt {
                source: source_name(plan, source),
                outcome: outcome.unwrap_or_else(|| "served".to_owned()),
                bytes: attempt.bytes,
                then: None,
            });
            s.bytes += attempt.bytes;
        }
    }

    /// What the read does after the last attempt failed.
    pub(crate) fn then(&self, what: String, went_on: bool) {
        if went_on {
            self.counters.failed_over();
        }
        if let Some(mut s) = self.story()
            && let Some(last) = s.attempts.last_mut()
        {
            last.then = Some(what);
        }
    }

    /// The read is done: `source` delivered its last byte.
    pub(crate) fn served(&self, plan: &ReadPlan, source: Source) {
        self.counters
            .served(plan.tier(source), self.delivered.load(Ordering::Relaxed));
        if let Some(mut s) = self.story() {
            s.served_by = s.attempts.last().map(|a| a.source.clone());
        }
    }

    /// The read failed: no source could serve the rest of it.
    /// The read ends because its request was refused as invalid.
    pub(crate) fn rejected(&self, plan: &ReadPlan, error: &SourceError) -> ReadError {
        self.counters.failed();
        ReadError::Rejected {
            path: plan.path.clone(),
            why: error.message.clone(),
        }
    }

    pub(crate) fn exhausted(&self, plan: &ReadPlan) -> ReadError {
        self.counters.failed();
        let mut tried =
            std::mem::take(&mut *self.failures.lock().unwrap_or_else(|e| e.into_inner()));
        if tried.is_empty() {
            tried.push("nothing: no healthy worker holds it".into());
        }
        if !plan.request.ufs_fallback {
            tried.push(format!("not the UFS ({}=false)", config::UFS_FALLBACK));
        }
        ReadError::Exhausted {
            path: plan.path.clone(),
            tried: tried.join("; "),
        }
    }
}
