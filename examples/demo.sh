#!/usr/bin/env bash
# The first command: three zones on this machine, showing themselves working
# (`azimuth demo`; arguments are passed on, e.g. --keep-running, --help).
# Building needs protoc (the etcd client generates its gRPC code), installed
# here if missing. The demo uses etcd when an `etcd` binary is on PATH
# (Debian: etcd-server) and a static worker list otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/prereqs protobuf-compiler
exec cargo run --quiet --release -- demo "$@"
