#!/usr/bin/env bash
# The S3 gateway's figures, side by side in one run on this machine:
# 1. cached GetObject of 4 KiB and 64 KiB (wrk, anonymous reads on): through
#    `azimuth gateway`, from the worker directly, and through nginx as a
#    reverse proxy in front of the worker (proxy_pass, keep-alive upstream:
#    what a user would put there instead);
# 2. `aws s3 cp` of a cached 1 GiB object through the gateway, against curl
#    of the same bytes from the worker (and curl through the gateway, which
#    tells the gateway's cost from the CLI's);
# 3. the gateway's peak memory (VmHWM) while 8 clients each download that
#    1 GiB object at once, and while a bucket of 100,000 keys is listed
#    through pagination (boto3's paginator);
# 4. over an S3 UFS on moto: the store requests per cached read, with the
#    metadata sync interval on (1 min) and off (0).
# One worker and one gateway (one cluster, static membership), on loopback.
# The worker checks the cluster token (`azimuth.security.token.file`): the
# gateway sends it as every client of the project does, nginx's proxy adds
# it to what it passes on, wrk sends it when reading the worker directly,
# and the script stops if the worker serves a read without it or any run
# gets an error.
# The servers take a thread per core each, or with THREADS that many each
# (nginx's worker processes, the worker's and the gateway's `--threads`):
# wrk shares the machine's cores with them, and a server with a thread per
# core gets a scheduler's time slice in its tail (BENCHMARKS.md, "serving
# threads").
#
# Run: host/cli/benches/gateway.sh [SECONDS] [THREADS] [SECTIONS] [ROUNDS]
#      (SECONDS of each wrk run, 8 by default; THREADS: auto by default;
#      SECTIONS: which of 1-4 to run, as "1" or "24", all by default;
#      ROUNDS: section 1 runs nginx's proxy and the gateway this many times
#      each, alternately and in turn first, and ends with the median of the
#      rounds' ratios: a run's load drifts, and one pair of runs can land
#      on either side of it. 1 by default.
#      Installs nginx-light and wrk with apt-get, and the Python tools with
#      tests/python-env)
set -euo pipefail
cd "$(dirname "$0")/../../.."
secs=${1:-8}
threads=${2:-auto}
[ "$threads" = auto ] || [ "$threads" -ge 1 ] 2>/dev/null || { echo "THREADS must be auto or a count, not $threads" >&2; exit 2; }
sections=${3:-1234}
[[ "$sections" =~ ^[1-4]+$ ]] || { echo "SECTIONS must be digits 1-4, such as 1 or 24, not $sections" >&2; exit 2; }
section() { [[ "$sections" == *"$1"* ]]; }
rounds=${4:-1}
[ "$rounds" -ge 1 ] 2>/dev/null || { echo "ROUNDS must be a count of 1 or more, not $rounds" >&2; exit 2; }
tests/prereqs nginx-light wrk python3-venv
venv=$(tests/python-env)
export PATH="$venv/bin:$PATH:/usr/sbin"
cargo build --release -q -p azimuth
bin=$PWD/target/release/azimuth

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$tmp/ufs/bench" "$tmp/cache" "$tmp/nginx" "$tmp/ufs/many"
head -c 4096 /dev/urandom >"$tmp/ufs/bench/f4k"
head -c 65536 /dev/urandom >"$tmp/ufs/bench/f64k"
if section 2 || section 3; then head -c $((1 << 30)) /dev/urandom >"$tmp/ufs/bench/f1g"; fi
chmod -R a+rX "$tmp"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_line() { for _ in $(seq 200); do grep -q listening "$1" 2>/dev/null && return; sleep 0.1; done; echo "no start: $1" >&2; cat "$1" >&2; exit 1; }

