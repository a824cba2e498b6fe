//! Tools for policy authors, offline: build a policy crate into a component
//! ([`builder`]), check a component the way every host will run it
//! ([`check`], which `azimuth policy build` and `azimuth policy check` both
//! apply), and describe reads by name to see what a policy decides
//! ([`scenario`]).

#![warn(missing_docs)]

pub mod builder;
pub mod check;
pub mod scenario;
