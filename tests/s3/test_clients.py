"""The gateway read by the AWS CLI (v1, from PyPI), s3cmd and rclone (from
Debian), unmodified, as users run them; every byte checked by sha256
against the UFS. The last test kills the gateway's local zone while the
AWS CLI copies a large object."""

import hashlib
import os
import signal
import subprocess
import time

import pytest

from conftest import random_bytes, sha256

GATEWAY = os.environ.get("GATEWAY", "")


def run(*args, **kwargs):
    """Runs a command; fails the test with its output if it fails."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def aws(*args):
    return run("aws", "--endpoint-url", GATEWAY, "s3", *args)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture
def tree(bucket):
    """A bucket with a few objects, nested."""
    files = {
        "top.txt": b"hello\n",
        "data/part-0": random_bytes(300_000, seed=10),
        "data/part-1": random_bytes(1_000_000, seed=11),
        "data/deeper/part-2": random_bytes(70_000, seed=12),
        "other/x": b"x",
    }
    for key, data in files.items():
        bucket.put(key, data)
    return bucket, files


def test_aws_cli_ls_and_ls_recursive(tree):
    bucket, files = tree
    assert f" {bucket.name}\n" in aws("ls")
    top = aws("ls", f"s3://{bucket.name}/")
    assert "PRE data/" in top and "PRE other/" in top and "top.txt" in top
    listed = aws("ls", "--recursive", f"s3://{bucket.name}/")
    keys = sorted(line.split()[-1] for line in listed.splitlines())
    assert keys == sorted(files)
    sizes = {line.split()[-1]: int(line.split()[2]) for line in listed.splitlines()}
    assert sizes == {key: len(data) for key, data in files.items()}


def test_aws_cli_cp_of_an_object_over_8_mb_downloads_in_ranged_parts(bucket, tmp_path):
    data = bucket.put("big/object.bin", random_bytes(20 << 20, seed=13))
    out = tmp_path / "object.bin"
    aws("cp", f"s3://{bucket.name}/big/object.bin", str(out))
    assert file_sha256(out) == sha256(data)


def test_aws_cli_sync_of_a_prefix(tree, tmp_path):
    bucket, files = tree
    aws("sync", f"s3://{bucket.name}/data", str(tmp_path / "data"))
    synced = {
        str(p.relative_to(tmp_path)): file_sha256(p) for p in tmp_path.rglob("*") if p.is_file()
    }
    assert synced == {key: sha256(data) for key, data in files.items() if key.startswith("data/")}
    # A second sync finds nothing to do: sizes and times match.
    assert aws("sync", f"s3://{bucket.name}/data", str(tmp_path / "data")).strip() == ""


@pytest.fixture
def s3cmd_config(tmp_path):
    host = GATEWAY.removeprefix("http://")
    config = tmp_path / "s3cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {os.environ['AWS_ACCESS_KEY_ID']}\n"
        f"secret_key = {os.environ['AWS_SECRET_ACCESS_KEY']}\n"
        f"host_base = {host}\nhost_bucket = {host}\n"
        "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
    )
    return str(config)


def test_s3cmd_ls_and_get(tree, s3cmd_config, tmp_path):
    bucket, files = tree
    listed = run("s3cmd", "-c", s3cmd_config, "ls", "--recursive", f"s3://{bucket.name}/")
    assert sorted(line.split()[-1] for line in listed.splitlines()) == sorted(
        f"s3://{bucket.name}/{key}" for key in files
    )
    out = tmp_path / "part-1"
    run("s3cmd", "-c", s3cmd_config, "get", f"s3://{bucket.name}/data/part-1", str(out))
    assert file_sha256(out) == sha256(files["data/part-1"])


def rclone_env():
    env = dict(os.environ)
    # rclone cannot use a CA bundle with its own transport, and the gateway
    # is plain HTTP: a bundle some machines set for every AWS tool only hurts.
    env.pop("AWS_CA_BUNDLE", None)
    env.update(
        RCLONE_CONFIG_GW_TYPE="s3",
        RCLONE_CONFIG_GW_PROVIDER="Other",
        RCLONE_CONFIG_GW_ENDPOINT=GATEWAY,
        RCLONE_CONFIG_GW_ACCESS_KEY_ID=os.environ["AWS_ACCESS_KEY_ID"],
        RCLONE_CONFIG_GW_SECRET_ACCESS_KEY=os.environ["AWS_SECRET_ACCESS_KEY"],
        RCLONE_CONFIG_GW_REGION="us-east-1",
        RCLONE_CONFIG="/dev/null",
    )
    return env


def test_rclone_lsf_and_copy(tree, tmp_path):
    bucket, files = tree
    listed = run("rclone", "lsf", "-R", "--files-only", f"gw:{bucket.name}", env=rclone_env())
    assert sorted(listed.split()) == sorted(files)
    run("rclone", "copy", f"gw:{bucket.name}/data", str(tmp_path / "data"), env=rclone_env())
    copied = {
        str(p.relative_to(tmp_path)): file_sha256(p) for p in tmp_path.rglob("*") if p.is_file()
    }
    assert copied == {key: sha256(data) for key, data in files.items() if key.startswith("data/")}


def failovers():
    """The gateway client's failovers so far, from its /metrics."""
    import requests

    for line in requests.get(f"{GATEWAY}/metrics").text.splitlines():
        if line.startswith("azimuth_client_failovers_total"):
            return int(line.split()[-1])
    raise AssertionError("no failover counter in the gateway's metrics")


def test_a_copy_outlives_its_local_zone_killed_mid_download(bucket, tmp_path):
    data = bucket.put("huge.bin", random_bytes(160 << 20, seed=14))
    out = tmp_path / "huge.bin"
    before = failovers()
    copy = subprocess.Popen(
        ["aws", "--endpoint-url", GATEWAY, "s3", "cp", f"s3://{bucket.name}/huge.bin", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Kill zone a once the download is under way.
    deadline = time.time() + 60
    while time.time() < deadline and copy.poll() is None:
        if any(p.name.startswith("huge.bin") for p in tmp_path.iterdir()):
            break
        time.sleep(0.01)
    time.sleep(0.3)
    assert copy.poll() is None, "the copy ended before the zone could be killed"
    for pid in os.environ["ZONE_A_PIDS"].split():
        os.kill(int(pid), signal.SIGKILL)
    stdout, stderr = copy.communicate(timeout=600)
    assert copy.returncode == 0, f"the copy failed:\n{stdout}\n{stderr}"
    assert file_sha256(out) == sha256(data)
    assert failovers() > before, "no read failed over: the zone died too late to matter"
