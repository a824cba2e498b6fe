//! Buckets and keys to UFS paths: a bucket is a top-level directory of the
//! UFS root, the key the rest of the path.
//!
//! A key that cannot name a UFS file — with an empty, `.` or `..` segment,
//! a leading or trailing `/`, a backslash or a control character — names
//! no object: such requests get `NoSuchKey`, as for any absent key (s3s has
//! already refused bucket names S3 would refuse).

use s3s::validation::NameValidation;
use s3s::{S3Error, S3ErrorCode};

/// S3's bucket-name rules exactly as s3s applies them
/// (`s3s::path::check_bucket_name`), for the hot path to parse paths with
/// (`s3s::path::parse_path_style_with_validation`). s3s's check ends by
/// parsing the name as an IP address (IPv4 and IPv6: 500 instructions of a
/// cached 4 KiB GetObject); only a name of digits and dots can be one
/// after its other rules, so only such a name is given to s3s's whole
/// check here.
pub(crate) struct BucketNames;

impl NameValidation for BucketNames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        let bytes = name.as_bytes();
        if bytes.iter().all(|&b| b.is_ascii_digit() || b == b'.') {
            return s3s::path::check_bucket_name(name);
        }
        let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        (3..64).contains(&bytes.len())
            && bytes
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && edge(bytes.first())
            && edge(bytes.last())
            && !name.contains("..")
            && !name.starts_with("xn--")
    }
}

/// The UFS path of `key` in `bucket`, or `NoSuchKey`.
pub(crate) fn object_path(bucket: &str, key: &str) -> Result<String, S3Error> {
    let valid = !key.is_empty()
        && !key.contains('\\')
        && !key.chars().any(char::is_control)
        && key.split('/').all(|s| !matches!(s, "" | "." | ".."));
    if !valid || crate::RESERVED_BUCKETS.contains(&bucket) {
        return Err(no_such_key(bucket, key));
    }
    // Pushed, not `format!`ed: this is on every GetObject (the formatter
    // costs a cached 4 KiB read 700 instructions).
    let mut path = String::with_capacity(bucket.len() + 1 + key.len());
    for piece in [bucket, "/", key] {
        path.push_str(piece);
    }
    Ok(path)
}

/// `NoSuchKey` for `key` of `bucket`.
pub(crate) fn no_such_key(bucket: &str, key: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchKey,
        format!("no object {key:?} in bucket {bucket:?}"),
    )
}

/// `NoSuchBucket` for `bucket`.
pub(crate) fn no_such_bucket(bucket: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchBucket,
        format!("no bucket {bucket:?}: buckets are the top-level directories of the UFS root"),
    )
}

#[cfg(test)]
mod tests {
    use super::{BucketNames, object_path};
    use s3s::validation::NameValidation;

    #[test]
    fn bucket_names_are_judged_as_s3s_judges_them() {
        let mut names: Vec<String> = [
            "",
            "ab",
            "abc",
            "data",
            "my-bucket",
            "my.bucket",
            "a..b",
            "a.-b",
            "-ab",
            "ab-",
            ".ab",
            "ab.",
            "Abc",
            "ab_c",
            "xn--abc",
            "xn-abc",
            "1.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "01.2.3.4",
            "123",
            "1.2.3.x",
            "::1",
            "ab:cd",
            "a b",
            "\u{e9}abc",
            "sthree-abc",
            "abc-s3alias",
        ]
        .map(String::from)
        .to_vec();
        names.push("a".repeat(63));
        names.push("a".repeat(64));
        // Every name of up to four characters over the alphabet that decides
        // (letters, digits, dot, hyphen, and one outside S3's).
        let alphabet = ['a', 'x', 'n', '0', '1', '.', '-', 'A', ':'];
        let mut shorter = vec![String::new()];
        for _ in 0..4 {
            shorter = shorter
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            names.extend(shorter.iter().cloned());
        }
        for name in &names {
            assert_eq!(
                BucketNames.validate_bucket_name(name),
                s3s::path::check_bucket_name(name),
                "{name:?}"
            );
        }
    }

    #[test]
    fn keys_that_cannot_name_a_ufs_file_name_no_object() {
        assert_eq!(object_path("data", "a/b.bin").unwrap(), "data/a/b.bin");
        assert_eq!(
            object_path("data", "sp ace+plus").unwrap(),
            "data/sp ace+plus"
        );
        for bad in ["", "a/", "/a", "a//b", "./a", "a/../b", "a\\b", "a\u{1}b"] {
            assert!(object_path("data", bad).is_err(), "{bad:?}");
        }
        assert!(object_path("metrics", "a").is_err());
    }
}
