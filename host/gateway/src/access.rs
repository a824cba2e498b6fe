//! Who may read through the gateway: requests signed (SigV4, in headers or
//! a presigned URL) with a key of `azimuth.gateway.credentials.file`, and
//! unsigned ones only with `azimuth.gateway.anonymous.read=true`. s3s checks
//! the signature; a wrong secret is `SignatureDoesNotMatch`, an unknown key
//! `InvalidAccessKeyId`, an unsigned request without anonymous reads
//! `AccessDenied`. Secrets are never logged: neither type prints one.

use azimuth_cluster::config::GatewayKeys;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Error, S3ErrorCode, S3Result};

/// The keys requests may be signed with.
pub(crate) struct Keys(Option<GatewayKeys>);

impl Keys {
    pub(crate) fn new(keys: Option<GatewayKeys>) -> Self {
        Self(keys)
    }
}

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.as_ref().and_then(|keys| keys.secret(access_key)) {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => Err(S3Error::with_message(
                S3ErrorCode::InvalidAccessKeyId,
                format!("the access key {access_key:?} is not one of this gateway's"),
            )),
        }
    }
}

/// Signed requests pass (s3s has verified them); unsigned ones only when
/// anonymous reads are on. Writes never reach here as anything but
/// `NotImplemented`: the gateway implements reads only.
pub(crate) struct ReadOnly {
    pub(crate) anonymous_read: bool,
}

#[async_trait::async_trait]
impl S3Access for ReadOnly {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_some() || self.anonymous_read {
            return Ok(());
        }
        Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "anonymous requests are refused: sign with a key of azimuth.gateway.credentials.file, \
             or set azimuth.gateway.anonymous.read=true",
        ))
    }
}
