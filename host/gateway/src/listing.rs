//! ListObjectsV2 and ListObjects (v1): a page at a time from the UFS, in key
//! order, with prefix, delimiter, max-keys (at most 1,000), start-after and
//! continuation tokens (v2), markers (v1) and `encoding-type=url`.
//!
//! Each request asks the UFS for one page and one entry more (to tell
//! whether the listing is truncated); nothing of a listing is kept between
//! requests. A continuation token is the last name returned, hex-encoded,
//! so any gateway of any zone can go on from it.

use azimuth_ufs::{ListQuery, Listed, UfsFile};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::{
    CommonPrefix, EncodingType, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, Object, ObjectStorageClass,
};
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::Inner;
use crate::names::no_such_bucket;
use crate::objects::ufs_error;

/// The largest page S3 returns.
const MAX_KEYS: i32 = 1000;

/// What `encoding-type=url` escapes: all but unreserved characters and `/`
/// (clients decode with `unquote_plus`, so a `+` must be escaped too).
const URL_ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// One page as both versions answer it.
struct Page {
    objects: Vec<UfsFile>,
    prefixes: Vec<String>,
    /// The last name (key or common prefix) returned, bucket-relative.
    last: Option<String>,
    truncated: bool,
}

/// Names in the answer, escaped when the request asked for `url`.
struct Encoder(bool);

impl Encoder {
    fn new(encoding: Option<&EncodingType>) -> S3Result<Self> {
        match encoding.map(EncodingType::as_str) {
            None => Ok(Encoder(false)),
            Some(EncodingType::URL) => Ok(Encoder(true)),
            Some(other) => Err(invalid_argument(format!(
                "encoding-type {other:?} is not supported (only url)"
            ))),
        }
    }

    fn name(&self, name: &str) -> String {
        if self.0 {
            utf8_percent_encode(name, URL_ENCODED).to_string()
        } else {
            name.to_owned()
        }
    }

    fn opt(&self, name: Option<&String>) -> Option<String> {
        name.map(|n| self.name(n))
    }
}

fn invalid_argument(message: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message)
}

/// `max-keys` as asked, capped at [`MAX_KEYS`].
fn max_keys(asked: Option<i32>) -> S3Result<i32> {
    match asked {
        None => Ok(MAX_KEYS),
        Some(n) if n < 0 => Err(invalid_argument(format!(
            "max-keys must not be negative ({n})"
        ))),
        Some(n) => Ok(n.min(MAX_KEYS)),
    }
}

