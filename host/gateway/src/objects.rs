//! HeadObject and GetObject.
//!
//! An object's ETag and Last-Modified are its UFS version's
//! (`UfsFile::etag`, the modification time), known from the UFS within
//! `alluxio.user.file.metadata.sync.interval`, so they are the same
//! whichever zone serves. A GET reads exactly that version: the read names
//! it, a source with another version is skipped, and if the version turns
//! out to have changed before the first byte the gateway learns the new one
//! and starts again (or answers 412 to an `If-Match` of the old one). Once
//! bytes are sent, a read that cannot go on ends the response short; it
//! never goes on with bytes of another version.
//!
//! Conditions follow S3: `If-Match` (412) overrides `If-Unmodified-Since`;
//! `If-None-Match` (304) overrides `If-Modified-Since`; dates compare to the
//! second.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use azimuth_client::ReadOptions;
use azimuth_ufs::UfsFile;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use s3s::dto::{
    ETag, ETagCondition, GetObjectInput, GetObjectOutput, HeadObjectInput, HeadObjectOutput, Range,
    StreamingBlob, Timestamp,
};
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::Inner;
use crate::names::{no_such_bucket, no_such_key, object_path};

/// Objects (or ranges) up to this size are read whole before they are
/// answered; larger ones stream. Bounds what one request holds to 1 MiB.
const WHOLE_READ: u64 = 1 << 20;

/// The conditions of a HEAD or GET.
pub(crate) struct Conditions<'a> {
    pub(crate) if_match: Option<&'a ETagCondition>,
    pub(crate) if_none_match: Option<&'a ETagCondition>,
    pub(crate) if_modified_since: Option<&'a Timestamp>,
    pub(crate) if_unmodified_since: Option<&'a Timestamp>,
}

/// Whether `condition` names `etag` (`*` names every object).
fn names(condition: &ETagCondition, etag: &str) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(tag) => tag.value() == etag,
    }
}

/// `timestamp` as whole seconds since the Unix epoch.
fn seconds(timestamp: &Timestamp) -> i64 {
    time::OffsetDateTime::from(timestamp.clone()).unix_timestamp()
}

impl Conditions<'_> {
    /// 412 or 304 when a condition says so, for an object of `file`
    /// whose ETag is `etag`.
    fn check(&self, file: &UfsFile, etag: &str) -> S3Result<()> {
        let modified = file.modified_ms.div_euclid(1000);
        match (self.if_match, self.if_unmodified_since) {
            (Some(condition), _) if !names(condition, etag) => {
                return Err(precondition_failed("If-Match", etag));
            }
            (None, Some(since)) if modified > seconds(since) => {
                return Err(precondition_failed("If-Unmodified-Since", etag));
            }
            _ => {}
        }
        match (self.if_none_match, self.if_modified_since) {
            (Some(condition), _) if names(condition, etag) => Err(not_modified()),
            (None, Some(since)) if modified <= seconds(since) => Err(not_modified()),
            _ => Ok(()),
        }
    }
}

fn precondition_failed(header: &str, etag: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::PreconditionFailed,
        format!("{header} does not hold: the object's ETag is \"{etag}\""),
    )
}

fn not_modified() -> S3Error {
    S3Error::new(S3ErrorCode::NotModified)
}

/// The object's ETag and modification time as S3 gives them.
fn etag_of(file: &UfsFile) -> ETag {
    ETag::Strong(file.etag().to_owned())
}

