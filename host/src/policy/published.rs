//! Policies distributed through etcd: `azimuth policy publish` stores a
//! component under a name, and every host configured with
//! `azimuth.policy.name` follows that name through a watch and swaps to each
//! new version without restart.
//!
//! The component and its metadata (with its sha256) are written in one
//! transaction. A follower refuses a component whose bytes do not hash to the
//! published sha256, or that fails to load; the policy it was running stays
//! active either way.

use std::time::Duration;

use etcd_client::{GetOptions, Txn, TxnOp, WatchOptions};
use serde::{Deserialize, Serialize};

use super::component::sha256_hex;
use super::engine::PolicyEngine;
use crate::membership::etcd::{Backoff, EtcdTarget, timed};
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

/// Stores `wasm` under `name` in `target` in one transaction. The caller
/// validates the component first.
pub async fn publish(
    target: &EtcdTarget,
    name: &str,
    wasm: &[u8],
    source: &str,
) -> Result<PublishedMeta, String> {
    if wasm.len() > MAX_PUBLISHED_SIZE {
        return Err(format!(
            "the component is {} bytes; etcd takes at most {MAX_PUBLISHED_SIZE}",
            wasm.len()
        ));
    }
    let meta = PublishedMeta {
        sha256: sha256_hex(wasm),
        size: wasm.len() as u64,
        published_at_ms: now_ms(),
        source: source.to_owned(),
    };
    let mut client = timed("connect", target.connect()).await?;
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

/// Reads the policy published under `name`, if any; `Err` names what is wrong
/// with it when it is there but unusable.
pub async fn fetch(
    client: &mut etcd_client::Client,
    name: &str,
) -> Result<(i64, Option<Result<Published, String>>), String> {
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
    let published = match (meta, wasm) {
        (None, None) => None,
        (Some(meta), Some(wasm)) => Some(parse(name, &meta, wasm)),
        _ => Some(Err(format!(
            "policy {name:?} is half written (meta or wasm key missing)"
        ))),
    };
    Ok((revision, published))
}

fn parse(name: &str, meta: &[u8], wasm: Vec<u8>) -> Result<Published, String> {
    let meta: PublishedMeta = serde_json::from_slice(meta)
        .map_err(|e| format!("policy {name:?}: metadata is not valid: {e}"))?;
    let actual = sha256_hex(&wasm);
    if actual != meta.sha256 {
        return Err(format!(
            "policy {name:?}: the component's bytes hash to {actual}, but its metadata says {}",
            meta.sha256
        ));
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
) -> String {
    let mut client = match timed("connect", target.connect()).await {
        Ok(client) => client,
        Err(e) => return e,
    };
    let mut revision = match fetch(&mut client, name).await {
        Ok((revision, published)) => {
            apply(engine, name, published);
            revision
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
                    return format!("watch canceled by etcd: {}", response.cancel_reason());
                }
                Ok(Some(response)) => {
                    let newest = response.events().iter().filter_map(|e| e.kv()).map(|kv| kv.mod_revision()).max();
                    if newest.is_some_and(|r| r > revision) {
                        // Re-read both keys together rather than applying events one by one.
                        match fetch(&mut client, name).await {
                            Ok((r, published)) => { revision = r; apply(engine, name, published); }
                            Err(e) => return e,
                        }
                    }
                }
                Ok(None) => return "watch stream closed by etcd".into(),
                Err(e) => return format!("watch: {e}"),
            },
            _ = probe.tick() => {
                if let Err(e) = timed("probe", client.status()).await {
                    return e;
                }
            }
        }
    }
}

fn apply(engine: &PolicyEngine, name: &str, published: Option<Result<Published, String>>) {
    let active = engine.active();
    match published {
        None => {
            tracing::info!(policy = name, active = %active.sha256, "nothing published under this name yet; the active policy stays")
        }
        Some(Err(error)) => {
            tracing::error!(policy = name, active = %active.sha256, %error, "refusing the published policy; the active policy stays")
        }
        Some(Ok(p)) if p.meta.sha256 == active.sha256 => {}
        Some(Ok(p)) => match engine.load(&p.wasm, &format!("etcd policy {name}")) {
            Ok(component) => {
                let id = engine.swap(component);
                tracing::info!(policy = name, sha256 = %id.sha256, "swapped to the published policy");
            }
            Err(error) => {
                tracing::error!(policy = name, sha256 = %p.meta.sha256, active = %active.sha256, %error, "refusing the published policy: it does not load; the active policy stays")
            }
        },
    }
}
