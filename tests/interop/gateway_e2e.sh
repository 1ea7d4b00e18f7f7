#!/usr/bin/env bash
# End to end on loopback: an origin (python3 -m http.server) + `autoseal ca serve` + `autoseal
# gateway`. curl gets the origin's page over HTTPS with a certificate the gateway obtained itself
# (http-01 answered on its HTTP listener), `openssl verify` accepts the chain, `openssl s_client`
# shows the right certificate per SNI and per signature algorithm (ECDSA and RSA); keys are 0600;
# /metrics shows expiry per site. Renewal is observed with one-day certificates and a renew_before
# that makes them due ~35 s after issuance, while a rate-limited download keeps going and completes
# intact; the renewal names the replaced certificate (ARI). CA down: the gateway keeps serving and
# retries with growing backoff, starts (and serves stored certificates) with the CA unreachable,
# and recovers when it is back. Two gateways sharing a data directory order once (counted in the
# CA's log). A primary CA that keeps failing gives way to the fallback CA. Bad configuration:
# clear one-line messages, a bad site skipped while the others are served. SIGHUP adds a site,
# SIGTERM stops. Servers on free ports, stopped by PID.
AUTOSEAL=${AUTOSEAL:-${1:-}}
. "$(dirname "$0")/lib.sh"
cd "$WORK"
for tool in openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "FAIL - $tool not installed (scripts/install-deps)"; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ACME=$(free_port); GH=$(free_port); GS=$(free_port); ADMIN=$(free_port); ORIGIN=$(free_port)
DIRURL=https://127.0.0.1:$ACME/directory

# wait_for SECONDS command...: polls every 0.5 s until the command succeeds.
wait_for() {
  local n=$(($1 * 2)); shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}
stop_pid() { kill -TERM "$1" 2>/dev/null; for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -KILL "$1" 2>/dev/null; }
leaf_of() {  # leaf_of NAME [s_client options...]: the leaf certificate the gateway presents (PEM)
  local name=$1; shift
  echo | timeout 10 openssl s_client -connect 127.0.0.1:$GS -servername "$name" "$@" 2>/dev/null | openssl x509
}
serial_of() { leaf_of "$@" | openssl x509 -noout -serial | cut -d= -f2; }

# The origin: a page and a 24 MB file for the long download.
mkdir www
echo "<h1>hello from the origin</h1>" >www/index.html
head -c 24000000 /dev/urandom >www/big.bin
(cd www && exec python3 -m http.server "$ORIGIN" --bind 127.0.0.1 >../origin.log 2>&1) &
PIDS+=($!)

"$AUTOSEAL" ca init --dir ca >/dev/null || { echo "FAIL - ca init"; exit 1; }
"$AUTOSEAL" ca roots --dir ca >roots.pem
start_ca() {  # start_ca LOG: our ACME server validating on the gateway's ports
  "$AUTOSEAL" ca serve --dir ca --listen 127.0.0.1:$ACME --http01-port $GH --tlsalpn01-port $GS >>"$1" 2>&1 &
  CA_PID=$!
  PIDS+=($CA_PID)
  wait_for 20 curl -sf --cacert roots.pem "$DIRURL" || { echo "FAIL - autoseal ca serve did not start"; tail "$1"; exit 1; }
}
start_ca ca.log

cat >gw.toml <<TOML
# The gateway under test: two good sites, one with a name that is not a DNS name, one whose
# origin does not resolve.
dir = "gw"
http = "127.0.0.1:$GH"
https = "127.0.0.1:$GS"
admin = "127.0.0.1:$ADMIN"

[acme]
directory = "$DIRURL"
ca_bundle = "roots.pem"
email = "ops@a.localhost"
lifetime = "1d"

[renewal]
renew_before = "23h59m25s"
retry_initial = "2s"
retry_max = "8s"

[[site]]
name = "a.localhost"
names = ["a.localhost", "www.a.localhost"]
origin = "http://127.0.0.1:$ORIGIN"

[[site]]
names = ["b.localhost"]
origin = "http://127.0.0.1:$ORIGIN"

[[site]]
names = ["bad_name.localhost"]
origin = "http://127.0.0.1:$ORIGIN"

[[site]]
names = ["e.localhost"]
origin = "http://no-such-host.invalid:8080"
TOML
start_gateway() {  # start_gateway LOG
  "$AUTOSEAL" gateway --config gw.toml >>"$1" 2>&1 &
  GW_PID=$!
  PIDS+=($GW_PID)
}
start_gateway gw.log

