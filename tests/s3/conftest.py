"""Fixtures of the S3 suites: clients of the gateway the Rust test started,
and buckets made as directories of its UFS (GATEWAY, GATEWAY_ANONYMOUS,
UFS_ROOT come from tests/all/s3_gateway.rs)."""

import hashlib
import os
import pathlib
import uuid

import boto3
import botocore
import pytest
from botocore.config import Config


def client(endpoint, signed=True, **keys):
    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1},
        signature_version="s3v4" if signed else botocore.UNSIGNED,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=config,
        aws_access_key_id=keys.get("access", os.environ["AWS_ACCESS_KEY_ID"]),
        aws_secret_access_key=keys.get("secret", os.environ["AWS_SECRET_ACCESS_KEY"]),
    )


@pytest.fixture
def s3():
    return client(os.environ["GATEWAY"])


@pytest.fixture
def anonymous():
    """An unsigned client of the gateway that allows anonymous reads."""
    return client(os.environ["GATEWAY_ANONYMOUS"], signed=False)


@pytest.fixture
def ufs():
    return pathlib.Path(os.environ["UFS_ROOT"])


class Bucket:
    """A bucket of the gateway: a new top-level directory of the UFS."""

    def __init__(self, ufs):
        self.name = "t-" + uuid.uuid4().hex[:16]
        self.dir = ufs / self.name
        self.dir.mkdir()

    def put(self, key, data):
        path = self.dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data


@pytest.fixture
def bucket(ufs):
    return Bucket(ufs)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def random_bytes(n, seed=0):
    """`n` reproducible pseudo-random bytes."""
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])
