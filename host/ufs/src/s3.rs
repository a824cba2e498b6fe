//! An S3-compatible store as the UFS, configured as Alluxio users configure
//! theirs (`s3a.accessKeyId`, `s3a.secretKey`, `alluxio.underfs.s3.endpoint`,
//! `alluxio.underfs.s3.endpoint.region`), or through the `AWS_*` variables
//! every S3 tool reads. Settings given here win over the variables.

use std::fmt;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path as StorePath;

/// Settings for an `s3://` UFS. Empty fields fall back to `AWS_*` variables.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// `s3a.accessKeyId`.
    pub access_key_id: Option<String>,
    /// `s3a.secretKey` (kept out of `Debug` output).
    pub secret_key: Option<String>,
    /// `alluxio.underfs.s3.endpoint`: the store's URL, for stores other
    /// than AWS (MinIO, Ceph, moto); `http://` endpoints are allowed.
    pub endpoint: Option<String>,
    /// `alluxio.underfs.s3.endpoint.region`.
    pub region: Option<String>,
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("access_key_id", &self.access_key_id)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<hidden>"))
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish()
    }
}

/// The store and prefix of `url`, or why they cannot be opened.
pub(crate) fn open(
    url: &str,
    options: &S3Options,
) -> Result<(Arc<dyn ObjectStore>, StorePath), String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    // object_store reads `aws_*` options; the environment's first, then ours.
    let mut settings: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let mut set = |key: &str, value: &Option<String>| {
        if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
            settings.push((key.to_owned(), value.clone()));
        }
    };
    set("aws_access_key_id", &options.access_key_id);
    set("aws_secret_access_key", &options.secret_key);
    set("aws_endpoint", &options.endpoint);
    set("aws_region", &options.region);
    let endpoint = settings
        .iter()
        .rev()
        .find(|(k, _)| k == "aws_endpoint" || k == "aws_endpoint_url")
        .map(|(_, v)| v.clone());
    if endpoint.is_some_and(|e| e.starts_with("http://")) {
        settings.push(("aws_allow_http".into(), "true".into()));
    }
    let (store, prefix) =
        object_store::parse_url_opts(&parsed, settings).map_err(|e| e.to_string())?;
    Ok((Arc::from(store), prefix))
}

#[cfg(test)]
mod tests {
    use super::S3Options;

    #[test]
    fn the_secret_key_stays_out_of_debug_output() {
        let options = S3Options {
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_key: Some("wJalrXUtnFEMI-secret".into()),
            ..S3Options::default()
        };
        let shown = format!("{options:?}");
        assert!(
            shown.contains("AKIDEXAMPLE") && !shown.contains("wJalrXUtnFEMI"),
            "{shown}"
        );
    }
}
