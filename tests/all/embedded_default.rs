//! The default policy embedded in the binary is the build of today's sources.

use azimuth::policy::builder::{BuildOptions, Toolchain, build_policy};
use azimuth::policy::embedded::DEFAULT_POLICY;
use azimuth::policy::sha256_hex;

use crate::support::repo;

#[test]
fn embedded_default_policy_is_the_build_of_current_policy_and_wit_sources() {
    // The embedded component is made with Debian's toolchain (what CI and
    // these machines have); another compiler would make other bytes.
    let built = build_policy(&BuildOptions {
        crate_dir: repo().join("policies/default"),
        features: Vec::new(),
        toolchain: Some(Toolchain::Debian),
    })
    .expect("policies/default builds");
    assert!(
        built.component == DEFAULT_POLICY,
        "host/assets/default-policy.wasm (sha256 {}) is not the build of policies/default and wit/ \
         (sha256 {}); refresh it with `cargo run -- policy build policies/default --toolchain debian \
         -o host/assets/default-policy.wasm`",
        sha256_hex(DEFAULT_POLICY),
        sha256_hex(&built.component),
    );
}
