"""The gateway's S3 API with boto3: buckets, listings (v1 and v2), ranged
reads, conditional reads, errors, signatures. The intent of the read tests
of ceph's s3-tests (`test_ranged_request_*`, `test_bucket_listv2_*`,
`test_bucket_list_*` with markers, `test_object_read_not_exist`,
`test_bucket_notexist`, `test_get_object_if*`), written fresh against
objects each test places in the UFS."""

import datetime
import os

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import client, random_bytes


def error_of(call, *args, **kwargs):
    """The (HTTP status, S3 error code) a call fails with."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def keys_of(listing):
    return [o["Key"] for o in listing.get("Contents", [])]


def prefixes_of(listing):
    return [p["Prefix"] for p in listing.get("CommonPrefixes", [])]


# Buckets.


def test_buckets_are_the_top_level_directories_of_the_ufs(s3, bucket):
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert bucket.name in names
    assert all("CreationDate" in b for b in s3.list_buckets()["Buckets"])
    s3.head_bucket(Bucket=bucket.name)
    assert s3.get_bucket_location(Bucket=bucket.name).get("LocationConstraint") is None


def test_bucket_notexist(s3):
    assert error_of(s3.list_objects_v2, Bucket="no-such-bucket-here") == (404, "NoSuchBucket")
    assert error_of(s3.list_objects, Bucket="no-such-bucket-here") == (404, "NoSuchBucket")
    assert error_of(s3.get_object, Bucket="no-such-bucket-here", Key="k") == (404, "NoSuchBucket")
    assert error_of(s3.head_bucket, Bucket="no-such-bucket-here")[0] == 404


def test_object_read_not_exist(s3, bucket):
    bucket.put("present", b"x")
    assert error_of(s3.get_object, Bucket=bucket.name, Key="absent") == (404, "NoSuchKey")
    assert error_of(s3.head_object, Bucket=bucket.name, Key="absent")[0] == 404
    # A directory is not an object.
    bucket.put("dir/file", b"x")
    assert error_of(s3.get_object, Bucket=bucket.name, Key="dir") == (404, "NoSuchKey")
    assert error_of(s3.get_object, Bucket=bucket.name, Key="dir/") == (404, "NoSuchKey")


def test_writes_are_not_implemented(s3, bucket):
    assert error_of(s3.put_object, Bucket=bucket.name, Key="k", Body=b"x") == (501, "NotImplemented")
    assert error_of(s3.delete_object, Bucket=bucket.name, Key="k") == (501, "NotImplemented")
    assert error_of(s3.create_bucket, Bucket="t-new-bucket-0001")[1] == "NotImplemented"


# Reading objects, whole and in ranges.


def test_get_object_gives_the_ufs_bytes_etag_and_last_modified(s3, bucket):
    data = bucket.put("a/b/object.bin", random_bytes(3 << 20, seed=1))
    got = s3.get_object(Bucket=bucket.name, Key="a/b/object.bin")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    head = s3.head_object(Bucket=bucket.name, Key="a/b/object.bin")
    assert head["ETag"] == got["ETag"] and len(head["ETag"]) == 18
    mtime = datetime.datetime.fromtimestamp(
        (bucket.dir / "a/b/object.bin").stat().st_mtime, datetime.timezone.utc
    ).replace(microsecond=0)
    assert head["LastModified"] == mtime
    # The anonymous-read gateway, another process, names the version the same.
    other = client(os.environ["GATEWAY_ANONYMOUS"])
    assert other.head_object(Bucket=bucket.name, Key="a/b/object.bin")["ETag"] == head["ETag"]


def test_ranged_request_response_code(s3, bucket):
    data = bucket.put("testobj", b"testcontent")
    got = s3.get_object(Bucket=bucket.name, Key="testobj", Range="bytes=4-7")
    assert got["Body"].read() == data[4:8] == b"cont"
    assert got["ContentRange"] == "bytes 4-7/11"
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206


def test_ranged_big_request_response_code(s3, bucket):
    data = bucket.put("big", random_bytes(8 << 20, seed=2))
    got = s3.get_object(Bucket=bucket.name, Key="big", Range="bytes=3145728-5242880")
    assert got["Body"].read() == data[3145728:5242881]
    assert got["ContentRange"] == "bytes 3145728-5242880/8388608"
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206


def test_ranged_request_skip_leading_bytes_and_return_trailing_bytes(s3, bucket):
    data = bucket.put("testobj", b"testcontent")
    open_ended = s3.get_object(Bucket=bucket.name, Key="testobj", Range="bytes=4-")
    assert open_ended["Body"].read() == data[4:]
    assert open_ended["ContentRange"] == "bytes 4-10/11"
    suffix = s3.get_object(Bucket=bucket.name, Key="testobj", Range="bytes=-7")
    assert suffix["Body"].read() == data[-7:]
    assert suffix["ContentRange"] == "bytes 4-10/11"
    # Past the end, a closed range is cut at the last byte.
    cut = s3.get_object(Bucket=bucket.name, Key="testobj", Range="bytes=8-100")
    assert cut["Body"].read() == data[8:]


def test_ranged_request_invalid_range(s3, bucket):
    bucket.put("testobj", b"testcontent")
    assert error_of(s3.get_object, Bucket=bucket.name, Key="testobj", Range="bytes=40-50") == (
        416,
        "InvalidRange",
    )


def test_ranged_request_empty_object(s3, bucket):
    bucket.put("empty", b"")
    assert error_of(s3.get_object, Bucket=bucket.name, Key="empty", Range="bytes=40-50") == (
        416,
        "InvalidRange",
    )
    assert s3.get_object(Bucket=bucket.name, Key="empty")["Body"].read() == b""


def test_response_overrides_set_the_headers(s3, bucket):
    bucket.put("doc", b"<html/>")
    got = s3.get_object(
        Bucket=bucket.name,
        Key="doc",
        ResponseContentType="text/html",
        ResponseContentDisposition='attachment; filename="d.html"',
        ResponseCacheControl="no-cache",
        ResponseContentLanguage="fr",
    )
    assert got["ContentType"] == "text/html"
    assert got["ContentDisposition"] == 'attachment; filename="d.html"'
    assert got["CacheControl"] == "no-cache"
    assert got["ContentLanguage"] == "fr"


# Conditional reads.


def test_get_object_ifmatch_good_and_failed(s3, bucket):
    bucket.put("obj", b"bar")
    etag = s3.head_object(Bucket=bucket.name, Key="obj")["ETag"]
    assert s3.get_object(Bucket=bucket.name, Key="obj", IfMatch=etag)["Body"].read() == b"bar"
    assert error_of(s3.get_object, Bucket=bucket.name, Key="obj", IfMatch='"ABCORZ"') == (
        412,
        "PreconditionFailed",
    )


def test_get_object_ifnonematch_good_and_failed(s3, bucket):
    bucket.put("obj", b"bar")
    etag = s3.head_object(Bucket=bucket.name, Key="obj")["ETag"]
    assert error_of(s3.get_object, Bucket=bucket.name, Key="obj", IfNoneMatch=etag)[0] == 304
    got = s3.get_object(Bucket=bucket.name, Key="obj", IfNoneMatch='"ABCORZ"')
    assert got["Body"].read() == b"bar"


def test_get_object_ifmodifiedsince_good_and_failed(s3, bucket):
    bucket.put("obj", b"bar")
    long_ago = datetime.datetime(1994, 8, 15, tzinfo=datetime.timezone.utc)
    got = s3.get_object(Bucket=bucket.name, Key="obj", IfModifiedSince=long_ago)
    assert got["Body"].read() == b"bar"
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    assert error_of(s3.get_object, Bucket=bucket.name, Key="obj", IfModifiedSince=later)[0] == 304


def test_get_object_ifunmodifiedsince_good_and_failed(s3, bucket):
    bucket.put("obj", b"bar")
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    got = s3.get_object(Bucket=bucket.name, Key="obj", IfUnmodifiedSince=later)
    assert got["Body"].read() == b"bar"
    long_ago = datetime.datetime(1994, 8, 15, tzinfo=datetime.timezone.utc)
    assert error_of(s3.get_object, Bucket=bucket.name, Key="obj", IfUnmodifiedSince=long_ago) == (
        412,
        "PreconditionFailed",
    )


def test_if_match_overrides_if_unmodified_since(s3, bucket):
    bucket.put("obj", b"bar")
    etag = s3.head_object(Bucket=bucket.name, Key="obj")["ETag"]
    long_ago = datetime.datetime(1994, 8, 15, tzinfo=datetime.timezone.utc)
    got = s3.get_object(Bucket=bucket.name, Key="obj", IfMatch=etag, IfUnmodifiedSince=long_ago)
    assert got["Body"].read() == b"bar"


# Listing, version 2.


def make_tree(bucket, keys):
    for key in keys:
        bucket.put(key, key.encode())


def test_bucket_listv2_delimiter_basic(s3, bucket):
    # (A file system cannot hold both foo/bar and foo/bar/xyzzy, as S3 can.)
    make_tree(bucket, ["foo/bar", "foo/baz/xyzzy", "quux/thud", "asdf"])
    listing = s3.list_objects_v2(Bucket=bucket.name, Delimiter="/")
    assert listing["Delimiter"] == "/"
    assert keys_of(listing) == ["asdf"]
    assert prefixes_of(listing) == ["foo/", "quux/"]
    assert listing["KeyCount"] == 3


def test_bucket_listv2_prefix_basic_and_prefix_delimiter(s3, bucket):
    make_tree(bucket, ["foo/bar", "foo/baz", "quux", "foo/sub/x", "foob"])
    listing = s3.list_objects_v2(Bucket=bucket.name, Prefix="foo/")
    assert listing["Prefix"] == "foo/"
    assert keys_of(listing) == ["foo/bar", "foo/baz", "foo/sub/x"]
    listing = s3.list_objects_v2(Bucket=bucket.name, Prefix="foo/", Delimiter="/")
    assert keys_of(listing) == ["foo/bar", "foo/baz"]
    assert prefixes_of(listing) == ["foo/sub/"]
    # A prefix that is not a directory's.
    listing = s3.list_objects_v2(Bucket=bucket.name, Prefix="foo", Delimiter="/")
    assert keys_of(listing) == ["foob"]
    assert prefixes_of(listing) == ["foo/"]
    assert s3.list_objects_v2(Bucket=bucket.name, Prefix="nothing")["KeyCount"] == 0


def test_bucket_listv2_delimiter_alt_and_unreadable(s3, bucket):
    make_tree(bucket, ["bar", "baz", "cab", "foo"])
    listing = s3.list_objects_v2(Bucket=bucket.name, Delimiter="a")
    assert keys_of(listing) == ["foo"]
    assert prefixes_of(listing) == ["ba", "ca"]
    listing = s3.list_objects_v2(Bucket=bucket.name, Delimiter="%")
    assert keys_of(listing) == ["bar", "baz", "cab", "foo"]


def test_bucket_listv2_encoding_basic(s3, bucket):
    make_tree(bucket, ["foo+1/bar", "foo/baz/xyzzy", "quux ab/thud", "asdf+b", "é"])
    # Asked for, names come percent-encoded (a '+' too: clients decode '+'
    # as a space)...
    listing = s3.list_objects_v2(Bucket=bucket.name, Delimiter="/", EncodingType="url")
    assert listing["EncodingType"] == "url"
    assert keys_of(listing) == ["asdf%2Bb", "%C3%A9"]
    assert prefixes_of(listing) == ["foo%2B1/", "foo/", "quux%20ab/"]
    # ...and boto3, which asks for it unasked and decodes, sees them as they are.
    listing = s3.list_objects_v2(Bucket=bucket.name, Delimiter="/")
    assert keys_of(listing) == ["asdf+b", "é"]
    assert prefixes_of(listing) == ["foo+1/", "foo/", "quux ab/"]
    listing = s3.list_objects(Bucket=bucket.name, Prefix="quux ab/")
    assert keys_of(listing) == ["quux ab/thud"]


def test_bucket_listv2_maxkeys_one_zero_and_none(s3, bucket):
    make_tree(bucket, ["bar", "baz", "foo", "quxx"])
    one = s3.list_objects_v2(Bucket=bucket.name, MaxKeys=1)
    assert (keys_of(one), one["IsTruncated"], one["MaxKeys"]) == (["bar"], True, 1)
    rest = s3.list_objects_v2(Bucket=bucket.name, StartAfter="bar")
    assert keys_of(rest) == ["baz", "foo", "quxx"] and not rest["IsTruncated"]
    zero = s3.list_objects_v2(Bucket=bucket.name, MaxKeys=0)
    assert (keys_of(zero), zero["IsTruncated"]) == ([], False)
    everything = s3.list_objects_v2(Bucket=bucket.name)
    assert everything["MaxKeys"] == 1000 and not everything["IsTruncated"]


def test_bucket_listv2_continuationtoken_and_startafter(s3, bucket):
    make_tree(bucket, ["bar", "baz", "foo", "quxx"])
    first = s3.list_objects_v2(Bucket=bucket.name, MaxKeys=1)
    token = first["NextContinuationToken"]
    second = s3.list_objects_v2(Bucket=bucket.name, ContinuationToken=token)
    assert second["ContinuationToken"] == token
    assert keys_of(second) == ["baz", "foo", "quxx"]
    assert "NextContinuationToken" not in second
    after = s3.list_objects_v2(Bucket=bucket.name, StartAfter="blah")
    assert after["StartAfter"] == "blah"
    assert keys_of(after) == ["foo", "quxx"]
    assert error_of(s3.list_objects_v2, Bucket=bucket.name, ContinuationToken="zz-not-ours")[1] == (
        "InvalidArgument"
    )


def test_bucket_listv2_paginates_a_few_thousand_keys_in_order(s3, bucket):
    keys = sorted(f"d{i % 7}/k{i:05}" for i in range(2500))
    for key in keys:
        bucket.put(key, b"")
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.name):
        assert page["KeyCount"] <= 1000
        listed += keys_of(page)
    assert listed == keys
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket.name, Delimiter="/", PaginationConfig={"PageSize": 3}
        )
    )
    assert [p for page in pages for p in prefixes_of(page)] == [f"d{i}/" for i in range(7)]


# Listing, version 1 (rclone and s3cmd list this way).


def test_bucket_list_marker_and_maxkeys(s3, bucket):
    make_tree(bucket, ["bar", "baz", "foo", "quxx"])
    listing = s3.list_objects(Bucket=bucket.name, Marker="")
    assert keys_of(listing) == ["bar", "baz", "foo", "quxx"] and listing["Marker"] == ""
    listing = s3.list_objects(Bucket=bucket.name, Marker="blah")
    assert keys_of(listing) == ["foo", "quxx"] and listing["Marker"] == "blah"
    listing = s3.list_objects(Bucket=bucket.name, Marker="zzz")
    assert keys_of(listing) == [] and not listing["IsTruncated"]
    listing = s3.list_objects(Bucket=bucket.name, MaxKeys=2)
    assert keys_of(listing) == ["bar", "baz"] and listing["IsTruncated"]
    # Without a delimiter S3 gives no NextMarker; clients go on from the last key.
    assert "NextMarker" not in listing


def test_bucket_list_delimiter_next_marker(s3, bucket):
    make_tree(bucket, ["asdf", "boo/bar", "boo/baz/xyzzy", "cquux/thud", "cquux/bla"])
    first = s3.list_objects(Bucket=bucket.name, Delimiter="/", MaxKeys=2)
    assert keys_of(first) == ["asdf"] and prefixes_of(first) == ["boo/"]
    assert first["IsTruncated"] and first["NextMarker"] == "boo/"
    second = s3.list_objects(Bucket=bucket.name, Delimiter="/", Marker=first["NextMarker"])
    assert prefixes_of(second) == ["cquux/"] and not second["IsTruncated"]


# Who may read.


def test_a_request_signed_with_a_wrong_secret_is_refused(bucket):
    bucket.put("obj", b"bar")
    wrong = client(os.environ["GATEWAY"], secret="not-the-secret")
    assert error_of(wrong.get_object, Bucket=bucket.name, Key="obj") == (403, "SignatureDoesNotMatch")
    unknown = client(os.environ["GATEWAY"], access="AKIANOTAKEYOFOURS000")
    assert error_of(unknown.list_buckets)[1] == "InvalidAccessKeyId"


def test_anonymous_reads_only_where_allowed(s3, anonymous, bucket):
    bucket.put("obj", b"bar")
    unsigned = requests.get(f"{os.environ['GATEWAY']}/{bucket.name}/obj")
    assert unsigned.status_code == 403 and "<Code>AccessDenied</Code>" in unsigned.text
    assert anonymous.get_object(Bucket=bucket.name, Key="obj")["Body"].read() == b"bar"
    assert keys_of(anonymous.list_objects_v2(Bucket=bucket.name)) == ["obj"]


def test_presigned_urls_read_and_a_tampered_one_is_refused(s3, bucket):
    data = bucket.put("obj", random_bytes(100_000, seed=3))
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket.name, "Key": "obj"}, ExpiresIn=300
    )
    got = requests.get(url)
    assert got.status_code == 200 and got.content == data
    signature = url.split("X-Amz-Signature=")[1].split("&")[0]
    flipped = ("1" if signature[0] != "1" else "2") + signature[1:]
    refused = requests.get(url.replace(signature, flipped))
    assert refused.status_code == 403 and "SignatureDoesNotMatch" in refused.text


# Metrics.


def metric(text, name, **labels):
    """The value of the sample `name{labels}` in Prometheus text (0 if absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        if sample == name and not want or sample == f"{name}{{{want}}}":
            return float(value)
    return 0.0


def total(text, name):
    """The sum of every sample of `name`, whatever its labels."""
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def test_metrics_count_requests_bytes_latency_and_name_the_policy(s3, bucket):
    data = bucket.put("counted", random_bytes(50_000, seed=9))
    url = f"{os.environ['GATEWAY']}/metrics"
    before = requests.get(url).text
    for _ in range(3):
        assert s3.get_object(Bucket=bucket.name, Key="counted")["Body"].read() == data
    error_of(s3.get_object, Bucket=bucket.name, Key="not-there")
    after = requests.get(url).text

    def grew(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert grew("azimuth_gateway_requests_total", operation="GetObject", status="200") == 3
    assert grew("azimuth_gateway_requests_total", operation="GetObject", status="404") == 1
    assert grew("azimuth_gateway_response_bytes_total", operation="GetObject") >= 3 * len(data)
    assert grew("azimuth_gateway_request_seconds_count") == 4
    assert grew("azimuth_gateway_request_seconds_bucket", le="+Inf") == 4
    # The read path's counters, by the tier that served: the gateway is a
    # client of the first cluster, which caches the file after a first read.
    assert total(after, "azimuth_client_read_bytes_total") - total(
        before, "azimuth_client_read_bytes_total"
    ) == 3 * len(data)
    assert total(after, "azimuth_client_reads_total") - total(before, "azimuth_client_reads_total") == 3
    assert "azimuth_client_cross_zone_bytes_total" in after
    active = [l for l in after.splitlines() if l.startswith("azimuth_policy_active_info{")]
    assert len(active) == 1 and 'sha256="' in active[0]


# The hot path: anonymous GetObjects are answered without s3s (host/gateway/src/fast.rs).


def raw_get(url, headers, sign=False):
    """(status, headers without the per-response ones, body) of a GET,
    signed with the suite's key when `sign`."""
    headers = dict(headers)
    if sign:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        request = AWSRequest(method="GET", url=url, headers=headers)
        keys = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
        S3SigV4Auth(keys, "s3", "us-east-1").add_auth(request)
        headers = dict(request.headers)
    got = requests.get(url, headers=headers)
    kept = {k.lower(): v for k, v in got.headers.items() if k.lower() not in ("date",)}
    return got.status_code, kept, got.content


def test_the_hot_path_answers_as_s3s_does(bucket):
    """Every shape of GET the hot path takes, sent unsigned to the gateway
    with anonymous reads (the hot path) and signed to the other (s3s):
    the same status, headers and bytes."""
    small = bucket.put("small", random_bytes(4096, seed=21))
    big = bucket.put("dir/big file é", random_bytes(3 << 20, seed=22))
    bucket.put("empty", b"")
    etag = requests.head(
        f"{os.environ['GATEWAY_ANONYMOUS']}/{bucket.name}/small"
    ).headers["ETag"]
    past, future = "Mon, 01 Jan 2001 00:00:00 GMT", "Fri, 01 Jan 2100 00:00:00 GMT"
    cases = [
        ("small", {}),
        ("small", {"Range": "bytes=10-19"}),
        ("small", {"Range": "bytes=100-"}),
        ("small", {"Range": "bytes=-50"}),
        ("small", {"Range": "bytes=4000-9999"}),
        ("small", {"Range": "bytes=5000-6000"}),
        ("small", {"If-Match": etag}),
        ("small", {"If-Match": '"not-the-etag"'}),
        ("small", {"If-None-Match": etag}),
        ("small", {"If-None-Match": '"not-the-etag"'}),
        ("small", {"If-Modified-Since": past}),
        ("small", {"If-Modified-Since": future}),
        ("small", {"If-Unmodified-Since": past}),
        ("small", {"If-Unmodified-Since": future}),
        ("small", {"If-Match": etag, "If-Unmodified-Since": past}),
        ("empty", {}),
        ("dir/big%20file%20%C3%A9", {}),
        ("dir/big%20file%20%C3%A9", {"Range": "bytes=1000000-2999999"}),
        ("not-there", {}),
    ]
    metrics = f"{os.environ['GATEWAY_ANONYMOUS']}/metrics"
    before = requests.get(metrics).text
    ok = 0
    for key, headers in cases:
        path = f"/{bucket.name}/{key}"
        fast = raw_get(os.environ["GATEWAY_ANONYMOUS"] + path, headers)
        s3s = raw_get(os.environ["GATEWAY"] + path, headers, sign=True)
        assert fast == s3s, (key, headers)
        ok += fast[0] == 200
    status, _, body = raw_get(f"{os.environ['GATEWAY_ANONYMOUS']}/nobucket-{bucket.name}/k", {})
    assert status == 404 and b"<Code>NoSuchBucket</Code>" in body
    assert raw_get(f"{os.environ['GATEWAY_ANONYMOUS']}/{bucket.name}/small", {})[2] == small
    assert raw_get(
        f"{os.environ['GATEWAY_ANONYMOUS']}/{bucket.name}/dir/big%20file%20%C3%A9", {}
    )[2] == big
    after = requests.get(metrics).text
    # Hot-path requests are counted as s3s's are.
    grew = metric(after, "azimuth_gateway_requests_total", operation="GetObject", status="200") - metric(
        before, "azimuth_gateway_requests_total", operation="GetObject", status="200"
    )
    assert ok >= 6 and grew == ok + 2