check "the gateway serves the origin's page over HTTPS with a certificate it obtained" \
  wait_for 60 bash -c "curl -sf --max-time 10 --cacert roots.pem --resolve a.localhost:$GS:127.0.0.1 https://a.localhost:$GS/ | grep -q 'hello from the origin'"
check "the second name of the site and the second site are served too" \
  wait_for 60 bash -c "curl -sf --max-time 10 --cacert roots.pem --resolve www.a.localhost:$GS:127.0.0.1 https://www.a.localhost:$GS/ >/dev/null && curl -sf --max-time 10 --cacert roots.pem --resolve b.localhost:$GS:127.0.0.1 https://b.localhost:$GS/ | grep -q origin"
check "a bad site is reported by name" grep -q 'bad_name.localhost.*is not a valid DNS name' gw.log
check "the site with a bad name is not served" bash -c "! grep -q '\"site\":\"bad_name' gw.log"
check "a site whose origin does not resolve is reported by name and skipped" \
  grep -q 'site \\"e.localhost\\": origin host \\"no-such-host.invalid\\" does not resolve (site skipped)' gw.log

# Both key types must exist before the per-key-type checks.
check "ECDSA and RSA certificates for both sites were obtained" \
  wait_for 60 bash -c "test \$(grep -c 'certificate obtained' gw.log) -ge 4"
echo | openssl s_client -connect 127.0.0.1:$GS -servername a.localhost -showcerts 2>/dev/null |
  awk '/BEGIN CERT/{n++} n>=2' | sed -n '/BEGIN CERT/,/END CERT/p' >chain-rest.pem
leaf_of a.localhost >a.pem
check "openssl verify: the served chain verifies to the CA's roots" \
  openssl verify -CAfile roots.pem -untrusted chain-rest.pem a.pem
check "SNI a.localhost: the certificate names a.localhost and www.a.localhost" \
  bash -c "openssl x509 -in a.pem -noout -ext subjectAltName | grep -q 'DNS:a.localhost, DNS:www.a.localhost'"
check "SNI b.localhost: the certificate names b.localhost" \
  bash -c "openssl x509 -in <(echo | openssl s_client -connect 127.0.0.1:$GS -servername b.localhost 2>/dev/null) -noout -ext subjectAltName | grep -q 'DNS:b.localhost'"
check "SNI unknown.localhost: refused with unrecognized_name" \
  bash -c "echo | openssl s_client -connect 127.0.0.1:$GS -servername unknown.localhost 2>&1 | grep -q 'unrecognized name'"
check "-sigalgs ECDSA (TLS 1.3): an ECDSA P-256 certificate" \
  bash -c "leaf() { echo | openssl s_client -connect 127.0.0.1:$GS -servername a.localhost \"\$@\" 2>/dev/null | openssl x509 -noout -text; }; leaf -sigalgs ecdsa_secp256r1_sha256 | grep -q 'id-ecPublicKey'"
check "-sigalgs RSA (TLS 1.3, rsa_pss_rsae): an RSA certificate" \
  bash -c "echo | openssl s_client -connect 127.0.0.1:$GS -servername a.localhost -sigalgs rsa_pss_rsae_sha256 2>/dev/null | openssl x509 -noout -text | grep -q 'rsaEncryption'"
check "-sigalgs RSA+SHA256 (TLS 1.2): an RSA certificate" \
  bash -c "echo | openssl s_client -connect 127.0.0.1:$GS -servername a.localhost -tls1_2 -sigalgs RSA+SHA256 2>/dev/null | openssl x509 -noout -text | grep -q 'rsaEncryption'"
check "keys are stored with mode 0600" \
  bash -c "test \$(stat -L -c %a gw/certs/a.localhost_ecdsa/key.pem) = 600 && test \$(stat -L -c %a gw/certs/a.localhost_rsa/key.pem) = 600"
check "the stored chain is the one served" \
  bash -c "test \"\$(openssl x509 -in gw/certs/a.localhost_ecdsa/chain.pem -noout -serial)\" = \"\$(openssl x509 -in <(echo | openssl s_client -connect 127.0.0.1:$GS -servername a.localhost -sigalgs ecdsa_secp256r1_sha256 2>/dev/null) -noout -serial)\""
check "/metrics shows certificate expiry per site and key type" \
  bash -c "curl -sf http://127.0.0.1:$ADMIN/metrics | grep -q 'autoseal_gateway_certificate_expiry_timestamp_seconds{site=\"b.localhost\",key_type=\"rsa\"} [0-9]'"
check "plain HTTP is redirected to HTTPS" \
  bash -c "curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: a.localhost' http://127.0.0.1:$GH/x | grep -q '^30[18] https://a.localhost'"

