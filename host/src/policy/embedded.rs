//! The default policy, built from `policies/default` and embedded in the binary
//! so that a plain `cargo build` of the host needs no Wasm toolchain.
//!
//! `host/assets/default-policy.wasm` is refreshed with
//! `azimuth policy build policies/default -o host/assets/default-policy.wasm`;
//! a test rebuilds it from source and fails if the two differ.

/// The component bytes of the default policy.
pub const DEFAULT_POLICY: &[u8] = include_bytes!("../../assets/default-policy.wasm");

/// How the embedded default policy is named in logs and output.
pub const DEFAULT_ORIGIN: &str = "embedded:default";

/// The component bytes of `policies/zone-local` (local workers, then the
/// UFS; never across zones), which `azimuth demo` swaps in to show a ranking
/// change on a machine without a Wasm toolchain. Refreshed and checked like
/// the default (`host/assets/zone-local-policy.wasm`).
pub const ZONE_LOCAL_POLICY: &[u8] = include_bytes!("../../assets/zone-local-policy.wasm");