worker_port=$(free_port)
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$tmp/token"
token=$(cat "$tmp/token")
auth="Authorization: Bearer $token"
cat >"$tmp/site.properties" <<SITE
alluxio.cluster.name=bench
alluxio.worker.membership.manager.type=STATIC
alluxio.worker.static.membership.manager.config.file=$tmp/workers
alluxio.dora.client.ufs.root=$tmp/ufs
azimuth.gateway.anonymous.read=true
azimuth.security.token.file=$tmp/token
SITE
echo "w1 127.0.0.1:$worker_port" >"$tmp/workers"
"$bin" --conf "$tmp/site.properties" worker --id w1 --listen "127.0.0.1:$worker_port" \
  --cache-dir "$tmp/cache" --cache-capacity 2GB --threads "${threads/auto/0}" >"$tmp/worker.out" &
worker_pid=$!
pids+=($worker_pid)
wait_line "$tmp/worker.out"
worker=127.0.0.1:$worker_port
"$bin" --conf "$tmp/site.properties" gateway --threads "${threads/auto/0}" >"$tmp/gateway.out" &
gateway_pid=$!
pids+=($gateway_pid)
wait_line "$tmp/gateway.out"
gateway=$(sed -n 's#.*listening on http://##p' "$tmp/gateway.out")
for f in "$tmp"/ufs/bench/*; do curl -sf -H "$auth" -XPOST "http://$worker/load/bench/${f##*/}" >/dev/null; done
refused=$(curl -s -o /dev/null -w '%{http_code}' "http://$worker/files/bench/f4k")
[ "$refused" = 401 ] || { echo "the worker answered $refused to a read without the token: token checks are not on" >&2; exit 1; }

nginx_port=$(free_port)
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes $threads;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  upstream worker { server $worker; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location /bench/ {
      proxy_pass http://worker/files/bench/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer $token";
      proxy_buffering on;
    }
  }
}
CONF
nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nginx_port/bench/f4k" >/dev/null && break; sleep 0.1; done

# wrk's summary as "requests/s p99 user sys": the last two are the CPU
# (microseconds per request, user and kernel) that the processes PIDS spent
# over the run, from /proc/PID/stat (clock ticks of 10 ms). With HEADER,
# wrk sends it with every request. "failed" when a request got an error.
run() {
  local url=$1 pids=${2:-} header=${3:-} u0 k0 u1 k1
  read -r u0 k0 < <(ticks "$pids")
  wrk -t1 -c16 -d"${secs}s" --latency ${header:+-H "$header"} "$url" >"$tmp/wrk.out"
  read -r u1 k1 < <(ticks "$pids")
  awk -v u=$((u1 - u0)) -v k=$((k1 - k0)) -v s="$secs" '
    /Requests\/sec/ { rps = $2 }
    /^ +99%/        { p99 = $2 }
    /Non-2xx/       { failed = 1 }
    END { if (failed) { print "failed"; exit }
          n = rps * s; printf "%s %s %.1f %.1f\n", rps, p99, u * 1e4 / n, k * 1e4 / n }' "$tmp/wrk.out"
}
# Stops the script when a run got errors (a refused read would otherwise be
# measured as a fast one).
check() { [ "$1" != failed ] || { echo "$2 answered errors to wrk's reads" >&2; exit 1; }; }
ticks() {
  local u=0 k=0 a b p
  for p in $1; do read -r a b < <(awk '{ print $14, $15 }' "/proc/$p/stat"); u=$((u + a)); k=$((k + b)); done
  echo "$u $k"
}
echo "$(nproc) cores; wrk -t1 -c16 -d${secs}s; threads $threads; token checks on; azimuth $(git rev-parse --short HEAD), nginx $(nginx -v 2>&1 | sed 's#.*/##')"
if section 1; then
echo "1. cached GetObject (cpu: the server's CPU per request, user + kernel;"
echo "   the worker's own when read directly, the proxy's otherwise)"
printf '%-6s %-22s %10s %10s %16s %10s %10s\n' size path "req/s" "p99" "cpu us/req" "vs nginx" "vs worker"
nginx_pids=$(pgrep -f "nginx: worker process" | tr '\n' ' ')
: >"$tmp/rounds"
for f in f4k f64k; do
  read -r w_rps w_p99 w_user w_sys < <(run "http://$worker/files/bench/$f" "$worker_pid" "$auth")
  check "$w_rps" "the worker"
  printf '%-6s %-22s %10s %10s %16s %10s %10s\n' "$f" "worker direct" "$w_rps" "$w_p99" "$w_user + $w_sys" "" ""
  for round in $(seq "$rounds"); do
    # In turn first: whichever runs second meets the load the first left.
    if [ $((round % 2)) = 1 ]; then
      read -r n_rps n_p99 n_user n_sys < <(run "http://127.0.0.1:$nginx_port/bench/$f" "$nginx_pids")
      read -r g_rps g_p99 g_user g_sys < <(run "http://$gateway/bench/$f" "$gateway_pid")
    else
      read -r g_rps g_p99 g_user g_sys < <(run "http://$gateway/bench/$f" "$gateway_pid")
      read -r n_rps n_p99 n_user n_sys < <(run "http://127.0.0.1:$nginx_port/bench/$f" "$nginx_pids")
    fi
    check "$n_rps" "nginx's proxy"; check "$g_rps" "the gateway"
    printf '%-6s %-22s %10s %10s %16s %10s %10s\n' "$f" "nginx proxy -> worker" "$n_rps" "$n_p99" \
      "$n_user + $n_sys" "" "$(awk -v a="$n_rps" -v b="$w_rps" 'BEGIN { printf "%.2fx", a / b }')"
    printf '%-6s %-22s %10s %10s %16s %10s %10s\n' "$f" "gateway" "$g_rps" "$g_p99" "$g_user + $g_sys" \
      "$(awk -v a="$g_rps" -v b="$n_rps" 'BEGIN { printf "%.2fx", a / b }')" \
      "$(awk -v a="$g_rps" -v b="$w_rps" 'BEGIN { printf "%.2fx", a / b }')"
    echo "$f $n_rps $g_rps $n_p99 $g_p99" >>"$tmp/rounds"
  done