# Renewal while a long download keeps going: 24 MB at 300 kB/s takes ~80 s; certificates are due
# ~35 s after issuance.
curl -sf --cacert roots.pem --resolve a.localhost:$GS:127.0.0.1 --limit-rate 300k \
  -o download.bin "https://a.localhost:$GS/big.bin" 2>download.err &
DL=$!
PIDS+=($DL)
first=$(serial_of a.localhost -sigalgs ecdsa_secp256r1_sha256)
renewed() { s=$(serial_of a.localhost -sigalgs ecdsa_secp256r1_sha256) && [ -n "$s" ] && [ "$s" != "$first" ]; }
check "a renewed certificate is served (new serial) while the download runs" wait_for 120 renewed
check "the download was still running when the new certificate was served" kill -0 $DL
wait $DL
check "the download completed intact across the renewal" cmp -s download.bin www/big.bin
check "the renewal named the certificate it replaces (ARI, RFC 9773 §5)" \
  bash -c "grep -h '\"replaces\"' gw/certs/a.localhost_ecdsa/meta.json | grep -vq '\"replaces\":\"\"'"
check "renewals are counted in /metrics" \
  bash -c "curl -sf http://127.0.0.1:$ADMIN/metrics | grep -Eq 'autoseal_gateway_certificate_renewals_total\{site=\"a.localhost\",key_type=\"ecdsa\"\} ([2-9]|[1-9][0-9])'"

# The CA goes down: the gateway keeps serving and retries with backoff.
stop_pid $CA_PID
ecdsa_a() { grep 'retrying with backoff' gw.log | grep '"site":"a.localhost","key_type":"ecdsa"'; }
retry_after_failure() { ecdsa_a | grep "\"failures\":\"$1\"" | head -1 | grep -o '"retry_in_s":"[0-9]*"' | tr -dc '0-9'; }
check "CA down: renewals fail and are retried (three failures of one certificate)" \
  wait_for 120 bash -c "grep 'retrying with backoff' gw.log | grep '\"site\":\"a.localhost\",\"key_type\":\"ecdsa\"' | grep -q '\"failures\":\"3\"'"
# retry_initial 2s, retry_max 8s, jitter [0.5, 1.5): after one failure 1-3 s, after three 4-8 s.
check "CA down: the backoff grows (retry after the third failure longer than after the first)" \
  test "$(retry_after_failure 3)" -gt "$(retry_after_failure 1)"
check "CA down: the backoff is capped at renewal.retry_max" test "$(retry_after_failure 3)" -le 8
check "CA down: renewal failures counted in /metrics" \
  bash -c "curl -sf http://127.0.0.1:$ADMIN/metrics | grep -q 'autoseal_gateway_certificate_renewal_failures_total{site=\"a.localhost\"'"
check "CA down: the site is still served" bash -c "curl -sf --max-time 10 --cacert roots.pem --resolve a.localhost:$GS:127.0.0.1 https://a.localhost:$GS/ | grep -q origin"

# Restart the gateway while the CA is down: stored certificates are served at once.
stop_pid $GW_PID
check "SIGTERM stops the gateway" bash -c "! kill -0 $GW_PID 2>/dev/null"
start_gateway gw2.log
check "restart with the CA down: says the ACME CA is unreachable" \
  wait_for 30 grep -q 'ACME CA unreachable at start' gw2.log
check "restart with the CA down: serves the stored certificate" \
  wait_for 30 bash -c "curl -sf --max-time 10 --cacert roots.pem --resolve a.localhost:$GS:127.0.0.1 https://a.localhost:$GS/ | grep -q origin"
start_ca ca.log
check "CA back: the gateway obtains certificates again" wait_for 90 grep -q 'certificate obtained' gw2.log

# SIGHUP: a new site is picked up and gets its certificates.
cat >>gw.toml <<TOML

[[site]]
names = ["d.localhost"]
origin = "http://127.0.0.1:$ORIGIN"
TOML
kill -HUP $GW_PID
check "SIGHUP: the new site d.localhost is served with its own certificate" \
  wait_for 60 bash -c "curl -sf --max-time 10 --cacert roots.pem --resolve d.localhost:$GS:127.0.0.1 https://d.localhost:$GS/ | grep -q origin"
stop_pid $GW_PID

