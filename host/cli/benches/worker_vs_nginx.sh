#!/usr/bin/env bash
# Cached reads from an `azimuth worker` against nginx serving the same files
# from local disk, on loopback, loaded by the same tool (wrk) with the same
# settings, one after the other:
# - 4 KiB and 64 KiB files: requests per second and latency;
# - a 256 MiB file: throughput.
# Both servers get every core (nginx `worker_processes auto`, sendfile on,
# access log off; the worker's tokio runtime defaults to one thread per core),
# or, with THREADS, that many each (nginx worker processes, the worker's
# `--threads`, the bare server's runtime threads): wrk shares the machine's
# cores, and on 2 cores one serving thread each leaves wrk a core.
# The worker's cache is loaded first, so every read below is a cache hit.
# The worker checks the cluster token (`azimuth.security.token.file`) on
# every read, as a deployment with access control does; wrk sends the same
# `Authorization` header to all three servers, and the script stops if the
# worker serves a read without it.
# With THREADS below the number of cores, the servers are pinned to the
# first THREADS cores and wrk to the others (taskset), the same for all
# three: otherwise the scheduler moves a server's thread onto wrk's core
# now and then, and single runs swing with where it put them.
# A third row is the ceiling of the worker's HTTP stack: a bare hyper server
# returning the same bytes from memory (examples/bench/bare_hyper.rs).
# Each row also shows the CPU the server and wrk used over the run (100% is
# one core): wrk has one thread, and a row where it is near 100% measured
# wrk's limit, not the server's, so its ratio only says the server kept up
# (with 256 connections at 64 KiB all three servers land there).
#
# Run: host/cli/benches/worker_vs_nginx.sh [SECONDS] [CONNECTIONS] [THREADS]
#      (needs nginx-light and wrk: apt-get install nginx-light wrk;
#      CONNECTIONS: wrk's -c, 16 by default; THREADS: auto by default)
set -euo pipefail
cd "$(dirname "$0")/../../.."
secs=${1:-8}
conns=${2:-16}
threads=${3:-auto}
[ "$threads" = auto ] || [ "$threads" -ge 1 ] 2>/dev/null || { echo "THREADS must be auto or a count, not $threads" >&2; exit 2; }
# Commands that place the servers and wrk on their own cores, or nothing.
on_servers_cores=(); on_client_cores=(); placement=""
cpus() { if [ "$1" = "$2" ]; then echo "$1"; else echo "$1-$2"; fi; } # a taskset CPU list
if [ "$threads" != auto ] && [ "$threads" -lt "$(nproc)" ]; then
  servers_cpus=$(cpus 0 $((threads - 1)))
  client_cpus=$(cpus "$threads" $(($(nproc) - 1)))
  on_servers_cores=(taskset -c "$servers_cpus")
  on_client_cores=(taskset -c "$client_cpus")
  placement=" (servers on CPU $servers_cpus, wrk on CPU $client_cpus)"
fi
for tool in nginx wrk; do
  command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin"
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install nginx-light wrk" >&2; exit 2; }
done
cargo build --release -q -p azimuth
cargo build --release -q -p azimuth-worker --example bare-hyper
bin=target/release/azimuth

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$tmp/ufs" "$tmp/cache" "$tmp/nginx"
head -c 4096 /dev/urandom >"$tmp/ufs/f4k"
head -c 65536 /dev/urandom >"$tmp/ufs/f64k"
head -c $((256 << 20)) /dev/urandom >"$tmp/ufs/f256m"
chmod -R a+rX "$tmp" # nginx's workers run as an unprivileged user

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nginx_port=$(free_port)
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes $threads;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  server { listen 127.0.0.1:$nginx_port; location /files/ { alias $tmp/ufs/; } }
}
CONF
"${on_servers_cores[@]}" nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" &
nginx_pid=$!
pids+=("$nginx_pid")

head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$tmp/token"
token=$(cat "$tmp/token")
auth="Authorization: Bearer $token"
printf 'alluxio.cluster.name=bench\nalluxio.worker.membership.manager.type=STATIC\nalluxio.worker.static.membership.manager.config.file=/dev/null\nazimuth.security.token.file=%s\n' "$tmp/token" >"$tmp/site.properties"
"${on_servers_cores[@]}" "$bin" --conf "$tmp/site.properties" worker --ufs "$tmp/ufs" --cache-dir "$tmp/cache" \
  --cache-capacity 1GB --threads "${threads/auto/0}" >"$tmp/worker.out" &
worker_pid=$!
pids+=("$worker_pid")
for _ in $(seq 100); do grep -q listening "$tmp/worker.out" 2>/dev/null && break; sleep 0.1; done
worker=$(sed -n 's#.*listening on http://##p' "$tmp/worker.out")
for f in f4k f64k f256m; do curl -sf -H "$auth" -XPOST "http://$worker/load/$f" >/dev/null; done
refused=$(curl -s -o /dev/null -w '%{http_code}' "http://$worker/files/f4k")
[ "$refused" = 401 ] || { echo "the worker answered $refused to a read without the token: token checks are not on" >&2; exit 1; }
bare_threads=()
[ "$threads" = auto ] || bare_threads=(env TOKIO_WORKER_THREADS="$threads")
"${on_servers_cores[@]}" "${bare_threads[@]}" target/release/examples/bare-hyper "$tmp/ufs" 127.0.0.1:0 >"$tmp/bare.out" &
bare_pid=$!
pids+=("$bare_pid")
for _ in $(seq 100); do grep -q listening "$tmp/bare.out" 2>/dev/null && break; sleep 0.1; done
bare=$(sed -n 's#.*listening on http://##p' "$tmp/bare.out")
ufs_reads() { curl -s "http://$worker/metrics" | awk '/^azimuth_worker_ufs_reads_total/ { print $2 }'; }
loaded=$(ufs_reads)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nginx_port/files/f4k" >/dev/null && break; sleep 0.1; done

