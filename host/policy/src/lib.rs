//! Azimuth's policy runtime: the WebAssembly components that decide where
//! reads go, run under a CPU deadline and a memory cap, every answer checked,
//! a failing policy replaced by the embedded default for the decision it
//! failed, and the active policy swappable while decisions run.
//!
//! This crate knows nothing of etcd, HTTP or files to read: a program that
//! only wants to rank candidates (a proxy choosing where to send a request)
//! depends on it alone. Start with [`PolicyEngine::new`] and
//! [`PolicyEngine::rank`]; `examples/embedding/rank_requests.rs` is a whole
//! program.
//!
//! - [`bindings`]: the contract (`wit/`) as Rust types; the only `bindgen!`.
//! - [`component`]: compiling and checking a component (no imports, right exports).
//! - [`instance`]: one instance and the limits (deadline, memory) of its calls.
//! - `direct`: calling a policy's core functions without wasmtime's component call.
//! - [`wire`]: the candidate record, lowered in bulk on every decision.
//! - [`plan`]: checking a policy's answers.
//! - [`engine`]: running decisions, falling back, quarantining, swapping.
//! - `ticker`: the epoch clock that interrupts a call at its deadline, asleep
//!   while no call needs it.
//! - [`stats`]: what the engine did, as numbers (rendering is the embedder's).
// Not a link: without its feature the module is not built, and the link
// would be broken in the default documentation.
//! - `file_watch` (feature `file-watch`): following a policy file for hot swap.
//! - [`embedded`]: the default policy compiled into the crate.

#![warn(missing_docs)]

pub mod bindings;
pub mod component;
mod direct;
pub mod embedded;
pub mod engine;
#[cfg(feature = "file-watch")]
pub mod file_watch;
pub mod instance;
mod log_limit;
pub mod plan;
pub mod stats;
mod ticker;
pub mod wire;

/// The host's reading of a policy's answers from guest memory on the
/// direct call path, for the fuzz targets (`tests/fuzz`): a hostile policy
/// controls every byte these functions read. Not a stable interface.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::direct::abi::{input_buffer, lift_next_step, lift_plan};
}

pub use bindings::{CacheState, Failure, FailureKind, NextStep, Plan, Request, Source};
pub use component::{CallPath, CompileError, PolicyComponent, PolicyId, sha256_hex};
pub use engine::{
    Decision, EngineError, FallbackReason, LoadedPolicy, PolicyConfig, PolicyConfigError,
    PolicyEngine,
};
pub use stats::EngineStats;
pub use wire::Candidate;