impl Inner {
    /// One page of `bucket`, keys starting with `prefix`, after `after`.
    async fn page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        limit: i32,
    ) -> S3Result<Page> {
        let ufs = self.metadata.ufs();
        if crate::RESERVED_BUCKETS.contains(&bucket)
            || !ufs.has_top_level_dir(bucket).await.map_err(ufs_error)?
        {
            return Err(no_such_bucket(bucket));
        }
        let mut page = Page {
            objects: Vec::new(),
            prefixes: Vec::new(),
            last: None,
            truncated: false,
        };
        if limit == 0 {
            return Ok(page);
        }
        let root = format!("{bucket}/");
        let (prefix, after) = (
            format!("{root}{prefix}"),
            after.map(|a| format!("{root}{a}")),
        );
        let listed = ufs
            .list_page(&ListQuery {
                prefix: &prefix,
                delimiter: delimiter.filter(|d| !d.is_empty()),
                after: after.as_deref(),
                limit: limit as usize,
            })
            .await
            .map_err(ufs_error)?;
        page.truncated = listed.truncated;
        page.last = listed
            .entries
            .last()
            .map(|e| e.name()[root.len()..].to_owned());
        for entry in listed.entries {
            match entry {
                Listed::Object(mut file) => {
                    file.path.drain(..root.len());
                    page.objects.push(file);
                }
                Listed::Prefix(p) => page.prefixes.push(p[root.len()..].to_owned()),
            }
        }
        Ok(page)
    }

    pub(crate) async fn list_objects_v2(
        &self,
        input: &ListObjectsV2Input,
    ) -> S3Result<ListObjectsV2Output> {
        let encoder = Encoder::new(input.encoding_type.as_ref())?;
        let limit = max_keys(input.max_keys)?;
        let token = match &input.continuation_token {
            Some(token) => Some(
                hex::decode(token)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| {
                        invalid_argument("the continuation token provided is incorrect".into())
                    })?,
            ),
            None => None,
        };
        let after = token.as_deref().or(input.start_after.as_deref());
        let prefix = input.prefix.as_deref().unwrap_or("");
        let page = self
            .page(
                &input.bucket,
                prefix,
                input.delimiter.as_deref(),
                after,
                limit,
            )
            .await?;
        let key_count = (page.objects.len() + page.prefixes.len()) as i32;
        Ok(ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            prefix: Some(encoder.name(prefix)),
            max_keys: Some(limit),
            key_count: Some(key_count),
            continuation_token: input.continuation_token.clone(),
            is_truncated: Some(page.truncated),
            next_continuation_token: page
                .last
                .as_ref()
                .filter(|_| page.truncated)
                .map(hex::encode),
            contents: Some(contents(&page.objects, &encoder)),
            common_prefixes: Some(common_prefixes(&page.prefixes, &encoder)),
            delimiter: encoder.opt(input.delimiter.as_ref()),
            encoding_type: input.encoding_type.clone(),
            start_after: encoder.opt(input.start_after.as_ref()),
            ..ListObjectsV2Output::default()
        })
    }

    pub(crate) async fn list_objects(
        &self,
        input: &ListObjectsInput,
    ) -> S3Result<ListObjectsOutput> {
        let encoder = Encoder::new(input.encoding_type.as_ref())?;
        let limit = max_keys(input.max_keys)?;
        let prefix = input.prefix.as_deref().unwrap_or("");
        let page = self
            .page(
                &input.bucket,
                prefix,
                input.delimiter.as_deref(),
                input.marker.as_deref().filter(|m| !m.is_empty()),
                limit,
            )
            .await?;
        // S3 gives NextMarker only with a delimiter; without one, clients
        // go on from the last key.
        let next_marker = page.last.as_ref().filter(|_| {
            page.truncated && input.delimiter.as_deref().is_some_and(|d| !d.is_empty())
        });
        Ok(ListObjectsOutput {
            name: Some(input.bucket.clone()),
            prefix: Some(encoder.name(prefix)),
            marker: Some(encoder.name(input.marker.as_deref().unwrap_or(""))),
            max_keys: Some(limit),
            is_truncated: Some(page.truncated),
            contents: Some(contents(&page.objects, &encoder)),
            common_prefixes: Some(common_prefixes(&page.prefixes, &encoder)),
            delimiter: encoder.opt(input.delimiter.as_ref()),
            next_marker: encoder.opt(next_marker),
            encoding_type: input.encoding_type.clone(),
            ..ListObjectsOutput::default()
        })
    }
}

fn contents(objects: &[UfsFile], encoder: &Encoder) -> Vec<Object> {
    objects
        .iter()
        .map(|file| Object {
            key: Some(encoder.name(&file.path)),
            size: Some(file.length as i64),
            e_tag: Some(s3s::dto::ETag::Strong(file.etag().to_owned())),
            last_modified: Some(s3s::dto::Timestamp::from(
                std::time::SystemTime::UNIX_EPOCH
                    + std::time::Duration::from_millis(
                        u64::try_from(file.modified_ms).unwrap_or(0),
                    ),
            )),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            ..Object::default()
        })
        .collect()
}

fn common_prefixes(prefixes: &[String], encoder: &Encoder) -> Vec<CommonPrefix> {
    prefixes
        .iter()
        .map(|p| CommonPrefix {
            prefix: Some(encoder.name(p)),
        })
        .collect()
}
