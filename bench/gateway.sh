#!/bin/bash
# bench/gateway.sh DRIVER: the autoseal gateway (tests/gateway/tls_driver.cc, one I/O thread),
# nginx, HAProxy and Caddy terminating TLS with the same ECDSA P-256 certificate in front of the
# same origin (nginx returning "hello world\n"), in one run. Method: docs/PERFORMANCE.md "Gateway"
# and the research notes §2.2-2.3: proxy pinned to CPU 0 with one worker/thread, origin and wrk
# on CPU 1, access logs off, upstream keep-alive on, TLS resumption off everywhere. Per proxy and
# repetition: wrk keep-alive and "Connection: close" (a full handshake per request) runs; proxy
# CPU from /proc/<pid>/stat; requests per proxy CPU-second, p99 latency, and the proxy's RSS
# growth per idle keep-alive TLS connection (1000 connections, each after one request).
# Environment: DURATION (s, default 10), REPS (default 3), CONNS (wrk -c, default 50),
# PROXIES (default "autoseal nginx haproxy caddy"; "baseline" runs BASELINE, another build of
# the driver, for an A/B in the same run). Prints a table; not a test.
set -uo pipefail
DRIVER=$(readlink -f "${1:?usage: bench/gateway.sh path/to/gateway_tls_driver}")
DURATION=${DURATION:-10}
REPS=${REPS:-3}
CONNS=${CONNS:-50}
PROXIES=${PROXIES:-autoseal nginx haproxy caddy}
BASELINE=$(readlink -f "${BASELINE:-$DRIVER}")
WORK=$(mktemp -d /tmp/autoseal-bench-gateway.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
HZ=$(getconf CLK_TCK)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; return 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cert.key -out cert.pem \
  -days 30 -subj /CN=bench.test -addext "subjectAltName=DNS:bench.test,IP:127.0.0.1" 2>/dev/null
cat cert.pem cert.key >combined.pem

# The origin: nginx on CPU 1.
ORIGIN=$(free_port)
mkdir -p origin/logs
cat >origin/nginx.conf <<EOF
worker_processes 1;
daemon off;
pid $WORK/origin/nginx.pid;
error_log $WORK/origin/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$ORIGIN; location / { return 200 "hello world\n"; } }
}
EOF
taskset -c 1 nginx -p "$WORK/origin" -c "$WORK/origin/nginx.conf" 2>/dev/null &
PIDS+=($!)
wait_port "$ORIGIN" || exit 1

PORT=$(free_port)
PROXY_PID=
start_proxy() {
  case $1 in
    autoseal|baseline)
      local driver=$DRIVER
      [ "$1" = baseline ] && driver=$BASELINE
      taskset -c 0 "$driver" --https "127.0.0.1:$PORT" --threads 1 --no-tickets --default-site bench \
        --site "bench=bench.test,127.0.0.1=http://127.0.0.1:$ORIGIN" --cert bench=cert.pem,cert.key \
        >autoseal.out 2>autoseal.err &
      PROXY_PID=$!;;
    nginx)
      mkdir -p nginx/logs
      cat >nginx/nginx.conf <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream origin { server 127.0.0.1:$ORIGIN; keepalive 64; }
  server {
    listen 127.0.0.1:$PORT ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/cert.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
      taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>/dev/null &
      PROXY_PID=$!;;
    haproxy)
      cat >haproxy.cfg <<EOF
global
  nbthread 1
  maxconn 9000
  tune.ssl.cachesize 0
  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$PORT ssl crt $WORK/combined.pem alpn http/1.1
  default_backend be
backend be
  server origin 127.0.0.1:$ORIGIN
