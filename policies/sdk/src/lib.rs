//! Writing an Azimuth routing policy in Rust.
//!
//! The contract (`wit/policy.wit`) as Rust types, and [`policy!`], which
//! exports two plain functions as the policy component:
//!
//! ```ignore
//! use azimuth_policy_sdk::{Candidate, Failure, NextStep, Plan, Request};
//!
//! pub fn rank(request: &Request, candidates: &[Candidate]) -> Plan { /* ... */ }
//! pub fn failover(request: &Request, candidates: &[Candidate], failure: &Failure) -> NextStep {
//!     NextStep::NextSource
//! }
//!
//! azimuth_policy_sdk::policy!(rank: rank, failover: failover);
//! ```
//!
//! The functions stay ordinary Rust, so the same crate also builds natively
//! for unit tests and benchmarks; only the Wasm build exports them.
//!
//! In Wasm builds the SDK installs [`scratch::Scratch`] as the global
//! allocator (cargo feature `scratch-allocator`, on by default): decisions
//! allocate and free within one call, which it makes nearly free. A policy
//! that wants its own allocator turns the feature off.

pub mod scratch;

#[cfg(all(target_arch = "wasm32", feature = "scratch-allocator"))]
#[global_allocator]
static ALLOCATOR: scratch::Scratch = scratch::Scratch::new();

wit_bindgen::generate!({
    path: "../../wit",
    world: "policy",
    pub_export_macro: true,
    default_bindings_module: "azimuth_policy_sdk",
});

pub use exports::azimuth::policy::routing::{
    CacheState, Candidate, Failure, FailureKind, NextStep, Plan, Request, Source,
};

/// Exports `rank` and `failover` functions (taking references, see the crate
/// docs) as the policy component's `azimuth:policy/routing` interface.
/// Expands to nothing outside Wasm builds.
#[macro_export]
macro_rules! policy {
    (rank: $rank:path, failover: $failover:path $(,)?) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct Policy;

            impl $crate::exports::azimuth::policy::routing::Guest for Policy {
                fn rank(
                    request: $crate::Request,
                    candidates: Vec<$crate::Candidate>,
                ) -> $crate::Plan {
                    $rank(&request, &candidates)
                }

                fn failover(
                    request: $crate::Request,
                    candidates: Vec<$crate::Candidate>,
                    failure: $crate::Failure,
                ) -> $crate::NextStep {
                    $failover(&request, &candidates, &failure)
                }
            }

    $crate::export!(Policy with_types_in $crate);
        };
    };
}
