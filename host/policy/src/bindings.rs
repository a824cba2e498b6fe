//! The one place that runs `bindgen!` over `wit/`: every other module uses the
//! types re-exported from here, so host and contract cannot drift apart.

// The generated items are documented by the WIT's own comments where it has
// them; the glue around them (`Policy`, `PolicyPre`, ...) is wasmtime's.
#[allow(missing_docs)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "policy",
        // Answers are compared in tests and by `policy test`.
        additional_derives: [PartialEq, Eq],
    });
}

pub(crate) use generated::PolicyPre;

// `candidate` is bound by hand in `wire` (lowered in bulk); the generated
// `Candidate` only serves the world's type check.
pub use generated::exports::azimuth::policy::routing::{
    CacheState, Failure, FailureKind, NextStep, Plan, Request, Source,
};

/// The interface a policy exports, as its export is named.
pub const ROUTING_INTERFACE: &str = "azimuth:policy/routing@0.1.0";

/// The world every policy implements, as WIT names it.
pub const CONTRACT_WORLD: &str = "azimuth:policy/policy@0.1.0";
