#!/usr/bin/env bash
# Interop: `autoseal up` (what `make run` starts) serves ACME, two CT logs and time stamps on
# loopback: certbot obtains a certificate for demo.localhost from it, which carries embedded SCTs
# that OpenSSL decodes and `autoseal cert verify --ct-logs` checks against a log list of up's
# logs, and `openssl ts` gets and verifies a time-stamp token. Its HTTPS gateway, with a
# certificate it obtained from up's own ACME server (tls-alpn-01 here, since certbot takes the
# http-01 port), serves the demo origin's page to curl. Then SIGTERM stops it cleanly.
AUTOSEAL=${AUTOSEAL:-${1:-}}
. "$(dirname "$0")/lib.sh"
cd "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ACME=$(free_port); TSA=$(free_port); HTTP01=$(free_port); CT=$(free_port); CTSM2=$(free_port)
GWH=$(free_port); GWS=$(free_port); GWA=$(free_port); ORIGIN=$(free_port)

"$AUTOSEAL" up --dir var --acme-listen 127.0.0.1:$ACME --tsa-listen 127.0.0.1:$TSA --http01-port $HTTP01 \
  --ct-listen 127.0.0.1:$CT --ct-sm2-listen 127.0.0.1:$CTSM2 --gateway-http 127.0.0.1:$GWH \
  --gateway-https 127.0.0.1:$GWS --gateway-admin 127.0.0.1:$GWA --origin-listen 127.0.0.1:$ORIGIN >up.out 2>up.err &
UP=$!
PIDS+=("$UP")
for _ in $(seq 1 300); do grep -q "Serving" up.out 2>/dev/null && break; sleep 0.2; done
check "up prints what it made and serves" grep -q "ACME directory   https://127.0.0.1:$ACME/directory" up.out
check "demo certificates exist for all three hierarchies" test -s var/demo/localhost-ecc.pem -a -s var/demo/localhost-rsa.pem -a -s var/demo/localhost-sm2.pem
check "up prints both CT logs" grep -q "CT log (ECDSA)   http://127.0.0.1:$CT .*CT log (SM2)     http://127.0.0.1:$CTSM2 " <(tr '\n' ' ' <up.out)
check "up's summary says where SM2 SCTs go" grep -q "SCTs: ECC and RSA certificates embed the ECDSA log's SCT only" up.out
check "ct log-list writes a list of up's two logs" bash -c "'$AUTOSEAL' ct log-list http://127.0.0.1:$CT http://127.0.0.1:$CTSM2 >ct-logs.json"
check "the ECC demo certificate embeds an SCT OpenSSL decodes" bash -c \
  "openssl x509 -in var/demo/localhost-ecc.pem -noout -text | grep -q 'CT Precertificate SCTs'"
check "the SM2 demo certificate's SCTs from both logs verify" "$AUTOSEAL" cert verify --roots var/roots.pem \
  --ct-logs ct-logs.json --ct-min 2 var/demo/localhost-sm2.pem

if command -v certbot >/dev/null; then
  check "certbot obtains a certificate for demo.localhost" env REQUESTS_CA_BUNDLE=var/roots.pem timeout 120 \
    certbot certonly --non-interactive --server https://127.0.0.1:$ACME/directory --standalone \
    --http-01-port $HTTP01 --http-01-address 127.0.0.1 --agree-tos --register-unsafely-without-email \
    -d demo.localhost --config-dir cb --work-dir cb --logs-dir cb
  check "the certificate verifies under the CA roots" openssl verify -CAfile var/roots.pem \
    -untrusted cb/live/demo.localhost/chain.pem cb/live/demo.localhost/cert.pem
  check "certbot's certificate carries an embedded SCT list" bash -c \
    "openssl x509 -in cb/live/demo.localhost/cert.pem -noout -text | grep -q 'CT Precertificate SCTs'"
  check "autoseal cert verify --ct-logs accepts certbot's certificate and its SCT" "$AUTOSEAL" cert verify \
    --roots var/roots.pem --ct-logs ct-logs.json --ct-min 1 cb/live/demo.localhost/fullchain.pem
else
  fail "certbot is not installed (scripts/install-deps installs it)"
fi

echo "postmark me" >data.txt
openssl ts -query -data data.txt -sha256 -cert -out q.tsq 2>/dev/null
check "the TSA answers a time-stamp query" curl -sf -H 'Content-Type: application/timestamp-query' \
  --data-binary @q.tsq -o r.tsr http://127.0.0.1:$TSA/
awk '/BEGIN CERT/{n++} n==1' var/tsa/ecdsa/tsa-chain.pem >tsa.pem 2>/dev/null || true
check "openssl ts -verify accepts the token" openssl ts -verify -data data.txt -in r.tsr \
  -CAfile var/roots.pem -untrusted var/tsa/ecdsa/tsa-chain.pem

check "up prints the gateway and the curl to try" grep -q "curl --cacert var/roots.pem https://localhost:$GWS/" up.out
check "curl through up's gateway gets the demo origin's page" bash -c \
  "curl -sf --max-time 10 --cacert var/roots.pem --resolve localhost:$GWS:127.0.0.1 https://localhost:$GWS/ | grep -q 'Hello from the demo origin'"
check "the gateway's certificate verifies under up's roots" bash -c \
  "echo | openssl s_client -connect 127.0.0.1:$GWS -servername localhost -verify_return_error -CAfile var/roots.pem 2>&1 | grep -q 'Verify return code: 0 (ok)'"
check "the gateway's certificate was issued for localhost over ACME and stored under var/gateway" \
  test -s var/gateway/certs/localhost_ecdsa/chain.pem -a -s var/gateway/certs/localhost_rsa/chain.pem
check "the gateway's /metrics shows the certificate's expiry" bash -c \
  "curl -sf http://127.0.0.1:$GWA/metrics | grep -q 'autoseal_gateway_certificate_expiry_timestamp_seconds{site=\"localhost\"'"

kill -TERM "$UP"
for _ in $(seq 1 50); do kill -0 "$UP" 2>/dev/null || break; sleep 0.1; done
check "SIGTERM stops up" sh -c "! kill -0 $UP 2>/dev/null"
finish
