//! Scenario files: a read described with worker and cluster names, for
//! testing policies offline (`azimuth policy eval`, `azimuth policy test`).
//!
//! The host maps names to the indices the contract uses: the client's cluster
//! is cluster 0, other clusters are numbered in order of first appearance, and
//! candidates keep the file's order (the order a hash ring would give).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use azimuth_policy::{
    CacheState, Candidate, Decision, Failure, FailureKind, NextStep, Plan, PolicyEngine, Request,
    Source,
};

/// The name that stands for the UFS in orders.
pub const UFS: &str = "ufs";

/// A scenario file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario shows, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// The cluster the client belongs to.
    pub client_cluster: String,
    /// `alluxio.user.replica.prefer.cached.replicas`. Default false.
    #[serde(default)]
    pub prefer_cached_replicas: bool,
    /// `alluxio.user.file.passive.cache.enabled`. Default false.
    #[serde(default)]
    pub passive_cache: bool,
    /// `alluxio.dora.client.ufs.fallback.enabled`. Default true.
    #[serde(default = "default_true")]
    pub ufs_fallback: bool,
    /// Length of the file in bytes, if known.
    #[serde(default)]
    pub file_length: Option<u64>,
    /// First byte of the range read. Default 0.
    #[serde(default)]
    pub offset: u64,
    /// Bytes read; absent means to the end.
    #[serde(default)]
    pub length: Option<u64>,
    /// Attempt number of the decision. Default 0.
    #[serde(default)]
    pub attempt: u32,
    /// Random bits for the policy. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// The file's replicas, in hash-ring order.
    pub candidates: Vec<ScenarioCandidate>,
    /// A failure to ask the policy about (`failover`), if any.
    #[serde(default)]
    pub failure: Option<ScenarioFailure>,
    /// What the policy should answer; `policy test` checks it.
    #[serde(default)]
    pub expect: Option<Expect>,
}

fn default_true() -> bool {
    true
}

/// One replica in a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioCandidate {
    /// The worker's name, unique in the scenario.
    pub worker: String,
    /// The cluster the worker belongs to.
    pub cluster: String,
    /// Cache state: `full`, `partial`, `none` or `unknown` (default).
    #[serde(default)]
    pub cache: CacheName,
    /// Default true.
    #[serde(default = "default_true")]
    pub healthy: bool,
    /// Cached bytes; defaults to `file_length` when `cache` is `full`, else 0.
    #[serde(default)]
    pub cached_bytes: Option<u64>,
    /// Observed round trip in microseconds; absent means not observed.
    #[serde(default)]
    pub rtt_us: Option<u32>,
}

/// A cache state by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheName {
    /// Not known.
    #[default]
    Unknown,
    /// Nothing cached.
    None,
    /// Some bytes cached.
    Partial,
    /// Every byte cached.
    Full,
}

/// A failure in a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFailure {
    /// A worker name, or `ufs`.
    pub source: String,
    /// `refused`, `timeout`, `io-error`, `corrupt` or `not-found`.
    pub kind: String,
    /// Retries of this source so far. Default 0.
    #[serde(default)]
    pub retries: u32,
    /// Bytes already delivered. Default 0.
    #[serde(default)]
    pub delivered: u64,
}

/// Expected answers; each field present is checked, absent ones are not.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Expected order: worker names, `ufs` last if the UFS is tried.
    #[serde(default)]
    pub order: Option<Vec<String>>,
    /// Expected passive cache target (`null` for none).
    #[serde(default, deserialize_with = "present")]
    pub passive_cache_to: Option<Option<String>>,
    /// Expected failover answer: `next-source`, `give-up` or `retry-after-ms:N`.
    #[serde(default)]
    pub next: Option<String>,
}

/// Tells `"key": null` (checked, expecting none) from a missing key (not checked).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// What is wrong with a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is malformed or has unknown or mistyped fields.
    #[error("scenario {path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// serde's message, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is well formed but its content does not make sense.
    #[error("scenario {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What does not make sense, and where in the file.
        reason: String,
    },
}

