//! Azimuth: a multi-zone read cache whose routing decisions are made by
//! WebAssembly policies.
//!
//! The host does the mechanism; [`policy`] runs the components that choose
//! where each read goes. [`scenario`] describes reads by name for testing
//! policies offline, and [`cli`] is the `azimuth` command.

pub mod cache;
pub mod cli;
pub mod client;
pub mod config;
pub mod membership;
pub mod policy;
pub mod scenario;
pub mod topology;
pub mod ufs;
pub mod worker;
