//! What a read did and why: the candidates and what the host knew of them,
//! the policy's plan, each attempt and its outcome, and the source that
//! served. `azimuth read --explain` prints it; tests read it.

use std::fmt;

use serde::Serialize;

/// One candidate as the policy saw it, with its name.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainedCandidate {
    /// The worker's id.
    pub worker: String,
    /// Its cluster.
    pub cluster: String,
    /// Its zone.
    pub zone: String,
    /// Its HTTP address.
    pub address: String,
    /// In the client's own cluster.
    pub local: bool,
    /// Cache state learnt by a status probe: full, partial, none or unknown.
    pub cache: &'static str,
    /// Bytes of the file it has cached, when probed.
    pub cached_bytes: u64,
    /// Whether the client trusted it (not failed recently).
    pub healthy: bool,
}

/// One try of one source.
#[derive(Clone, Debug, Serialize)]
pub struct Attempt {
    /// `worker <id>` or `ufs`.
    pub source: String,
    /// `served`, or the failure (`refused: ...`, `timeout: ...`).
    pub outcome: String,
    /// Bytes it delivered in this attempt.
    pub bytes: u64,
    /// After a failure, what the read did next (the policy's answer, and
    /// the host's ceiling if one overrode it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub then: Option<String>,
}

/// The story of one read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Explain {
    /// The UFS path read.
    pub path: String,
    /// First byte asked for.
    pub offset: u64,
    /// Bytes asked for; `None` to the end.
    pub length: Option<u64>,
    /// The client's cluster.
    pub client_cluster: String,
    /// The candidates, in the order the policy received them.
    pub candidates: Vec<ExplainedCandidate>,
    /// The policy that decided (origin and sha256).
    pub policy: String,
    /// Why the active policy did not decide, if it did not.
    pub policy_fallback: Option<String>,
    /// The plan: worker ids, then `ufs` if allowed.
    pub plan: Vec<String>,
    /// The worker asked for a passive replica, if any.
    pub passive_cache_to: Option<String>,
    /// Each try, in order.
    pub attempts: Vec<Attempt>,
    /// The source that delivered the last byte.
    pub served_by: Option<String>,
    /// Bytes delivered in all.
    pub bytes: u64,
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let length = self
            .length
            .map_or_else(|| "to the end".to_owned(), |l| format!("{l} bytes"));
        writeln!(
            f,
            "read {} from byte {}, {length}, as a client of {}",
            self.path, self.offset, self.client_cluster
        )?;
        writeln!(
            f,
            "candidates (the file's replicas in each visible cluster):"
        )?;
        for c in &self.candidates {
            writeln!(
                f,
                "  {:<12} {:<22} {:<6} cache {:<7} ({} bytes) {}",
                c.worker,
                c.cluster,
                if c.local { "local" } else { "remote" },
                c.cache,
                c.cached_bytes,
                if c.healthy { "healthy" } else { "unhealthy" }
            )?;
        }
        writeln!(f, "policy: {}", self.policy)?;
        if let Some(why) = &self.policy_fallback {
            writeln!(f, "  (the default decided: {why})")?;
        }
        writeln!(f, "plan: {}", self.plan.join(" -> "))?;
        if let Some(target) = &self.passive_cache_to {
            writeln!(f, "passive cache target: {target}")?;
        }
        for (i, a) in self.attempts.iter().enumerate() {
            write!(
                f,
                "attempt {}: {} -> {} ({} bytes)",
                i + 1,
                a.source,
                a.outcome,
                a.bytes
            )?;
            match &a.then {
                Some(then) => writeln!(f, "; then {then}")?,
                None => writeln!(f)?,
            }
        }
        match &self.served_by {
            Some(source) => write!(f, "served by {source}: {} bytes", self.bytes),
            None => write!(f, "not served"),
        }
    }
}