/// A scenario turned into what the contract takes.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The scenario as written.
    pub scenario: Scenario,
    /// The request.
    pub request: Request,
    /// The candidates, in the scenario's order.
    pub candidates: Vec<Candidate>,
    /// The failure, if the scenario has one.
    pub failure: Option<Failure>,
}

/// The answers of a policy to a scenario, with names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Sources in order, worker names then `ufs`.
    pub order: Vec<String>,
    /// The passive cache target, or null.
    pub passive_cache_to: Option<String>,
    /// The failover answer, when the scenario has a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// sha256 of the policy that answered.
    pub policy_sha256: String,
    /// Where that policy came from.
    pub policy: String,
    /// Why the policy under evaluation did not answer, if it did not.
    pub fallback: Option<String>,
}

impl Scenario {
    /// Reads and parses a scenario file.
    pub fn from_file(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses scenario JSON; `name` is used in errors.
    pub fn parse(text: &str, name: &str) -> Result<Self, ScenarioError> {
        serde_json::from_str(text).map_err(|source| ScenarioError::Json {
            path: name.to_string(),
            source,
        })
    }

    /// Maps names to indices and checks the scenario makes sense.
    pub fn prepare(self, name: &str) -> Result<Prepared, ScenarioError> {
        let invalid = |reason: String| ScenarioError::Invalid {
            path: name.to_string(),
            reason,
        };
        let mut clusters: HashMap<&str, u8> = HashMap::from([(self.client_cluster.as_str(), 0)]);
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut candidates = Vec::with_capacity(self.candidates.len());
        for (i, c) in self.candidates.iter().enumerate() {
            if c.worker == UFS {
                return Err(invalid(format!(
                    "candidates[{i}]: `{UFS}` is reserved for the UFS"
                )));
            }
            if names.insert(&c.worker, i).is_some() {
                return Err(invalid(format!(
                    "candidates[{i}]: worker `{}` is listed twice",
                    c.worker
                )));
            }
            let next = clusters.len();
            let cluster = *clusters.entry(&c.cluster).or_insert(next.min(255) as u8);
            if next > 255 {
                return Err(invalid(format!("candidates[{i}]: more than 256 clusters")));
            }
            let cached_bytes = c.cached_bytes.unwrap_or(match (c.cache, self.file_length) {
                (CacheName::Full, Some(len)) => len,
                _ => 0,
            });
            candidates.push(Candidate {
                local: cluster == 0,
                cluster,
                cache: match c.cache {
                    CacheName::Unknown => CacheState::Unknown,
                    CacheName::None => CacheState::None,
                    CacheName::Partial => CacheState::Partial,
                    CacheName::Full => CacheState::Full,
                },
                cached_bytes,
                healthy: c.healthy,
                rtt_us: c.rtt_us.unwrap_or(0),
            });
        }
        let failure = match &self.failure {
            None => None,
            Some(f) => Some(Failure {
                source: if f.source == UFS {
                    Source::Ufs
                } else {
                    let index = names.get(f.source.as_str()).ok_or_else(|| {
                        invalid(format!("failure.source: `{}` is not a candidate nor `{UFS}`", f.source))
                    })?;
                    Source::Worker(*index as u32)
                },
                kind: parse_failure_kind(&f.kind).ok_or_else(|| {
                    invalid(format!(
                        "failure.kind: `{}` is not one of refused, timeout, io-error, corrupt, not-found",
                        f.kind
                    ))
                })?,
                retries: f.retries,
                delivered: f.delivered,
            }),
        };
        if let Some(expect) = &self.expect {
            for n in expect.order.iter().flatten() {
                if n != UFS && !names.contains_key(n.as_str()) {
                    return Err(invalid(format!(
                        "expect.order: `{n}` is not a candidate nor `{UFS}`"
                    )));
                }
            }
            if let Some(Some(n)) = &expect.passive_cache_to
                && !names.contains_key(n.as_str())
            {
                return Err(invalid(format!(
                    "expect.passive_cache_to: `{n}` is not a candidate"
                )));
            }
            if expect.next.is_some() && self.failure.is_none() {
                return Err(invalid("expect.next needs a `failure` to answer".into()));
            }
        }
        let request = Request {
            prefer_cached_replicas: self.prefer_cached_replicas,
            passive_cache: self.passive_cache,
            ufs_fallback: self.ufs_fallback,
            file_length: self.file_length,
            offset: self.offset,
            length: self.length,
            attempt: self.attempt,
            seed: self.seed,
        };
        Ok(Prepared {
            scenario: self,
            request,
            candidates,
            failure,
        })
    }
}

fn parse_failure_kind(s: &str) -> Option<FailureKind> {
    Some(match s {
        "refused" => FailureKind::Refused,
        "timeout" => FailureKind::Timeout,
        "io-error" => FailureKind::IoError,
        "corrupt" => FailureKind::Corrupt,
        "not-found" => FailureKind::NotFound,
        _ => return None,
    })
}

/// Names a failover answer as scenarios write it.
pub fn next_step_name(step: &NextStep) -> String {
    match step {
        NextStep::NextSource => "next-source".into(),
        NextStep::GiveUp => "give-up".into(),
        NextStep::RetryAfterMs(ms) => format!("retry-after-ms:{ms}"),
    }
}

impl Prepared {
    /// Asks `engine`'s active policy for its answers.
    pub fn evaluate(&self, engine: &PolicyEngine) -> Outcome {
        let Decision {
            value: plan,
            policy,
            fallback,
        } = engine.rank(&self.request, &self.candidates);
        let next = self
            .failure
            .as_ref()
            .map(|f| engine.failover(&self.request, &self.candidates, f));
        let fallback = fallback
            .or_else(|| next.as_ref().and_then(|d| d.fallback.clone()))
            .map(|r| r.to_string());
        Outcome {
            order: self.order_names(&plan),
            passive_cache_to: plan
                .passive_cache_to
                .map(|i| self.scenario.candidates[i as usize].worker.clone()),
            next: next.map(|d| next_step_name(&d.value)),
            policy_sha256: policy.sha256.clone(),
            policy: policy.origin.clone(),
            fallback,
        }
    }

