//! A worker's presence in etcd: a key under its cluster, attached to a lease
//! it keeps alive. If the worker dies the lease expires and the key goes with
//! it (after the TTL); if it stops gracefully it deletes the key and revokes
//! the lease at once. If the lease is lost (etcd restarted from empty, a long
//! partition) it registers again with a new one.

use std::time::Duration;

use etcd_client::PutOptions;
use tokio::sync::watch;

use super::keys::worker_key;
use super::record::WorkerRecord;
use crate::etcd::{Backoff, EtcdError, EtcdTarget, timed};

/// Where registration stands, for logs and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationState {
    /// Not registered yet, or lost and trying again.
    Registering {
        /// Why the last attempt failed, if one did.
        last_error: Option<String>,
    },
    /// The key exists under this lease.
    Registered {
        /// The lease's id.
        lease: i64,
    },
    /// Deregistered after a graceful stop.
    Stopped,
}

/// A worker's registration. Call [`Registration::stop`] on graceful shutdown.
pub struct Registration {
    stop: watch::Sender<bool>,
    state: watch::Receiver<RegistrationState>,
    task: tokio::task::JoinHandle<()>,
}

impl Registration {
    /// Starts registering `record` (and re-registering it whenever it
    /// changes) in `target` with leases of `ttl`.
    pub fn start(target: EtcdTarget, ttl: Duration, record: watch::Receiver<WorkerRecord>) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let (state_tx, state) = watch::channel(RegistrationState::Registering { last_error: None });
        let task = tokio::spawn(keep_registered(target, ttl, record, stop_rx, state_tx));
        Self { stop, state, task }
    }

    /// Registration state, updated as it changes.
    pub fn state(&self) -> watch::Receiver<RegistrationState> {
        self.state.clone()
    }

    /// Deletes the key and revokes the lease, waiting at most `limit`.
    pub async fn stop(self, limit: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(limit, self.task).await.is_err() {
            tracing::warn!("could not deregister within {limit:?}; the key expires with its lease");
        }
    }
}

async fn keep_registered(
    target: EtcdTarget,
    ttl: Duration,
    mut record: watch::Receiver<WorkerRecord>,
    mut stop: watch::Receiver<bool>,
    state: watch::Sender<RegistrationState>,
) {
    let mut backoff = Backoff::default();
    loop {
        match register_round(&target, ttl, &mut record, &mut stop, &state, &mut backoff).await {
            Ok(()) => {
                let _ = state.send(RegistrationState::Stopped);
                return;
            }
            Err(error) => {
                tracing::warn!(etcd = %target.describe(), %error, "worker registration lost; registering again");
                let _ = state.send(RegistrationState::Registering {
                    last_error: Some(error.to_string()),
                });
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => {}
            _ = stopped(&mut stop) => {
                let _ = state.send(RegistrationState::Stopped);
                return;
            }
        }
    }
}

/// Registers once and keeps the lease alive; `Ok` after a graceful stop,
/// `Err` when the lease or the connection is lost.
async fn register_round(
    target: &EtcdTarget,
    ttl: Duration,
    record: &mut watch::Receiver<WorkerRecord>,
    stop: &mut watch::Receiver<bool>,
    state: &watch::Sender<RegistrationState>,
    backoff: &mut Backoff,
) -> Result<(), EtcdError> {
    let mut client = target.connect().await?;
    let ttl_secs = ttl.as_secs().max(1) as i64;
    let lease = timed("grant lease", client.lease_grant(ttl_secs, None))
        .await?
        .id();
    let current = record.borrow_and_update().clone();
    let key = worker_key(&current.cluster, &current.id);
    let put = |client: &mut etcd_client::Client, record: &WorkerRecord| {
        let value = serde_json::to_vec(record).expect("a worker record serializes");
        let mut client = client.clone();
        let key = key.clone();
        async move {
            timed(
                "register",
                client.put(key, value, Some(PutOptions::new().with_lease(lease))),
            )
            .await
        }
    };
    put(&mut client, &current).await?;
    let (mut keeper, mut responses) =
        timed("keep lease alive", client.lease_keep_alive(lease)).await?;
    let _ = state.send(RegistrationState::Registered { lease });
    tracing::info!(key, lease, ttl = ?ttl, "worker registered");
    backoff.reset();

    // Renew three times per TTL, so that one lost renewal does not expire the lease.
    let mut renew = tokio::time::interval(ttl / 3);
    renew.tick().await;
    loop {
        tokio::select! {
            _ = renew.tick() => {
                timed("renew lease", keeper.keep_alive()).await?;
                match tokio::time::timeout(ttl / 3, responses.message()).await {
                    Ok(Ok(Some(response))) if response.ttl() > 0 => {}
                    Ok(Ok(Some(_))) => return Err(EtcdError::Ended(format!("lease {lease} expired"))),
                    Ok(Ok(None)) => return Err(EtcdError::Ended("lease keepalive stream closed".into())),
                    Ok(Err(source)) => return Err(EtcdError::Request { what: "renew lease", source }),
                    Err(_) => return Err(EtcdError::Ended(format!("renew lease: no answer within {:?}", ttl / 3))),
                }
            }
            changed = record.changed() => {
                if changed.is_err() {
                    // The worker dropped its record: treat as a stop.
                    let _ = stop_now(&mut client, &key, lease).await;
                    return Ok(());
                }
                let current = record.borrow_and_update().clone();
                put(&mut client, &current).await?;
            }
            _ = stopped(stop) => {
                stop_now(&mut client, &key, lease).await?;
                tracing::info!(key, "worker deregistered");
                return Ok(());
            }
        }
    }
}

async fn stop_now(
    client: &mut etcd_client::Client,
    key: &str,
    lease: i64,
) -> Result<(), EtcdError> {
    timed("deregister", client.delete(key, None)).await?;
    timed("revoke lease", client.lease_revoke(lease)).await?;
    Ok(())
}

/// Resolves once a stop has been asked for (never, if the sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}
