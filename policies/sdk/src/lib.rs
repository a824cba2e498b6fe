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

#[doc(hidden)]
pub mod abi;
pub mod scratch;
mod types;

pub use types::{CacheState, Candidate, Failure, FailureKind, NextStep, Plan, Request, Source};

#[cfg(all(target_arch = "wasm32", feature = "scratch-allocator"))]
#[global_allocator]
static ALLOCATOR: scratch::Scratch = scratch::Scratch::new();

/// wit-bindgen's bindings, used for one thing: the custom section that tells
/// `wit-component` which world the module implements. The exports themselves
/// are `abi`'s (see there for why).
#[doc(hidden)]
#[allow(dead_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "policy",
    });
}

/// Exports `rank` and `failover` functions (taking references, see the crate
/// docs) as the policy component's `azimuth:policy/routing` interface.
/// Expands to nothing outside Wasm builds.
#[macro_export]
macro_rules! policy {
    (rank: $rank:path, failover: $failover:path $(,)?) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            // Keeps the world's description in the module.
            #[used]
            static WORLD: &[u8] = &$crate::bindings::__WIT_BINDGEN_COMPONENT_TYPE;

            #[unsafe(export_name = "azimuth:policy/routing@0.1.0#rank")]
            #[allow(clippy::too_many_arguments)]
            unsafe extern "C" fn __azimuth_rank(
                a0: u32,
                a1: u32,
                a2: u32,
                a3: u32,
                a4: u64,
                a5: u64,
                a6: u32,
                a7: u64,
                a8: u32,
                a9: u64,
                a10: *mut u8,
                a11: usize,
            ) -> *const $crate::abi::RawPlan {
                // SAFETY: called by the host with the canonical ABI.
                unsafe {
                    $crate::abi::rank($rank, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
                }
            }

            #[unsafe(export_name = "azimuth:policy/routing@0.1.0#failover")]
            unsafe extern "C" fn __azimuth_failover(
                args: *mut $crate::abi::FailoverArgs,
            ) -> *const $crate::abi::RawNextStep {
                // SAFETY: called by the host with the canonical ABI.
                unsafe { $crate::abi::failover($failover, args) }
            }

            // The name the host looks for (`INPUT_EXPORT` in
            // host/policy/src/direct/mod.rs); the fidelity test fails if the
            // two differ.
            #[unsafe(export_name = "azimuth:sdk/input-buffer@1")]
            extern "C" fn __azimuth_input_buffer() -> *const $crate::abi::InputDescriptor {
                $crate::abi::input_buffer()
            }

            #[unsafe(export_name = "cabi_realloc")]
            unsafe extern "C" fn __azimuth_cabi_realloc(
                old: *mut u8,
                old_size: usize,
                align: usize,
                new_size: usize,
            ) -> *mut u8 {
                // SAFETY: called by the host with the canonical ABI.
                unsafe { $crate::abi::realloc(old, old_size, align, new_size) }
            }
        };
    };
}
