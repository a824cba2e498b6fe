//! Azimuth's integration tests: one binary (it links once), a module per area.
//! Policies used here are built from source in `policies/` by the same code
//! as `azimuth policy build`.

mod native_types;
mod processes;
mod s3;
mod support;
mod zones;

mod abi_fidelity;
mod access;
mod chaos;
mod demo;
mod differential;
mod dropped_zone;
mod embedded_default;
mod embedding;
mod examples;
mod hostile_input;
mod hot_swap;
mod membership;
mod misbehaving_policies;
mod misbehaving_workers;
mod mount;
mod passive_cache;
mod policy_cli;
mod policy_rollout;
mod read_path;
mod s3_gateway;
mod secrets;
mod site_config;
mod tls;
mod worker_cache;
mod worker_connection;
mod worker_limits;