fn last_modified(file: &UfsFile) -> Timestamp {
    let ms = u64::try_from(file.modified_ms).unwrap_or(0);
    Timestamp::from(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

impl Inner {
    /// The object `key` of `bucket` as the UFS knows it now (within the
    /// sync interval): `NoSuchKey`, or `NoSuchBucket` when the bucket is
    /// not a top-level directory.
    async fn object(&self, bucket: &str, key: &str) -> S3Result<(String, Arc<UfsFile>)> {
        let path = object_path(bucket, key)?;
        match self.metadata.head(&path).await {
            Ok(Some(file)) => Ok((path, file)),
            Ok(None) => match self.metadata.ufs().has_top_level_dir(bucket).await {
                Ok(false) => Err(no_such_bucket(bucket)),
                _ => Err(no_such_key(bucket, key)),
            },
            Err(e) => Err(ufs_error(e)),
        }
    }

    pub(crate) async fn head_object(&self, input: &HeadObjectInput) -> S3Result<HeadObjectOutput> {
        let (_, file) = self.object(&input.bucket, &input.key).await?;
        Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&file, file.etag())?;
        let (_, length, range) = byte_range(input.range.as_ref(), &file)?;
        Ok(HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some(length as i64),
            content_range: range,
            content_type: Some("application/octet-stream".into()),
            e_tag: Some(etag_of(&file)),
            last_modified: Some(last_modified(&file)),
            ..HeadObjectOutput::default()
        })
    }

    pub(crate) async fn get_object(&self, input: &GetObjectInput) -> S3Result<GetObjectOutput> {
        let read = self
            .read_object(ObjectRequest {
                bucket: &input.bucket,
                key: &input.key,
                range: input.range.as_ref(),
                conditions: Conditions {
                    if_match: input.if_match.as_ref(),
                    if_none_match: input.if_none_match.as_ref(),
                    if_modified_since: input.if_modified_since.as_ref(),
                    if_unmodified_since: input.if_unmodified_since.as_ref(),
                },
            })
            .await?;
        let body = match read.body {
            ObjectBody::Empty => {
                StreamingBlob::wrap(futures::stream::empty::<Result<Bytes, std::io::Error>>())
            }
            ObjectBody::Whole(whole) => {
                StreamingBlob::wrap(futures::stream::iter([Ok::<_, std::io::Error>(whole)]))
            }
            ObjectBody::Stream(first, rest) => StreamingBlob::wrap(
                futures::stream::iter([Ok(first)]).chain(rest.map_err(std::io::Error::other)),
            ),
        };
        Ok(GetObjectOutput {
            accept_ranges: Some("bytes".into()),
            body: Some(body),
            content_length: Some(read.length as i64),
            content_range: read.content_range,
            content_type: Some("application/octet-stream".into()),
            e_tag: Some(etag_of(&read.file)),
            last_modified: Some(last_modified(&read.file)),
            ..GetObjectOutput::default()
        })
    }

    /// The object a GET asks for, its bytes started: what both the s3s
    /// operation and the hot path (`fast`) answer with.
    pub(crate) async fn read_object(&self, request: ObjectRequest<'_>) -> S3Result<ObjectRead> {
        // Twice at most: once with what the gateway knew, once more after
        // learning that the object changed.
        for fresh in [false, true] {
            let (path, file) = self.object(request.bucket, request.key).await?;
            request.conditions.check(&file, file.etag())?;
            let (start, length, content_range) = byte_range(request.range, &file)?;
            let options = ReadOptions {
                etag: Some(file.etag().to_owned()),
                quiet: true,
            };
            let read = if length == 0 {
                Ok(ObjectBody::Empty)
            } else if length <= WHOLE_READ {
                // Read on this task, in one piece: a small object pays no
                // task hop nor channel on its way through.
                let (read, _) = self
                    .client
                    .read_all_with(&path, start, Some(length), options)
                    .await;
                read.map(ObjectBody::Whole)
            } else {
                let mut stream = self.client.read_with(&path, start, Some(length), options);
                // The first chunk decides the status: a read that fails
                // before any byte can still be answered with an error.
                match stream.next().await {
                    Some(Ok(first)) => Ok(ObjectBody::Stream(first, stream)),
                    Some(Err(error)) => Err(error),
                    None => Ok(ObjectBody::Empty),
                }
            };
            match read {
                Ok(body) => {
                    return Ok(ObjectRead {
                        body,
                        length,
                        content_range,
                        file,
                    });
                }
                Err(error @ azimuth_client::ReadError::Rejected { .. }) => {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        error.to_string(),
                    ));
                }
                Err(error) => {
                    // Perhaps the object changed: ask the UFS again.
                    self.metadata.forget(&path);
                    if !fresh {
                        tracing::info!(path, %error, "no source has the version known; asking the UFS again");
                        continue;
                    }
                    return Err(S3Error::with_message(
                        S3ErrorCode::ServiceUnavailable,
                        error.to_string(),
                    ));
                }
            }
        }
        unreachable!("the loop returns on its second turn")
    }
}

/// What a GET names: an object, a range of it, and conditions.
pub(crate) struct ObjectRequest<'a> {
    pub(crate) bucket: &'a str,
    pub(crate) key: &'a str,
    pub(crate) range: Option<&'a Range>,
    pub(crate) conditions: Conditions<'a>,
}

/// A GET's answer: the bytes, started, and the headers S3 gives them.
pub(crate) struct ObjectRead {
    pub(crate) body: ObjectBody,
    /// Bytes in the body.
    pub(crate) length: u64,
    /// `Content-Range` of a ranged answer (a 206).
    pub(crate) content_range: Option<String>,
    /// The version read: its ETag and Last-Modified are the answer's.
    pub(crate) file: Arc<UfsFile>,
}

/// A GET's bytes: none, one piece read whole, or a first chunk and a
/// stream of the rest.
pub(crate) enum ObjectBody {
    Empty,
    Whole(Bytes),
    Stream(Bytes, azimuth_client::ReadStream),
}

/// The bytes a `Range` selects of `file`: the first, their count, and the
/// `Content-Range` of a ranged answer. `InvalidRange` when it selects none.
fn byte_range(range: Option<&Range>, file: &UfsFile) -> S3Result<(u64, u64, Option<String>)> {
    let Some(range) = range else {
        return Ok((0, file.length, None));
    };
    match range.check(file.length) {
        Ok(r) => Ok((
            r.start,
            r.end - r.start,
            Some(format!("bytes {}-{}/{}", r.start, r.end - 1, file.length)),
        )),
        Err(_) => Err(S3Error::with_message(
            S3ErrorCode::InvalidRange,
            format!(
                "the range {} selects no byte of the object ({} bytes)",
                range.to_header_string(),
                file.length
            ),
        )),
    }
}

/// A UFS failure as S3 says it: the request's fault (a key the UFS cannot
/// hold) is the client's error, anything else the service's.
pub(crate) fn ufs_error(e: azimuth_ufs::UfsError) -> S3Error {
    let code = if e.is_request_fault() {
        S3ErrorCode::InvalidArgument
    } else {
        S3ErrorCode::ServiceUnavailable
    };
    S3Error::with_message(code, e.to_string())
}
