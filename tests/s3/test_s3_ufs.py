"""An S3 UFS on moto's server: workers and the gateway read it (GATEWAY
serves it; its bucket `data` is the prefix s3://lake/root/data), hot cached
reads ask it nothing within the metadata sync interval (SYNC_INTERVAL
seconds), and a change in it is seen within the interval without a read
ever mixing two versions. MOTO is the store, MOTO_LOG its request log."""

import os
import subprocess
import time

import boto3
import pytest
from botocore.config import Config

from conftest import client, random_bytes, sha256

STORE_BUCKET, ROOT = "lake", "root"


@pytest.fixture(scope="module")
def store():
    """moto, with the UFS's bucket and a few objects under its root."""
    moto = boto3.client(
        "s3",
        endpoint_url=os.environ["MOTO"],
        region_name="us-east-1",
        aws_access_key_id="moto",
        aws_secret_access_key="moto-secret",
        config=Config(s3={"addressing_style": "path"}),
    )
    moto.create_bucket(Bucket=STORE_BUCKET)
    objects = {f"data/obj-{i}": random_bytes(1 << 20, seed=20 + i) for i in range(4)}
    objects["data/sub/small"] = b"small"
    objects["data/large"] = random_bytes(12 << 20, seed=30)
    for key, data in objects.items():
        moto.put_object(Bucket=STORE_BUCKET, Key=f"{ROOT}/{key}", Body=data)
    return moto, objects


def put(store, key, data):
    store[0].put_object(Bucket=STORE_BUCKET, Key=f"{ROOT}/{key}", Body=data)


def store_requests(key):
    """Requests moto has logged for `key` of the UFS so far."""
    with open(os.environ["MOTO_LOG"]) as log:
        return sum(1 for line in log if f"/{STORE_BUCKET}/{ROOT}/{key}" in line)


def test_the_gateway_serves_the_store_s_bytes_and_listing(store, tmp_path):
    _, objects = store
    s3 = client(os.environ["GATEWAY"])
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["data"]
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="data")["Contents"]]
    assert listed == sorted(key.removeprefix("data/") for key in objects)
    for key, data in objects.items():
        got = s3.get_object(Bucket="data", Key=key.removeprefix("data/"))["Body"].read()
        assert sha256(got) == sha256(data), key
    out = tmp_path / "large"
    subprocess.run(
        ["aws", "--endpoint-url", os.environ["GATEWAY"], "s3", "cp", "s3://data/large", str(out)],
        check=True,
        capture_output=True,
    )
    assert sha256(out.read_bytes()) == sha256(objects["data/large"])


def test_hot_cached_reads_ask_the_store_nothing(store):
    put(store, "data/hot", random_bytes(1 << 20, seed=40))
    s3 = client(os.environ["GATEWAY"])
    # The first read learns the version and caches the pages.
    s3.get_object(Bucket="data", Key="hot")["Body"].read()
    before = store_requests("data/hot")
    assert before > 0
    started = time.time()
    for _ in range(20):
        s3.get_object(Bucket="data", Key="hot")["Body"].read()
        s3.head_object(Bucket="data", Key="hot")
    assert time.time() - started < float(os.environ["SYNC_INTERVAL"]) / 2, "too slow to judge"
    assert store_requests("data/hot") == before


def test_a_change_is_seen_within_the_interval_and_no_read_mixes_versions(store):
    one, two = b"1" * (3 << 20), b"2" * (3 << 20)
    put(store, "data/changing", one)
    s3 = client(os.environ["GATEWAY"])
    assert s3.get_object(Bucket="data", Key="changing")["Body"].read() == one
    put(store, "data/changing", two)
    changed_at = time.time()
    interval = float(os.environ["SYNC_INTERVAL"])
    while True:
        got = s3.get_object(Bucket="data", Key="changing")["Body"].read()
        assert got in (one, two), "a read mixed two versions"
        if got == two:
            break
        assert time.time() - changed_at < interval + 10, "the change was not seen"
        time.sleep(0.2)
    # Within the interval (and the time reads in flight took).
    assert time.time() - changed_at < interval + 5
