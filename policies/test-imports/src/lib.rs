//! A policy that imports `log`: valid Wasm, valid exports, and still refused,
//! because a policy must reach nothing outside its sandbox. Only its Wasm
//! build exists: natively there is nothing to import from.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "azimuth-test:misbehaving/policy-with-import",
});

use exports::azimuth::policy::routing::{Candidate, Failure, Guest, NextStep, Plan, Request};

struct Importing;

impl Guest for Importing {
    fn rank(request: Request, candidates: Vec<Candidate>) -> Plan {
        log("reaching outside the sandbox");
        Plan {
            workers: (0..candidates.len() as u32).collect(),
            then_ufs: request.ufs_fallback,
            passive_cache_to: None,
        }
    }

    fn failover(_: Request, _: Vec<Candidate>, _: Failure) -> NextStep {
        NextStep::NextSource
    }
}

export!(Importing);