# Two gateways sharing one data directory, started together, order once per key type. A second
# CA validates on the first gateway's ports; http-01 tokens are shared through the directory, so
# whichever gateway orders, the first one answers.
ACME2=$(free_port); H2=$(free_port); S2=$(free_port); H3=$(free_port); S3=$(free_port)
"$AUTOSEAL" ca init --dir ca2 >/dev/null
"$AUTOSEAL" ca roots --dir ca2 >roots2.pem
"$AUTOSEAL" ca serve --dir ca2 --listen 127.0.0.1:$ACME2 --http01-port $H2 --tlsalpn01-port $S2 >ca2.log 2>&1 &
CA2=$!
PIDS+=($CA2)
wait_for 20 curl -sf --cacert roots2.pem "https://127.0.0.1:$ACME2/directory" || fail "second CA did not start"
shared() {  # shared HTTP HTTPS LOG
  "$AUTOSEAL" gateway --dir shared --site c.localhost=http://127.0.0.1:$ORIGIN \
    --acme "https://127.0.0.1:$ACME2/directory" --acme-ca-bundle roots2.pem \
    --http 127.0.0.1:$1 --https 127.0.0.1:$2 >>"$3" 2>&1 &
  PIDS+=($!)
}
shared $H2 $S2 g2.log; G2=$!
shared $H3 $S3 g3.log; G3=$!
both_serve() {
  for p in $S2 $S3; do
    curl -sf --max-time 10 --cacert roots2.pem --resolve c.localhost:$p:127.0.0.1 "https://c.localhost:$p/" | grep -q origin || return 1
  done
}
check "two gateways sharing a data directory both serve c.localhost" wait_for 90 both_serve
# The second gateway adopts the first one's certificates when it takes the lock (or at its start).
sleep 2
check "two gateways sharing a data directory: the CA issued exactly two certificates (ECDSA + RSA)" \
  test "$(grep -c '"acme: issued"' ca2.log)" = 2
check "two gateways sharing a data directory serve the same certificate" bash -c \
  "test \"\$(echo | openssl s_client -connect 127.0.0.1:$S2 -servername c.localhost 2>/dev/null | openssl x509 -noout -serial)\" = \"\$(echo | openssl s_client -connect 127.0.0.1:$S3 -servername c.localhost 2>/dev/null | openssl x509 -noout -serial)\""
stop_pid $G2
stop_pid $G3

# A primary CA that is down: after fallback_after_failures failures the second CA issues.
DEAD=$(free_port)
cat >fb.toml <<TOML
dir = "fb"
http = "127.0.0.1:$GH"
https = "127.0.0.1:$GS"
[acme]
directory = "https://127.0.0.1:$DEAD/directory"
ca_bundle = "roots.pem"
[acme.fallback]
directory = "$DIRURL"
ca_bundle = "roots.pem"
[renewal]
retry_initial = "1s"
retry_max = "2s"
fallback_after_failures = 2
[[site]]
names = ["f.localhost"]
origin = "http://127.0.0.1:$ORIGIN"
TOML
"$AUTOSEAL" gateway --config fb.toml >fb.log 2>&1 &
FB=$!
PIDS+=($FB)
check "fallback CA: the site is served after the primary CA kept failing" \
  wait_for 60 bash -c "curl -sf --max-time 10 --cacert roots.pem --resolve f.localhost:$GS:127.0.0.1 https://f.localhost:$GS/ | grep -q origin"
check "fallback CA: two failed orders at the primary first" \
  bash -c "grep 'certificate order failed' fb.log | grep '\"site\":\"f.localhost\",\"key_type\":\"ecdsa\"' | grep -q '\"failures\":\"2\"'"
check "fallback CA: the stored certificate names the second CA as its issuer" \
  grep -q "\"issuer\":\"$DIRURL\"" fb/certs/f.localhost_ecdsa/meta.json
stop_pid $FB

# Bad configuration: one line, exit 1, naming the problem.
printf 'dir = "x"\nhtps = "127.0.0.1:1"\n' >typo.toml
refuse "unknown key named with file:line" 'typo.toml:2: unknown key "htps"' \
  "$AUTOSEAL" gateway --config typo.toml --acme "$DIRURL"
refuse "a --site that is not a DNS name" '"bad_name" is not a valid DNS name' \
  "$AUTOSEAL" gateway --site bad_name=http://127.0.0.1:1 --acme "$DIRURL"
refuse "an origin that is not http://" 'must be an http:// URL' \
  "$AUTOSEAL" gateway --site e.localhost=ftp://127.0.0.1:1 --acme "$DIRURL"
refuse "no ACME CA" 'no ACME CA configured' "$AUTOSEAL" gateway --site e.localhost=http://127.0.0.1:1
refuse "no site" 'no site to serve' "$AUTOSEAL" gateway --acme "$DIRURL" --dir nosite --http 127.0.0.1:0 --https 127.0.0.1:0
finish
