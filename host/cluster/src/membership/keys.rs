//! The etcd key layout. Documented in `host/cluster/docs/etcd-keys.md`; change both together.
//!
//! - `/ServiceDiscovery/<cluster>/<worker id>`: a live worker, leased (the
//!   layout of the system we implement, so its tools can read ours).
//! - `/azimuth/policies/<name>/meta` and `/azimuth/policies/<name>/wasm`: a
//!   published policy, written together in one transaction.
//!
//! Every prefix ends in `/`, so that a prefix watch on cluster `a` never
//! matches cluster `ab`: clusters that share an etcd never see each other's
//! keys by accident.

/// Checks a cluster, worker or policy name: 1 to 200 characters of
/// `A-Z a-z 0-9 . _ -`, so that it is one key segment and cannot escape its prefix.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 200 {
        return Err("must be 1 to 200 characters".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{bad:?} is not allowed (use letters, digits, '.', '_' and '-')"
        ));
    }
    if name == "." || name == ".." {
        return Err("must not be . or ..".into());
    }
    Ok(())
}

/// The prefix under which the workers of `cluster` register.
pub fn workers_prefix(cluster: &str) -> String {
    format!("/ServiceDiscovery/{cluster}/")
}

/// The key of one worker.
pub fn worker_key(cluster: &str, id: &str) -> String {
    format!("/ServiceDiscovery/{cluster}/{id}")
}

/// The prefix holding a published policy's keys.
pub fn policy_prefix(name: &str) -> String {
    format!("/azimuth/policies/{name}/")
}

/// The key of a published policy's metadata (JSON).
pub fn policy_meta_key(name: &str) -> String {
    format!("/azimuth/policies/{name}/meta")
}

/// The key of a published policy's component bytes.
pub fn policy_wasm_key(name: &str) -> String {
    format!("/azimuth/policies/{name}/wasm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_a_prefix_are_refused() {
        assert!(check_name("alx-ns-alluxio-a").is_ok());
        assert!(check_name("a/b").unwrap_err().contains("'/'"));
        assert!(check_name("..").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn cluster_prefixes_do_not_overlap() {
        assert!(!worker_key("ab", "w1").starts_with(&workers_prefix("a")));
    }
}