    fn order_names(&self, plan: &Plan) -> Vec<String> {
        let mut order: Vec<String> = plan
            .workers
            .iter()
            .map(|&i| self.scenario.candidates[i as usize].worker.clone())
            .collect();
        if plan.then_ufs {
            order.push(UFS.into());
        }
        order
    }

    /// The differences between `outcome` and the scenario's `expect`, one line
    /// each, empty when everything expected holds.
    pub fn mismatches(&self, outcome: &Outcome) -> Vec<String> {
        let mut out = Vec::new();
        let Some(expect) = &self.scenario.expect else {
            return out;
        };
        if let Some(reason) = &outcome.fallback {
            out.push(format!(
                "the policy did not answer ({reason}); the default policy did"
            ));
        }
        if let Some(order) = &expect.order
            && order != &outcome.order
        {
            out.push(format!("order:            expected [{}]", order.join(", ")));
            out.push(format!(
                "                  actual   [{}]",
                outcome.order.join(", ")
            ));
        }
        if let Some(passive) = &expect.passive_cache_to
            && passive != &outcome.passive_cache_to
        {
            let show = |p: &Option<String>| p.clone().unwrap_or_else(|| "null".into());
            out.push(format!("passive_cache_to: expected {}", show(passive)));
            out.push(format!(
                "                  actual   {}",
                show(&outcome.passive_cache_to)
            ));
        }
        if let Some(next) = &expect.next
            && Some(next) != outcome.next.as_ref()
        {
            out.push(format!("next:             expected {next}"));
            out.push(format!(
                "                  actual   {}",
                outcome.next.as_deref().unwrap_or("(none)")
            ));
        }
        out
    }
}
