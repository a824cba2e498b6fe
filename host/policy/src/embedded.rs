//! The default policy, built from `policies/default` and embedded in the crate
//! so that a plain `cargo build` needs no Wasm toolchain.
//!
//! `host/policy/assets/default-policy.wasm` is refreshed with
//! `azimuth policy build policies/default -o host/policy/assets/default-policy.wasm`;
//! a test rebuilds it from source and fails if the two differ.

/// The component bytes of the default policy.
pub const DEFAULT_POLICY: &[u8] = include_bytes!("../assets/default-policy.wasm");

/// How the embedded default policy is named in logs and output.
pub const DEFAULT_ORIGIN: &str = "embedded:default";
