//! Compiling a policy: bytes in, a compiled and checked component out.
//!
//! Everything expensive (compilation, import checks, type-checking the exports
//! against the contract, linking) happens here, once per policy, so that
//! making an instance later is cheap and a decision never compiles anything.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, ComponentExportIndex, Linker};

use super::bindings::{PolicyPre, ROUTING_INTERFACE};
use super::direct::DirectPre;
use super::instance::StoreState;
use super::ticker::Ticker;

/// Why a component cannot be used as a policy.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The bytes are not a valid WebAssembly component (or wasmtime cannot compile them).
    #[error("not a valid policy component: {0}")]
    NotAComponent(String),
    /// The component imports something; policies must import nothing.
    #[error(
        "the component imports {}; a policy must import nothing (it may not reach files, clocks or the network)",
        .0.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
    )]
    Imports(Vec<String>),
    /// The component's exports do not match `azimuth:policy/routing`.
    #[error(
        "the component does not implement the policy contract (world `azimuth:policy/policy`): {0}"
    )]
    Contract(String),
}

/// A policy's identity: the sha256 of its component bytes, and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct PolicyId {
    /// sha256 of the component bytes, as 64 hex digits.
    pub sha256: String,
    /// A human name: a file path, `embedded:default`, or a published name.
    pub origin: String,
    /// Size of the component in bytes.
    pub size: usize,
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (sha256 {})", self.origin, &self.sha256)
    }
}

impl fmt::Debug for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// How the host calls a policy's functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPath {
    /// The component's core functions, called by the host with the
    /// canonical ABI applied by hand (see `policy::direct`); the usual path.
    Direct,
    /// wasmtime's component call: any valid policy, at about twice the cost.
    Component,
}

impl fmt::Display for CallPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallPath::Direct => "direct",
            CallPath::Component => "component",
        })
    }
}

/// A compiled component that passed every load-time check, ready to instantiate.
pub struct PolicyComponent {
    pub(crate) id: Arc<PolicyId>,
    pub(crate) pre: PolicyPre<StoreState>,
    /// Where `rank` and `failover` are among the component's exports.
    pub(crate) rank: ComponentExportIndex,
    pub(crate) failover: ComponentExportIndex,
    /// The direct call path, or why this component cannot take it.
    pub(crate) direct: Result<DirectPre, String>,
    /// The epoch clock of the engine that compiled it, which interrupts its
    /// instances' calls at their deadlines.
    pub(crate) ticker: Arc<Ticker>,
}

impl PolicyComponent {
    /// Compiles and checks `bytes`: no imports, exports matching the
    /// contract. Only through an engine ([`crate::PolicyEngine::compile`]),
    /// whose clock `ticker` is: with no clock, nothing would interrupt a
    /// call at its deadline.
    pub(crate) fn compile(
        engine: &Engine,
        ticker: &Arc<Ticker>,
        bytes: &[u8],
        origin: &str,
    ) -> Result<Self, CompileError> {
        let component = Component::new(engine, bytes)
            .map_err(|e| CompileError::NotAComponent(format!("{e:#}")))?;
        let imports: Vec<String> = component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        if !imports.is_empty() {
            return Err(CompileError::Imports(imports));
        }
        // An empty linker: the component has no imports to satisfy, and
        // `PolicyPre::new` type-checks its exports against the contract.
        let linker = Linker::<StoreState>::new(engine);
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| CompileError::Contract(format!("{e:#}")))?;
        let pre =
            PolicyPre::new(instance_pre).map_err(|e| CompileError::Contract(format!("{e:#}")))?;
        // PolicyPre::new has checked these exist; look them up once here so
        // instances do not search by name.
        let export = |name: &str| {
            let routing = component.get_export_index(None, ROUTING_INTERFACE);
            component
                .get_export_index(routing.as_ref(), name)
                .ok_or_else(|| {
                    CompileError::Contract(format!("no export `{ROUTING_INTERFACE}#{name}`"))
                })
        };
        let (rank, failover) = (export("rank")?, export("failover")?);
        let id = Arc::new(PolicyId {
            sha256: sha256_hex(bytes),
            origin: origin.to_string(),
            size: bytes.len(),
        });
        // Only once wasmtime has accepted the component and its types: the
        // direct path relies on both.
        let direct = DirectPre::prepare(engine, bytes);
        if let Err(reason) = &direct {
            tracing::debug!(policy = %id, "component call path: {reason}");
        }
        Ok(Self {
            id,
            pre,
            rank,
            failover,
            direct,
            ticker: ticker.clone(),
        })
    }

    /// The policy's identity.
    pub fn id(&self) -> &Arc<PolicyId> {
        &self.id
    }

    /// The path instances of this policy take.
    pub fn call_path(&self) -> CallPath {
        match self.direct {
            Ok(_) => CallPath::Direct,
            Err(_) => CallPath::Component,
        }
    }

    /// Whether the host writes candidate lists into the policy's input
    /// buffer (policies built with the SDK) rather than calling
    /// `cabi_realloc` for room.
    pub fn takes_input_buffer(&self) -> bool {
        self.direct.as_ref().is_ok_and(DirectPre::has_input_buffer)
    }

    /// Why the policy takes the component path, when it does.
    pub fn why_not_direct(&self) -> Option<&str> {
        self.direct.as_ref().err().map(String::as_str)
    }
}