# CPU time (clock ticks, user + system) of the processes given, whole
# processes with all their threads.
ticks() {
  local total=0 pid stat
  for pid in "$@"; do
    read -r -a stat <"/proc/$pid/stat"
    total=$((total + stat[13] + stat[14]))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)
# wrk's summary against URL, served by the processes PIDS..., as
# "requests/s latency-avg latency-p99 transfer/s server-cpu client-cpu".
run() {
  local url=$1; shift
  local before after
  before=$(ticks "$@")
  # wrk runs as a child of python, which then prints wrk's own CPU time.
  python3 -c '
import resource, subprocess, sys, time
start = time.monotonic()
subprocess.run(sys.argv[1:], check=True)
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print("client-cpu %.0f%%" % (100 * (used.ru_utime + used.ru_stime) / (time.monotonic() - start)))
' "${on_client_cores[@]}" wrk -t1 -c"$conns" -d"${secs}s" --latency -H "$auth" "$url" >"$tmp/wrk.out"
  after=$(ticks "$@")
  awk -v server="$(awk -v t=$((after - before)) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.0f%%", 100 * t / hz / s }')" '
    /Requests\/sec/ { rps = $2 }
    /Transfer\/sec/ { tps = $2 }
    /^    Latency/  { avg = $2 }
    /^ +99%/        { p99 = $2 }
    /^client-cpu/   { client = $2 }
    /Non-2xx/       { failed = 1 }
    END { if (failed) print "failed"; else print rps, avg, p99, tps, server, client }' "$tmp/wrk.out"
}
# Stops the script when a run's answers were not all successes (a refused
# token would otherwise be measured as a fast read).
check() { [ "$1" != failed ] || { echo "$2 answered errors to wrk's reads of $3" >&2; exit 1; }; }
bytes_per_sec() { # 1.23GB -> bytes
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    m = (u ~ /^K/) ? 1024 : (u ~ /^M/) ? 1048576 : (u ~ /^G/) ? 1073741824 : 1; printf "%.0f", n * m }'
}

echo "$(nproc) cores; wrk -t1 -c$conns -d${secs}s; serving threads: $threads$placement; token checks on; azimuth $(git rev-parse --short HEAD), nginx $(nginx -v 2>&1 | sed 's#.*/##')"
row() { printf '%-10s %-8s %12s %10s %10s %12s %8s %7s %7s\n' "$@"; }
row file server "req/s" "lat avg" "lat p99" "transfer/s" "vs nginx" "cpu" "wrk cpu"
ratio() { # "a vs b" of requests/s, or of transfer/s for the large file
  if [ "$1" = f256m ]; then
    awk -v a="$(bytes_per_sec "$2")" -v n="$(bytes_per_sec "$3")" 'BEGIN { printf "%.2fx", a / n }'
  else
    awk -v a="$2" -v n="$3" 'BEGIN { printf "%.2fx", a / n }'
  fi
}
for f in f4k f64k f256m; do
  read -r n_rps n_avg n_p99 n_tps n_cpu n_wrk < <(run "http://127.0.0.1:$nginx_port/files/$f" "$nginx_pid" $(pgrep -P "$nginx_pid"))
  read -r b_rps b_avg b_p99 b_tps b_cpu b_wrk < <(run "http://$bare/files/$f" "$bare_pid")
  read -r a_rps a_avg a_p99 a_tps a_cpu a_wrk < <(run "http://$worker/files/$f" "$worker_pid")
  check "$n_rps" nginx "$f"; check "$b_rps" "the bare server" "$f"; check "$a_rps" "the worker" "$f"
  if [ "$f" = f256m ]; then
    b_ratio=$(ratio "$f" "$b_tps" "$n_tps"); a_ratio=$(ratio "$f" "$a_tps" "$n_tps")
  else
    b_ratio=$(ratio "$f" "$b_rps" "$n_rps"); a_ratio=$(ratio "$f" "$a_rps" "$n_rps")
  fi
  row "$f" nginx "$n_rps" "$n_avg" "$n_p99" "$n_tps" "" "$n_cpu" "$n_wrk"
  row "$f" bare "$b_rps" "$b_avg" "$b_p99" "$b_tps" "$b_ratio" "$b_cpu" "$b_wrk"
  row "$f" azimuth "$a_rps" "$a_avg" "$a_p99" "$a_tps" "$a_ratio" "$a_cpu" "$a_wrk"
done
[ "$(ufs_reads)" = "$loaded" ] || echo "warning: the worker read the UFS during the run (not all hits)" >&2