done
if [ "$rounds" -gt 1 ]; then
  # wrk prints p99 as 512.00us, 1.20ms or 1.01s.
  python3 - "$tmp/rounds" <<'MEDIAN'
import statistics, sys
def seconds(text):
    for unit, scale in (("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise SystemExit(f"a p99 wrk did not print as a time: {text}")
rows = [line.split() for line in open(sys.argv[1])]
for size in dict.fromkeys(row[0] for row in rows):
    mine = [row for row in rows if row[0] == size]
    ratio = statistics.median(float(g) / float(n) for _, n, g, _, _ in mine)
    p99 = statistics.median(seconds(gp) / seconds(np) for _, _, _, np, gp in mine)
    print(f"{size}: median of {len(mine)} rounds, gateway / nginx proxy: {ratio:.2f}x requests/s, "
          f"p99 {p99:.2f}x nginx's")
MEDIAN
fi

fi

if section 2; then
echo "2. 1 GiB cached object"
t0=$(date +%s.%N)
curl -sf -H "$auth" -o /dev/null "http://$worker/files/bench/f1g"
t1=$(date +%s.%N)
AWS_ACCESS_KEY_ID=anonymous AWS_SECRET_ACCESS_KEY=anonymous AWS_DEFAULT_REGION=us-east-1 \
  aws --endpoint-url "http://$gateway" --no-sign-request s3 cp s3://bench/f1g "$tmp/f1g.copy" --quiet
t2=$(date +%s.%N)
cmp -s "$tmp/f1g.copy" "$tmp/ufs/bench/f1g" || { echo "the copy differs" >&2; exit 1; }
rm -f "$tmp/f1g.copy"
# curl through the gateway too: tells the gateway's share from the CLI's.
curl -sf -o /dev/null "http://$gateway/bench/f1g"
t3=$(date +%s.%N)
awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" 'BEGIN {
  c = t1 - t0; a = t2 - t1; k = t3 - t2; g = 1.073741824
  printf "curl from the worker  %.2f GB/s\n", g / c
  printf "aws s3 cp via gateway %.2f GB/s  (%.2fx curl from the worker)\n", g / a, c / a
  printf "curl via gateway      %.2f GB/s  (%.2fx curl from the worker)\n", g / k, c / k }'

fi

if section 3; then
echo "3. gateway memory (VmHWM; VmRSS at start $(awk '/VmRSS/ { print $2, $3 }' /proc/$gateway_pid/status))"
downloads=()
for _ in $(seq 8); do curl -sf -o /dev/null "http://$gateway/bench/f1g" & downloads+=($!); done
wait "${downloads[@]}"
echo "8 clients x 1 GiB at once: peak $(awk '/VmHWM/ { print $2, $3 }' /proc/$gateway_pid/status)"
python3 - "$tmp/ufs/many" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.makedirs(f"{root}/d{d:02}", exist_ok=True)
    for k in range(1000):
        open(f"{root}/d{d:02}/k{k:04}", "wb").close()
PY
python3 - "http://$gateway" <<'PY'
import sys, time, boto3, botocore
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  config=Config(signature_version=botocore.UNSIGNED, s3={"addressing_style": "path"}))
start, keys = time.time(), 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="many"):
    keys += page["KeyCount"]
