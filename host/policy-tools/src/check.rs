//! The checks a component must pass before anything ships it: the ones every
//! host applies when it compiles a policy (no imports, exports matching the
//! contract), and a few sample decisions answered validly by the policy
//! itself rather than by the default it would fall back to.
//!
//! `azimuth policy check`, `policy build` (before it writes the component)
//! and `policy publish` (before it stores it) all call [`check`], so a
//! component one of them accepts is accepted by the others.

use std::sync::Arc;

use azimuth_policy::{CallPath, CompileError, EngineError, PolicyConfig, PolicyEngine, PolicyId};

use crate::scenario::{Scenario, ScenarioError};

/// Sample reads a policy must answer validly: prefer-cached with a remote
/// replica cached, no UFS fallback with an unhealthy local worker, and no
/// candidates at all; each with a failure to answer.
const SAMPLE_READS: [&str; 3] = [
    r#"{"client_cluster": "a", "prefer_cached_replicas": true, "passive_cache": true,
        "candidates": [{"worker": "a1", "cluster": "a", "cache": "partial"},
                       {"worker": "b1", "cluster": "b", "cache": "full", "rtt_us": 900}],
        "failure": {"source": "b1", "kind": "timeout"}}"#,
    r#"{"client_cluster": "a", "ufs_fallback": false,
        "candidates": [{"worker": "a1", "cluster": "a", "healthy": false},
                       {"worker": "b1", "cluster": "b"}, {"worker": "c1", "cluster": "c"}],
        "failure": {"source": "b1", "kind": "refused"}}"#,
    r#"{"client_cluster": "a", "candidates": [], "failure": {"source": "ufs", "kind": "not-found"}}"#,
];

/// Why a component is not a usable policy.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The policy engine could not start (a defect of this build).
    #[error("cannot start a policy engine to check {origin}: {source}")]
    Engine {
        /// The component checked.
        origin: String,
        /// Why the engine did not start.
        #[source]
        source: EngineError,
    },
    /// A host would refuse the component at load.
    #[error("{origin} is not a usable policy: {source}")]
    Compile {
        /// The component checked.
        origin: String,
        /// Why it does not compile as a policy.
        #[source]
        source: CompileError,
    },
    /// The component loads, but did not answer a sample read validly.
    #[error("{origin} is not a usable policy: on {sample} {reason}")]
    Decision {
        /// The component checked.
        origin: String,
        /// Which sample read.
        sample: String,
        /// What went wrong (a trap, the deadline, an invalid answer).
        reason: String,
    },
    /// A sample read did not parse (a defect of this build).
    #[error("a built-in sample read is malformed: {0}")]
    Sample(#[from] ScenarioError),
}

/// What checking a usable policy found.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The policy's identity (sha256, origin, size).
    pub id: Arc<PolicyId>,
    /// How hosts will call it.
    pub call_path: CallPath,
    /// Why it takes the component call, when it does.
    pub why_not_direct: Option<String>,
    /// Whether hosts write candidates into its input buffer (`wit/ABI.md`).
    pub input_buffer: bool,
    /// The interfaces it exports, from the WIT it carries.
    pub exports: Vec<String>,
    /// Sample reads it answered validly.
    pub sample_reads: usize,
}

impl Checked {
    /// How hosts call the policy, in a sentence (`policy check`'s `calls:`).
    pub fn call_path_line(&self) -> String {
        match (&self.why_not_direct, self.input_buffer) {
            (None, true) => "direct (its core functions, called with the canonical ABI by the \
                host; candidates written into its input buffer)"
                .to_owned(),
            (None, false) => {
                "direct (its core functions, called with the canonical ABI by the host)".to_owned()
            }
            (Some(why), _) => format!("through wasmtime's component call, about 2x slower: {why}"),
        }
    }
}

/// Compiles `bytes` as a host would and asks it the sample reads; `origin`
/// names it in errors.
pub fn check(bytes: &[u8], origin: &str) -> Result<Checked, CheckError> {
    let engine =
        PolicyEngine::new(PolicyConfig::default()).map_err(|source| CheckError::Engine {
            origin: origin.to_owned(),
            source,
        })?;
    let component = engine
        .compile(bytes, origin)
        .map_err(|source| CheckError::Compile {
            origin: origin.to_owned(),
            source,
        })?;
    let (call_path, input_buffer) = (component.call_path(), component.takes_input_buffer());
    let why_not_direct = component.why_not_direct().map(str::to_owned);
    let id = engine.swap(component);
    for (i, text) in SAMPLE_READS.iter().enumerate() {
        let sample = format!("built-in sample read {}", i + 1);
        let prepared = Scenario::parse(text, &sample)?.prepare(&sample)?;
        if let Some(reason) = prepared.evaluate(&engine).fallback {
            return Err(CheckError::Decision {
                origin: origin.to_owned(),
                sample,
                reason,
            });
        }
    }
    Ok(Checked {
        id,
        call_path,
        why_not_direct,
        input_buffer,
        exports: exported_interfaces(bytes),
        sample_reads: SAMPLE_READS.len(),
    })
}

/// The interfaces a component exports, from the WIT it carries.
fn exported_interfaces(bytes: &[u8]) -> Vec<String> {
    match wit_component::decode(bytes) {
        Ok(wit_component::DecodedWasm::Component(resolve, world)) => resolve.worlds[world]
            .exports
            .keys()
            .map(|key| resolve.name_world_key(key))
            .collect(),
        _ => Vec::new(),
    }
}
