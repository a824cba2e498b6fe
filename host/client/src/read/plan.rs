//! Step 1 of a read: its plan. The file's replicas in every visible cluster
//! become the candidates (with what the client knows of each: health,
//! latency, and with prefer-cached what probes say of its cache), and the
//! active policy orders them.

use std::sync::Arc;

use azimuth_policy::{CacheState, Candidate, FallbackReason, PolicyId, Request, Source};

use crate::Inner;
use crate::placement::Member;
use crate::stats::Tier;

/// What one read will try, in order, and what it was decided from.
pub(crate) struct ReadPlan {
    /// The UFS path read.
    pub(crate) path: String,
    /// First byte asked for.
    pub(crate) offset: u64,
    /// Bytes asked for; `None` to the end.
    pub(crate) length: Option<u64>,
    /// The only version (ETag) of the file this read may deliver bytes of.
    pub(crate) etag: Option<String>,
    /// The candidates' workers, in the order the policy saw them.
    pub(crate) replicas: Vec<Arc<Member>>,
    /// The candidates as the policy saw them.
    pub(crate) candidates: Vec<Candidate>,
    /// The request the policy ranked (failover decisions reuse it).
    pub(crate) request: Request,
    /// The sources in the policy's order.
    pub(crate) sources: Vec<Source>,
    /// The candidate to leave a passive replica on, if a remote one serves.
    pub(crate) passive_cache_to: Option<u32>,
    /// The policy that ranked, and why the active one did not, if it did not.
    pub(crate) policy: Arc<PolicyId>,
    pub(crate) fallback: Option<FallbackReason>,
}

impl ReadPlan {
    /// The worker of a worker source.
    pub(crate) fn worker(&self, source: Source) -> Option<&Member> {
        match source {
            Source::Worker(i) => self.replicas.get(i as usize).map(|w| &**w),
            Source::Ufs => None,
        }
    }

    /// A source as the story names it: the worker's id, or `ufs`.
    pub(crate) fn name(&self, source: Source) -> String {
        self.worker(source)
            .map_or_else(|| "ufs".to_owned(), |w| w.record.id.clone())
    }

    /// Whether bytes from `source` come from another zone.
    pub(crate) fn crosses_zones(&self, source: Source) -> bool {
        matches!(source, Source::Worker(i) if !self.candidates[i as usize].local)
    }

    /// The tier a read finished by `source` counts under.
    pub(crate) fn tier(&self, source: Source) -> Tier {
        let Source::Worker(i) = source else {
            return Tier::Ufs;
        };
        let candidate = &self.candidates[i as usize];
        match (candidate.local, candidate.cache == CacheState::Full) {
            (true, true) => Tier::LocalCached,
            (false, true) => Tier::RemoteCached,
            (true, false) => Tier::Local,
            (false, false) => Tier::Remote,
        }
    }
}

impl Inner {
    /// Plans a read of `length` bytes of `path` from `offset`, of version
    /// `etag` only when one is named.
    pub(crate) async fn plan(
        &self,
        path: &str,
        offset: u64,
        length: Option<u64>,
        etag: Option<&str>,
    ) -> ReadPlan {
        let placement = self.placements.now();
        // Sized for every cluster's share up front, rather than grown push
        // by push (what `unzip` did); bounded, as the cluster count is the
        // site's to set.
        let most = placement
            .clusters
            .len()
            .saturating_mul(self.settings.replicas)
            .min(1024);
        let mut replicas: Vec<Arc<Member>> = Vec::with_capacity(most);
        let mut candidates: Vec<Candidate> = Vec::with_capacity(most);
        for (cluster, member) in placement.replicas(path, self.settings.replicas) {
            let (healthy, rtt_us) = self.health.records.of(&member.record.id);
            candidates.push(Candidate {
                cached_bytes: 0,
                rtt_us,
                cluster: cluster.min(u8::MAX as usize) as u8,
                cache: CacheState::Unknown,
                local: cluster == 0,
                healthy,
            });
            replicas.push(member.clone());
        }
        let file_length = if self.settings.prefer_cached_replicas {
            self.probes.probe(path, &replicas, &mut candidates).await
        } else {
            None
        };
        let request = Request {
            prefer_cached_replicas: self.settings.prefer_cached_replicas,
            passive_cache: self.settings.passive_cache,
            ufs_fallback: self.settings.ufs_fallback,
            file_length,
            offset,
            length,
            attempt: 0,
            seed: rand::random(),
        };
        let decision = self.engine.rank(&request, &candidates);
        let plan = decision.value;
        // Room for the UFS too: pushing it would otherwise grow the vector.
        let mut sources = Vec::with_capacity(plan.workers.len() + 1);
        sources.extend(plan.workers.iter().map(|&i| Source::Worker(i)));
        if plan.then_ufs {
            sources.push(Source::Ufs);
        }
        ReadPlan {
            path: path.to_owned(),
            offset,
            length,
            etag: etag.map(str::to_owned),
            replicas,
            candidates,
            request,
            sources,
            passive_cache_to: plan.passive_cache_to,
            policy: decision.policy,
            fallback: decision.fallback,
        }
    }
}