print(f"listed {keys} keys in {time.time() - start:.1f} s (pages of 1000)")
PY
echo "after the listing: peak $(awk '/VmHWM/ { print $2, $3 }' /proc/$gateway_pid/status), now $(awk '/VmRSS/ { print $2, $3 }' /proc/$gateway_pid/status)"

fi

if section 4; then
echo "4. store requests per cached read, S3 UFS on moto"
moto_port=$(free_port)
moto_server -H 127.0.0.1 -p "$moto_port" 2>"$tmp/moto.log" >/dev/null &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$moto_port/" >/dev/null && break; sleep 0.2; done
python3 - "http://127.0.0.1:$moto_port" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="moto", aws_secret_access_key="moto")
s3.create_bucket(Bucket="lake")
s3.put_object(Bucket="lake", Key="root/bench/hot", Body=b"h" * 65536)
PY
for interval in 1min 0; do
  p=$(free_port)
  cat >"$tmp/s3-$interval.properties" <<SITE
alluxio.cluster.name=s3bench
alluxio.worker.membership.manager.type=STATIC
alluxio.worker.static.membership.manager.config.file=$tmp/workers-$interval
alluxio.dora.client.ufs.root=s3://lake/root
alluxio.underfs.s3.endpoint=http://127.0.0.1:$moto_port
s3a.accessKeyId=moto
s3a.secretKey=moto
azimuth.gateway.anonymous.read=true
alluxio.user.file.metadata.sync.interval=$interval
SITE
  echo "w1 127.0.0.1:$p" >"$tmp/workers-$interval"
  "$bin" --conf "$tmp/s3-$interval.properties" worker --id w1 --listen "127.0.0.1:$p" \
    --cache-dir "$tmp/cache-$interval" >"$tmp/w-$interval.out" &
  pids+=($!)
  wait_line "$tmp/w-$interval.out"
  "$bin" --conf "$tmp/s3-$interval.properties" gateway >"$tmp/g-$interval.out" &
  pids+=($!)
  wait_line "$tmp/g-$interval.out"
  g=$(sed -n 's#.*listening on http://##p' "$tmp/g-$interval.out")
  curl -sf -o /dev/null "http://$g/bench/hot"   # a first read loads the page
  before=$(grep -c "/lake/root/bench/hot" "$tmp/moto.log" || true)
  for _ in $(seq 200); do curl -sf -o /dev/null "http://$g/bench/hot"; done
  after=$(grep -c "/lake/root/bench/hot" "$tmp/moto.log" || true)
  awk -v n="$((after - before))" -v i="$interval" 'BEGIN {
    printf "sync interval %-5s %4d store requests for 200 cached GetObjects: %.2f per read\n", i, n, n / 200 }'
done
fi
