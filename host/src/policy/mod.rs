//! Routing policies: the WebAssembly components that decide where reads go.
//!
//! - [`bindings`]: the contract (`wit/`) as Rust types; the only `bindgen!`.
//! - [`component`]: loading and checking a component (no imports, right exports).
//! - [`instance`]: one instance and the limits (deadline, memory) of its calls.
//! - `direct`: calling a policy's core functions without wasmtime's component call.
//! - [`wire`]: the candidate record, lowered in bulk on every decision.
//! - [`plan`]: checking a policy's answers.
//! - [`engine`]: running decisions, falling back, quarantining, swapping.
//! - [`file_watch`]: following a policy file for hot swap.
//! - [`published`]: policies distributed through etcd, and following one.
//! - [`follow`]: the engine and follower a process's config asks for.
//! - [`builder`]: building a policy crate into a component.
//! - [`embedded`]: the default policy compiled into the binary.

pub mod bindings;
pub mod builder;
pub mod component;
mod direct;
pub mod embedded;
pub mod engine;
pub mod file_watch;
pub mod follow;
pub mod instance;
mod log_limit;
pub mod plan;
pub mod published;
pub mod stats;
pub mod wire;

pub use bindings::{CacheState, Failure, FailureKind, NextStep, Plan, Request, Source};
pub use component::{CallPath, LoadError, PolicyComponent, PolicyId, sha256_hex};
pub use engine::{Decision, FallbackReason, PolicyConfig, PolicyEngine};
pub use wire::Candidate;
