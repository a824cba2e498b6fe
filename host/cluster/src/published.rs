//! Policies distributed through etcd: `azimuth policy publish` stores a
//! component under a name, and every host configured with
//! `azimuth.policy.name` follows that name through a watch and swaps to each
//! new version without restart.
//!
//! The component and its metadata (with its sha256) are written in one
//! transaction. A follower refuses a component whose bytes do not hash to the
//! published sha256, or that fails to load; the policy it was running stays
//! active either way, and the refusal is counted by its engine.

use std::time::Duration;

use azimuth_policy::{PolicyEngine, sha256_hex};
use etcd_client::{GetOptions, Txn, TxnOp, WatchOptions};
use serde::{Deserialize, Serialize};

use crate::etcd::{Backoff, EtcdError, EtcdTarget, timed};
use crate::membership::keys::{policy_meta_key, policy_prefix, policy_wasm_key};
use crate::membership::view::now_ms;

/// The largest component `publish` accepts: etcd refuses requests over
/// 1.5 MiB by default, and a policy is normally tens of KiB.
pub const MAX_PUBLISHED_SIZE: usize = 1_400_000;

/// What is stored next to a published component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedMeta {
    /// The sha256 of the component's bytes, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was published, ms since the Unix epoch.
    pub published_at_ms: u64,
    /// Where it came from (the file name given to `publish`).
    pub source: String,
}

/// A published policy as read back.
#[derive(Clone, Debug)]
pub struct Published {
    /// Its metadata.
    pub meta: PublishedMeta,
    /// The component bytes.
    pub wasm: Vec<u8>,
}

/// Why a component could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The component is larger than etcd takes.
    #[error("the component is {size} bytes; etcd takes at most {MAX_PUBLISHED_SIZE}")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// etcd failed.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
}

/// Why what is published under a name cannot be used; hosts refuse it and
/// keep the policy they run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// Only one of the two keys is there (a write was interrupted, or
    /// something other than `publish` wrote).
    #[error("policy {name:?} is half written (its meta or wasm key is missing)")]
    HalfWritten {
        /// The published name.
        name: String,
    },
    /// The metadata is not what `publish` writes.
    #[error("policy {name:?}: its metadata is not valid: {why}")]
    BadMeta {
        /// The published name.
        name: String,
        /// serde's message.
        why: String,
    },
    /// The bytes are not the ones published.
    #[error(
        "policy {name:?}: the component's bytes hash to {actual}, but its metadata says {claimed}"
    )]
    WrongHash {
        /// The published name.
        name: String,
        /// The sha256 of the bytes stored.
        actual: String,
        /// The sha256 the metadata claims.
        claimed: String,
    },
}

/// What is published under a name, at one etcd revision.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The etcd revision the read saw.
    pub revision: i64,
    /// Nothing, a usable policy, or why what is there is unusable.
    pub policy: Option<Result<Published, Unusable>>,
}

/// Stores `wasm` under `name` in `target` in one transaction. The caller
/// validates the component first.
pub async fn publish(
    target: &EtcdTarget,
    name: &str,
    wasm: &[u8],
    source: &str,
) -> Result<PublishedMeta, PublishError> {
    if wasm.len() > MAX_PUBLISHED_SIZE {
        return Err(PublishError::TooLarge { size: wasm.len() });
    }
    let meta = PublishedMeta {
        sha256: sha256_hex(wasm),
        size: wasm.len() as u64,
        published_at_ms: now_ms(),
        source: source.to_owned(),
    };
    let mut client = target.connect().await?;
    let txn = Txn::new().and_then([
        TxnOp::put(policy_wasm_key(name), wasm.to_vec(), None),
        TxnOp::put(
            policy_meta_key(name),
            serde_json::to_vec(&meta).expect("metadata serializes"),
            None,
        ),
    ]);
    timed("publish", client.txn(txn)).await?;
    Ok(meta)
}

