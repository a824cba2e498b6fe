//! Membership: which workers are alive in every cluster this host sees.
//!
//! - [`keys`]: the etcd key layout (documented in `host/cluster/docs/etcd-keys.md`).
//! - [`record`]: what a worker publishes about itself.
//! - [`registration`]: a worker's leased key, kept alive and removed on stop.
//! - [`watcher`]: the multi-cluster view, followed through etcd watches.
//! - [`view`]: that view, with each group's freshness.
//! - [`static_list`]: STATIC membership from a file, without etcd.

pub mod keys;
pub mod record;
pub mod registration;
pub mod static_list;
pub mod view;
pub mod watcher;

pub use record::{Ports, WorkerRecord};
pub use registration::{Registration, RegistrationState};
pub use view::{GroupStatus, GroupView, MembershipView};
pub use watcher::MembershipWatcher;
