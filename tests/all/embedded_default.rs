//! The policies embedded in the binary are the builds of today's sources.

use azimuth::demo::ZONE_LOCAL_POLICY;
use azimuth_policy::embedded::DEFAULT_POLICY;
use azimuth_policy::sha256_hex;
use azimuth_policy_tools::builder::{BuildOptions, Toolchain, build_policy};

use crate::support::repo;

#[test]
fn embedded_policies_are_the_builds_of_current_policy_and_wit_sources() {
    for (name, embedded, asset) in [
        (
            "default",
            DEFAULT_POLICY,
            "host/policy/assets/default-policy.wasm",
        ),
        (
            "zone-local",
            ZONE_LOCAL_POLICY,
            "host/cli/assets/zone-local-policy.wasm",
        ),
    ] {
        // The embedded components are made with Debian's toolchain (what CI
        // and these machines have); another compiler would make other bytes.
        let built = build_policy(&BuildOptions {
            crate_dir: repo().join("policies").join(name),
            features: Vec::new(),
            toolchain: Some(Toolchain::Debian),
        })
        .unwrap_or_else(|e| panic!("policies/{name} builds: {e}"));
        assert!(
            built.component == embedded,
            "{asset} (sha256 {}) is not the build of policies/{name} and wit/ \
             (sha256 {}); refresh it with `cargo run -- policy build policies/{name} \
             --toolchain debian -o {asset}`",
            sha256_hex(embedded),
            sha256_hex(&built.component),
        );
    }
}
