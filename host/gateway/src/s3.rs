//! The S3 operations the gateway serves; s3s answers every other one
//! (every write among them) with `NotImplemented`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use s3s::dto::{
    Bucket, GetBucketLocationInput, GetBucketLocationOutput, GetObjectInput, GetObjectOutput,
    HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListBucketsInput,
    ListBucketsOutput, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, Timestamp,
};
use s3s::{S3, S3Request, S3Response, S3Result};

use crate::Inner;
use crate::names::no_such_bucket;
use crate::objects::ufs_error;

/// The gateway as s3s calls it.
pub(crate) struct S3Api(Arc<Inner>);

impl S3Api {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self(inner)
    }
}

#[async_trait::async_trait]
impl S3 for S3Api {
    async fn list_buckets(
        &self,
        _: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let dirs = self
            .0
            .metadata
            .ufs()
            .top_level_dirs()
            .await
            .map_err(ufs_error)?;
        let ufs = self.0.metadata.ufs();
        let buckets = dirs
            .into_iter()
            .filter(|d| !crate::RESERVED_BUCKETS.contains(&d.as_str()))
            .map(|name| {
                // Clients expect a creation date; a directory's change time
                // is the nearest, and an object store has none (the epoch).
                let ms = ufs.dir_modified_ms(&name).unwrap_or(0).max(0) as u64;
                Bucket {
                    creation_date: Some(Timestamp::from(
                        SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
                    )),
                    name: Some(name),
                    ..Bucket::default()
                }
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..ListBucketsOutput::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let bucket = &req.input.bucket;
        let exists = !crate::RESERVED_BUCKETS.contains(&bucket.as_str())
            && self
                .0
                .metadata
                .ufs()
                .has_top_level_dir(bucket)
                .await
                .map_err(ufs_error)?;
        if !exists {
            return Err(no_such_bucket(bucket));
        }
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let bucket = &req.input.bucket;
        if !self
            .0
            .metadata
            .ufs()
            .has_top_level_dir(bucket)
            .await
            .map_err(ufs_error)?
        {
            return Err(no_such_bucket(bucket));
        }
        // No constraint: us-east-1, where clients sign by default.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        Ok(S3Response::new(self.0.list_objects_v2(&req.input).await?))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        Ok(S3Response::new(self.0.list_objects(&req.input).await?))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        Ok(S3Response::new(self.0.head_object(&req.input).await?))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        Ok(S3Response::new(self.0.get_object(&req.input).await?))
    }
}