EOF
      taskset -c 0 haproxy -f haproxy.cfg -db >haproxy.log 2>&1 &
      PROXY_PID=$!;;
    caddy)
      cat >caddy.json <<EOF
{"admin": {"disabled": true},
 "logging": {"logs": {"default": {"level": "ERROR"}}},
 "apps": {
  "tls": {"certificates": {"load_files": [{"certificate": "$WORK/cert.pem", "key": "$WORK/cert.key"}]},
          "session_tickets": {"disabled": true}},
  "http": {"servers": {"bench": {
    "listen": ["127.0.0.1:$PORT"],
    "automatic_https": {"disable": true},
    "tls_connection_policies": [{"default_sni": "bench.test"}],
    "routes": [{"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:$ORIGIN"}]}]}]
  }}}}}
EOF
      HOME=$WORK XDG_DATA_HOME=$WORK/caddy XDG_CONFIG_HOME=$WORK/caddy GOMAXPROCS=1 \
        taskset -c 0 caddy run --config caddy.json >caddy.log 2>&1 &
      PROXY_PID=$!;;
  esac
  PIDS+=($PROXY_PID)
  wait_port "$PORT"
}
stop_proxy() { kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; PROXY_PID=; sleep 0.5; }

# All processes of the proxy (nginx: master and worker).
proxy_pids() { echo "$PROXY_PID $(pgrep -P "$PROXY_PID" | tr '\n' ' ')"; }
cpu_ticks() {
  local total=0 p
  for p in $(proxy_pids); do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}
rss_kb() {
  local total=0 p
  for p in $(proxy_pids); do
    [ -r "/proc/$p/status" ] || continue
    total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status")))
  done
  echo "$total"
}

# run_wrk [extra wrk args]: prints "requests cpu_seconds p99"
run_wrk() {
  local before after
  before=$(cpu_ticks)
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$@" "https://127.0.0.1:$PORT/" >wrk.out 2>&1
  after=$(cpu_ticks)
  local requests p99
  requests=$(awk '/requests in/ {print $1}' wrk.out)
  p99=$(awk '$1 == "99%" {print $2}' wrk.out)
  echo "$requests $(echo "scale=3; ($after - $before) / $HZ" | bc) $p99"
}

# Memory per idle connection: 1000 TLS keep-alive connections, each after one request.
idle_memory() {
  python3 - "$PORT" "$(proxy_pids)" <<'EOF'
import socket, ssl, sys, time
port = int(sys.argv[1]); pids = sys.argv[2].split()
def rss():
    total = 0
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"): total += int(line.split()[1])
        except OSError: pass
    return total
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
warm = []
for _ in range(50):   # warm up allocators and pools first
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="bench.test")
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n"); s.recv(4096); warm.append(s)
time.sleep(0.5)
base = rss(); n = 1000; conns = []
for _ in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="bench.test")
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n")
    data = b""
    while b"hello world" not in data:
        chunk = s.recv(4096)
        if not chunk: break
        data += chunk
    conns.append(s)
time.sleep(1)
print(f"{(rss() - base) / n:.1f}")
EOF
}

printf '%-9s %3s %14s %9s %12s %14s %9s %10s %12s\n' proxy rep "ka req/s" "ka p99" "ka req/cpu-s" "hs req/s" "hs p99" "hs/cpu-s" "KiB/idle-conn"
for rep in $(seq 1 "$REPS"); do
  for proxy in $PROXIES; do
    start_proxy "$proxy" || { echo "$proxy did not start"; continue; }
    DURATION_SAVED=$DURATION; DURATION=3; run_wrk >/dev/null; DURATION=$DURATION_SAVED
    read -r ka_req ka_cpu ka_p99 <<<"$(run_wrk)"
    read -r hs_req hs_cpu hs_p99 <<<"$(run_wrk -H 'Connection: close')"
    mem=$(idle_memory 2>/dev/null || echo "?")
    stop_proxy
    printf '%-9s %3s %14s %9s %12s %14s %9s %10s %12s\n' "$proxy" "$rep" \
      "$(echo "$ka_req / $DURATION" | bc)" "$ka_p99" "$(echo "$ka_req / $ka_cpu" | bc)" \
      "$(echo "$hs_req / $DURATION" | bc)" "$hs_p99" "$(echo "$hs_req / $hs_cpu" | bc)" "$mem"
  done
done
echo "load: $(uptime)"
