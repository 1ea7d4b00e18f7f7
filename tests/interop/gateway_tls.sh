#!/bin/bash
# Gateway TLS and proxy interop: openssl s_client sees the expected certificate per SNI and per
# key type (ECDSA vs RSA chosen by -sigalgs), TLS 1.1 and unknown names are refused, tickets
# resume; curl gets pages, HSTS and a 1 GB-class stream (here 256 MB, checked by SHA-256) from a
# python3 http.server origin through the gateway, and the HTTP listener's redirect. Uses the
# gateway_tls_driver (certificates from PEM files, no CA). Servers on free ports, stopped by PID.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
DRIVER=$(readlink -f "${GATEWAY_DRIVER:?}")
cd "$WORK"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Certificates: a.test with ECDSA P-256 and RSA 2048, b.test with ECDSA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout a-ec.key -out a-ec.pem -days 30 -subj /CN=a.test -addext subjectAltName=DNS:a.test 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout a-rsa.key -out a-rsa.pem -days 30 -subj /CN=a.test -addext subjectAltName=DNS:a.test 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout b-ec.key -out b-ec.pem -days 30 -subj /CN=b.test -addext subjectAltName=DNS:b.test 2>/dev/null
[ -s a-ec.pem ] && [ -s a-rsa.pem ] && [ -s b-ec.pem ] || { echo "openssl req failed"; exit 1; }

mkdir www
printf 'hello from the origin\n' >www/hello.txt
head -c $((256 << 20)) /dev/urandom >www/big.bin
ORIGIN_PORT=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory www "$ORIGIN_PORT" >origin.log 2>&1 &
PIDS+=($!)

"$DRIVER" --https 127.0.0.1:0 --http 127.0.0.1:0 --admin 127.0.0.1:0 --threads 2 \
  --site "a=a.test=http://127.0.0.1:$ORIGIN_PORT" --cert a=a-ec.pem,a-ec.key --cert a=a-rsa.pem,a-rsa.key \
  --site "b=b.test=http://127.0.0.1:$ORIGIN_PORT" --cert b=b-ec.pem,b-ec.key >driver.out 2>driver.err &
DRIVER_PID=$!
PIDS+=($DRIVER_PID)
for _ in $(seq 1 100); do
  grep -q '^https=' driver.out && break
  kill -0 "$DRIVER_PID" 2>/dev/null || break
  sleep 0.1
done
HTTPS=$(sed -n 's/^https=\([0-9]*\).*/\1/p' driver.out)
HTTP=$(sed -n 's/.* http=\([0-9]*\).*/\1/p' driver.out)
ADMIN=$(sed -n 's/.* admin=\([0-9]*\).*/\1/p' driver.out)
[ -n "$HTTPS" ] || { echo "driver did not start:"; cat driver.err; exit 1; }
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/hello.txt" && break; sleep 0.1; done

sclient() { openssl s_client -connect "127.0.0.1:$HTTPS" "$@" </dev/null 2>&1; }
leaf() { sclient "$@" | openssl x509 -noout -fingerprint -sha256 2>/dev/null; }
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256; }

check "SNI a.test, default sigalgs: the ECDSA certificate" test "$(leaf -servername a.test)" = "$(fp a-ec.pem)"
check "SNI a.test, RSA-only sigalgs (TLS 1.3): the RSA certificate" \
  test "$(leaf -servername a.test -sigalgs 'RSA-PSS+SHA256:RSA-PSS+SHA384')" = "$(fp a-rsa.pem)"
check "SNI a.test, RSA-only sigalgs (TLS 1.2): the RSA certificate" \
  test "$(leaf -servername a.test -tls1_2 -sigalgs 'RSA+SHA256')" = "$(fp a-rsa.pem)"
check "SNI a.test, ECDSA sigalgs (TLS 1.2): the ECDSA certificate" \
  test "$(leaf -servername a.test -tls1_2 -sigalgs 'ECDSA+SHA256:RSA+SHA256')" = "$(fp a-ec.pem)"
check "SNI b.test: b's certificate" test "$(leaf -servername b.test)" = "$(fp b-ec.pem)"
check "unknown SNI refused with unrecognized_name" bash -c "openssl s_client -connect 127.0.0.1:$HTTPS -servername nobody.test </dev/null 2>&1 | grep -q 'unrecognized name'"
check "no SNI refused (no default site)" bash -c "! openssl s_client -connect 127.0.0.1:$HTTPS -noservername </dev/null 2>&1 | grep -q 'BEGIN CERTIFICATE'"
check "TLS 1.1 refused" bash -c "! openssl s_client -connect 127.0.0.1:$HTTPS -servername a.test -tls1_1 </dev/null 2>&1 | grep -q 'BEGIN CERTIFICATE'"
check "TLS 1.2 negotiates an ECDHE AEAD suite" bash -c "openssl s_client -connect 127.0.0.1:$HTTPS -servername a.test -tls1_2 </dev/null 2>&1 | grep -Eq 'Cipher is ECDHE-ECDSA-(AES128-GCM|AES256-GCM|CHACHA20)'"
check "TLS 1.3 negotiated by default" bash -c "openssl s_client -connect 127.0.0.1:$HTTPS -servername a.test </dev/null 2>&1 | grep -q 'TLSv1.3'"
check "ALPN http/1.1" bash -c "openssl s_client -connect 127.0.0.1:$HTTPS -servername a.test -alpn h2,http/1.1 </dev/null 2>&1 | grep -q 'ALPN protocol: http/1.1'"
check "session tickets resume (TLS 1.2)" bash -c "openssl s_client -connect 127.0.0.1:$HTTPS -servername a.test -tls1_2 -reconnect </dev/null 2>&1 | grep -c '^Reused' | grep -q '^5$'"

CURL=(curl -s --cacert a-ec.pem --resolve "a.test:$HTTPS:127.0.0.1")
check "curl GET through the gateway" test "$("${CURL[@]}" "https://a.test:$HTTPS/hello.txt")" = "hello from the origin"
check "HSTS on HTTPS responses" bash -c "curl -s -D - -o /dev/null --cacert a-ec.pem --resolve a.test:$HTTPS:127.0.0.1 https://a.test:$HTTPS/hello.txt | grep -qi '^strict-transport-security: max-age=31536000'"
check "missing path: the origin's 404 passes through" test "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "https://a.test:$HTTPS/nope")" = 404
"${CURL[@]}" -o got.bin "https://a.test:$HTTPS/big.bin"
check "256 MB download intact" test "$(sha256sum <got.bin | cut -c1-64)" = "$(sha256sum <www/big.bin | cut -c1-64)"
check "gateway RSS stayed small during the download" bash -c "test \$(awk '/VmHWM/ {print \$2}' /proc/$DRIVER_PID/status) -lt 131072"
check "HTTP listener redirects to HTTPS" test "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: a.test' "http://127.0.0.1:$HTTP/x?y=1")" = "301 https://a.test:$HTTPS/x?y=1"
check "admin /metrics counts the requests" bash -c "curl -s http://127.0.0.1:$ADMIN/metrics | grep -q 'autoseal_gateway_requests_total{site=\"a\",code=\"2xx\"} [1-9]'"

kill "$DRIVER_PID"
wait "$DRIVER_PID"
check "SIGTERM: the driver drained and exited 0" test $? -eq 0
finish
