//! What an Azimuth process knows of its clusters, shared by workers, clients
//! and the `azimuth` command:
//!
//! - [`config`]: the site file (`alluxio-site.properties` style) and flags,
//!   validated once into a [`SiteConfig`] with the [`topology`] resolved in it;
//! - [`membership`]: which workers are alive in every cluster, followed
//!   through etcd (or a static list) into a `tokio::sync::watch`;
//! - [`published`]: policies published in etcd, and following one;
//! - [`follow`]: the policy engine and follower a configuration asks for;
//! - [`etcd`]: connections, timeouts and backoff;
//! - [`api`]: the worker's HTTP API as both sides name it;
//! - [`security`]: the token the site's processes prove themselves with;
//! - [`prometheus`]: the metrics text every process writes.

#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod etcd;
pub mod follow;
pub mod membership;
pub mod prometheus;
pub mod published;
pub mod security;
pub mod topology;

pub use config::{ConfigError, SiteConfig};
pub use topology::Layout;
