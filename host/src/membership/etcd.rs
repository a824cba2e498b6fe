//! Connecting to one group's etcd, with the timeouts and credentials every
//! caller needs, and the backoff used between attempts.

use std::time::Duration;

use etcd_client::{Client, ConnectOptions};

/// How to reach one etcd cluster.
#[derive(Clone, Debug)]
pub struct EtcdTarget {
    /// Its endpoints (`http://host:port`).
    pub endpoints: Vec<String>,
    /// `alluxio.etcd.username` / `.password`.
    pub credentials: Option<(String, String)>,
}

/// Longest a connection attempt or a single request may take. Requests are
/// tiny; anything slower means etcd is not answering.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

impl EtcdTarget {
    /// Connects (lazily verified by the first request).
    pub async fn connect(&self) -> Result<Client, etcd_client::Error> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(REQUEST_TIMEOUT)
            // HTTP/2 pings notice a dead peer even while only a watch is open.
            .with_keep_alive(Duration::from_secs(1), REQUEST_TIMEOUT)
            .with_keep_alive_while_idle(true);
        if let Some((user, password)) = &self.credentials {
            options = options.with_user(user, password);
        }
        Client::connect(&self.endpoints, Some(options)).await
    }

    /// The endpoints, comma-separated, for messages.
    pub fn describe(&self) -> String {
        self.endpoints.join(",")
    }
}

/// Exponential backoff with jitter, from 100 ms to 3 s.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: Duration::from_millis(100),
        }
    }
}

impl Backoff {
    /// The delay before the next attempt; each call doubles the next one.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(3));
        // Up to +50 % jitter so that many hosts do not retry in step.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        base + base.mul_f64(f64::from(nanos % 1000) / 2000.0)
    }

    /// Back to the shortest delay after a success.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Runs `request` with [`REQUEST_TIMEOUT`], turning a timeout into an error.
pub async fn timed<T>(
    what: &str,
    request: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {REQUEST_TIMEOUT:?}")),
    }
}
