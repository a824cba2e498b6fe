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
pub mod demo;
pub mod membership;
pub mod policy;
pub mod prometheus;
pub mod scenario;
pub mod topology;
pub mod ufs;
pub mod worker;

/// An error and its causes on one line, each cause once (wrappers often
/// repeat their source's message).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
