//! Connecting to one group's etcd, with the timeouts and credentials every
//! caller needs, and the backoff used between attempts.

use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use crate::config::{EtcdAccess, EtcdCredentials};
use crate::security::TlsSettings;

/// How to reach one etcd cluster.
#[derive(Clone, Debug)]
pub struct EtcdTarget {
    /// Its endpoints (`http://host:port`).
    pub endpoints: Vec<String>,
    /// `alluxio.etcd.username` / `.password`.
    pub credentials: Option<EtcdCredentials>,
    /// `azimuth.etcd.tls.*`, used when the endpoints are `https://`.
    pub tls: Option<TlsSettings>,
}

/// Longest a connection attempt or a single request may take. Requests are
/// tiny; anything slower means etcd is not answering.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Why an etcd request failed: what was being done, and how it failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// etcd answered with an error, or the connection failed.
    #[error("{what}: {source}")]
    Request {
        /// What was being done (`connect`, `read workers`, ...).
        what: &'static str,
        /// What the etcd client said.
        #[source]
        source: etcd_client::Error,
    },
    /// No answer within [`REQUEST_TIMEOUT`].
    #[error("{what}: no answer within {REQUEST_TIMEOUT:?}")]
    Timeout {
        /// What was being done.
        what: &'static str,
    },
    /// A watch or a lease ended: etcd canceled, closed or expired it.
    #[error("{0}")]
    Ended(String),
}

impl EtcdTarget {
    /// A target at `endpoints`, reached with the site's etcd access.
    pub fn new(endpoints: &[String], access: &EtcdAccess) -> Self {
        Self {
            endpoints: endpoints.to_vec(),
            credentials: access.credentials.clone(),
            tls: access.tls.clone(),
        }
    }

    /// Connects (lazily verified by the first request), within [`REQUEST_TIMEOUT`].
    pub async fn connect(&self) -> Result<Client, EtcdError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(REQUEST_TIMEOUT)
            // HTTP/2 pings notice a dead peer even while only a watch is open.
            .with_keep_alive(Duration::from_secs(1), REQUEST_TIMEOUT)
            .with_keep_alive_while_idle(true);
        if let Some(credentials) = &self.credentials {
            options = options.with_user(&credentials.user, credentials.password());
        }
        let https = self.endpoints.iter().any(|e| e.starts_with("https://"));
        if let (true, Some(tls)) = (https, &self.tls) {
            let mut config = TlsOptions::new().ca_certificate(Certificate::from_pem(tls.ca.pem()));
            if let Some((cert, key)) = &tls.identity {
                config = config.identity(Identity::from_pem(cert.pem(), key.pem()));
            }
            options = options.with_tls(config);
        }
        timed("connect", Client::connect(&self.endpoints, Some(options))).await
    }

    /// Whether etcd refuses this target's credentials: connects once and
    /// reports an authentication failure as [`CredentialsRefused`]. Any
    /// other outcome (etcd down or slow included) is `Ok`: those are retried
    /// by whoever follows etcd, while a wrong password would be refused
    /// forever, so a process should stop at once and say so.
    pub async fn check_credentials(&self) -> Result<(), CredentialsRefused> {
        let Some(credentials) = &self.credentials else {
            return Ok(());
        };
        match self.connect().await {
            Err(EtcdError::Request { source, .. }) if is_auth_failure(&source) => {
                Err(CredentialsRefused {
                    user: credentials.user.clone(),
                    endpoints: self.describe(),
                    why: auth_message(&source),
                })
            }
            _ => Ok(()),
        }
    }

    /// The endpoints, comma-separated, for messages.
    pub fn describe(&self) -> String {
        self.endpoints.join(",")
    }
}

/// etcd refused a process's user name and password.
#[derive(Debug, thiserror::Error)]
#[error(
    "etcd at {endpoints} refused user {user:?}: {why} (check {}/{})",
    crate::config::ETCD_USERNAME,
    crate::config::ETCD_PASSWORD
)]
pub struct CredentialsRefused {
    /// The user (`alluxio.etcd.username`).
    pub user: String,
    /// The etcd endpoints.
    pub endpoints: String,
    /// What etcd said.
    pub why: String,
}

/// Whether etcd's answer says the credentials are wrong (or that it has no
/// authentication to check them against).
fn is_auth_failure(error: &etcd_client::Error) -> bool {
    match error {
        // Matched on etcd's words: its codes for these (InvalidArgument,
        // FailedPrecondition) also mean other things.
        etcd_client::Error::GRpcStatus(status) => {
            let message = status.message();
            message.contains("authentication failed")
                || message.contains("invalid user ID or password")
                || message.contains("user name is empty")
                || message.contains("authentication is not enabled")
        }
        _ => false,
    }
}

/// etcd's own words, without the transport's wrapping.
fn auth_message(error: &etcd_client::Error) -> String {
    match error {
        etcd_client::Error::GRpcStatus(status) => status.message().to_owned(),
        other => other.to_string(),
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

/// Runs `request` with [`REQUEST_TIMEOUT`], naming it `what` in errors.
pub async fn timed<T>(
    what: &'static str,
    request: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(EtcdError::Request { what, source }),
        Err(_) => Err(EtcdError::Timeout { what }),
    }
}
