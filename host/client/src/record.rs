//! Step 4 of a read, alongside the others: recording it. One recorder per
//! read feeds both what the read tells (its [`Explain`], for `--explain` and
//! tests) and the client's counters, so the two cannot disagree.

use std::sync::{Mutex, MutexGuard};

use azimuth_cluster::config;
use azimuth_policy::{CacheState, Source};

use crate::ReadError;
use crate::explain::{Attempt, Explain, ExplainedCandidate};
use crate::read::attempt::Attempted;
use crate::read::plan::ReadPlan;
use crate::stats::Counters;

/// Records one read.
pub(crate) struct Recorder<'a> {
    story: &'a Mutex<Explain>,
    counters: &'a Counters,
}

fn cache_name(state: CacheState) -> &'static str {
    match state {
        CacheState::Unknown => "unknown",
        CacheState::None => "none",
        CacheState::Partial => "partial",
        CacheState::Full => "full",
    }
}

impl<'a> Recorder<'a> {
    pub(crate) fn new(story: &'a Mutex<Explain>, counters: &'a Counters) -> Self {
        Self { story, counters }
    }

    fn story(&self) -> MutexGuard<'_, Explain> {
        self.story.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The candidates, the policy and its plan.
    pub(crate) fn planned(&self, plan: &ReadPlan) {
        let mut s = self.story();
        s.candidates = plan
            .replicas
            .iter()
            .zip(&plan.candidates)
            .map(|(r, c)| ExplainedCandidate {
                worker: r.id.clone(),
                cluster: r.cluster.clone(),
                zone: r.zone.clone(),
                address: r.http_address(),
                local: c.local,
                cache: cache_name(c.cache),
                cached_bytes: c.cached_bytes,
                healthy: c.healthy,
            })
            .collect();
        s.policy = plan.policy.to_string();
        s.policy_fallback = plan.fallback.as_ref().map(ToString::to_string);
        s.plan = plan.sources.iter().map(|&src| plan.name(src)).collect();
        s.passive_cache_to = plan
            .passive_cache_to
            .map(|i| plan.replicas[i as usize].id.clone());
    }

    /// One attempt and how it ended; bytes from another zone count as
    /// crossing zones whether or not the attempt finished the read.
    pub(crate) fn attempted(&self, plan: &ReadPlan, source: Source, attempt: &Attempted) {
        if plan.crosses_zones(source) {
            self.counters.crossed_zones(attempt.bytes);
        }
        let mut s = self.story();
        s.attempts.push(Attempt {
            source: match source {
                Source::Worker(_) => format!("worker {}", plan.name(source)),
                Source::Ufs => plan.name(source),
            },
            outcome: match &attempt.result {
                Ok(()) => "served".to_owned(),
                Err(e) => e.describe(),
            },
            bytes: attempt.bytes,
            then: None,
        });
        s.bytes += attempt.bytes;
    }

    /// What the read does after the last attempt failed.
    pub(crate) fn then(&self, what: String, went_on: bool) {
        if went_on {
            self.counters.failed_over();
        }
        if let Some(last) = self.story().attempts.last_mut() {
            last.then = Some(what);
        }
    }

    /// The read is done: `source` delivered its last byte.
    pub(crate) fn served(&self, plan: &ReadPlan, source: Source) {
        let mut s = self.story();
        self.counters.served(plan.tier(source), s.bytes);
        s.served_by = s.attempts.last().map(|a| a.source.clone());
    }

    /// The read failed: no source could serve the rest of it.
    pub(crate) fn exhausted(&self, plan: &ReadPlan) -> ReadError {
        self.counters.failed();
        let s = self.story();
        let mut tried: Vec<String> = s
            .attempts
            .iter()
            .map(|a| format!("{} ({})", a.source, a.outcome))
            .collect();
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