/// Reads what is published under `name`.
pub async fn fetch(client: &mut etcd_client::Client, name: &str) -> Result<Fetched, EtcdError> {
    let response = timed(
        "read policy",
        client.get(policy_prefix(name), Some(GetOptions::new().with_prefix())),
    )
    .await?;
    let revision = response.header().map_or(0, |h| h.revision());
    let mut meta = None;
    let mut wasm = None;
    for kv in response.kvs() {
        if kv.key() == policy_meta_key(name).as_bytes() {
            meta = Some(kv.value().to_vec());
        } else if kv.key() == policy_wasm_key(name).as_bytes() {
            wasm = Some(kv.value().to_vec());
        }
    }
    let policy = match (meta, wasm) {
        (None, None) => None,
        (Some(meta), Some(wasm)) => Some(parse(name, &meta, wasm)),
        _ => Some(Err(Unusable::HalfWritten {
            name: name.to_owned(),
        })),
    };
    Ok(Fetched { revision, policy })
}

fn parse(name: &str, meta: &[u8], wasm: Vec<u8>) -> Result<Published, Unusable> {
    let meta: PublishedMeta = serde_json::from_slice(meta).map_err(|e| Unusable::BadMeta {
        name: name.to_owned(),
        why: e.to_string(),
    })?;
    let actual = sha256_hex(&wasm);
    if actual != meta.sha256 {
        return Err(Unusable::WrongHash {
            name: name.to_owned(),
            actual,
            claimed: meta.sha256,
        });
    }
    Ok(Published { meta, wasm })
}

/// Follows `name` in `target`: loads what is published now and every later
/// version, swapping each valid one into `engine`. Runs until aborted.
pub fn spawn_follow(
    engine: PolicyEngine,
    target: EtcdTarget,
    name: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Backoff::default();
        loop {
            let error = follow_round(&engine, &target, &name, &mut backoff).await;
            tracing::warn!(policy = name, etcd = %target.describe(), %error, "lost the published-policy watch; the active policy stays");
            tokio::time::sleep(backoff.next_delay()).await;
        }
    })
}

async fn follow_round(
    engine: &PolicyEngine,
    target: &EtcdTarget,
    name: &str,
    backoff: &mut Backoff,
) -> EtcdError {
    let mut client = match target.connect().await {
        Ok(client) => client,
        Err(e) => return e,
    };
    let mut revision = match fetch(&mut client, name).await {
        Ok(fetched) => {
            apply(engine, name, fetched.policy);
            fetched.revision
        }
        Err(e) => return e,
    };
    backoff.reset();
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision + 1);
    let mut stream = match timed("watch", client.watch(policy_prefix(name), Some(options))).await {
        Ok(stream) => stream,
        Err(e) => return e,
    };
    let mut probe = tokio::time::interval(Duration::from_secs(2));
    probe.tick().await;
    loop {
        tokio::select! {
            message = stream.message() => match message {
                Ok(Some(response)) if response.canceled() => {
                    return EtcdError::Ended(format!("watch canceled by etcd: {}", response.cancel_reason()));
                }
                Ok(Some(response)) => {
                    let newest = response.events().iter().filter_map(|e| e.kv()).map(|kv| kv.mod_revision()).max();
                    if newest.is_some_and(|r| r > revision) {
                        // Re-read both keys together rather than applying events one by one.
                        match fetch(&mut client, name).await {
                            Ok(fetched) => { revision = fetched.revision; apply(engine, name, fetched.policy); }
                            Err(e) => return e,
                        }
                    }
                }
                Ok(None) => return EtcdError::Ended("watch stream closed by etcd".into()),
                Err(source) => return EtcdError::Request { what: "watch", source },
            },
            _ = probe.tick() => {
                if let Err(e) = timed("probe", client.status()).await {
                    return e;
                }
            }
        }
    }
}

/// Swaps to what is published, if it is usable and not running already;
/// refuses it otherwise (logged and counted by the engine).
fn apply(engine: &PolicyEngine, name: &str, published: Option<Result<Published, Unusable>>) {
    let origin = format!("etcd policy {name}");
    let active = engine.active();
    match published {
        None => {
            tracing::info!(policy = name, active = %active.sha256, "nothing published under this name yet; the active policy stays")
        }
        Some(Err(unusable)) => engine.refuse(&origin, &unusable),
        Some(Ok(p)) if p.meta.sha256 == active.sha256 => {}
        Some(Ok(p)) => {
            if let Ok(id) = engine.compile_and_swap(&p.wasm, &origin) {
                tracing::info!(policy = name, sha256 = %id.sha256, "swapped to the published policy");
            }
        }
    }
}
