//! The one place that runs `bindgen!` over `wit/`: every other module uses the
//! types re-exported from here, so host and contract cannot drift apart.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "policy",
    // Answers are compared in tests and by `policy test`.
    additional_derives: [PartialEq, Eq],
});

// `candidate` is bound by hand in `wire` (lowered in bulk); the generated
// `Candidate` only serves the world's type check.
pub use exports::azimuth::policy::routing::{
    CacheState, Failure, FailureKind, NextStep, Plan, Request, Source,
};

/// The interface a policy exports, as its export is named.
pub const ROUTING_INTERFACE: &str = "azimuth:policy/routing@0.1.0";

/// The world every policy implements, as WIT names it.
pub const CONTRACT_WORLD: &str = "azimuth:policy/policy@0.1.0";
