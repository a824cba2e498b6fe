//! The one place that runs `bindgen!` over `wit/`: every other module uses the
//! types re-exported from here, so host and contract cannot drift apart.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "policy",
    // Answers are compared in tests and by `policy test`.
    additional_derives: [PartialEq, Eq],
});

pub use exports::azimuth::policy::routing::{
    CacheState, Candidate, Failure, FailureKind, NextStep, Plan, Request, Source,
};

/// The world every policy implements, as WIT names it.
pub const CONTRACT_WORLD: &str = "azimuth:policy/policy@0.1.0";
