//! The `azimuth` command: clap structures over the library crates
//! (`azimuth-policy`, `-policy-tools`, `-cluster`, `-client`, `-worker`),
//! and `azimuth demo`. Errors reach `main` as `anyhow` chains; the libraries
//! below return their own error types.

#![warn(missing_docs)]

pub mod cli;
pub mod demo;
