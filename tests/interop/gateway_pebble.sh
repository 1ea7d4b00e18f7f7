#!/usr/bin/env bash
# End to end with Pebble (Debian's `pebble` 2.4.0, no ARI) as the CA: an origin (python3 -m
# http.server) + pebble (names resolved to 127.0.0.1 by pebble-challtestsrv, validation on the
# gateway's ports) + `autoseal gateway`. curl gets the origin's page verified against Pebble's
# root; `openssl verify` accepts the served chain; `openssl s_client` shows the right certificate
# per SNI and per signature algorithm. Then the gateway restarts with only tls-alpn-01 and a
# renew_before just under Pebble's certificate lifetime, so a renewal (no ARI: the lifetime rule)
# happens while a rate-limited download keeps going and completes intact. Pebble keeps its default
# 5 % badNonce rejection so the client's retries are exercised, and reuses no authorization
# (PEBBLE_AUTHZREUSE=0), so every order is validated. Servers on free ports, stopped by PID.
AUTOSEAL=${AUTOSEAL:-${1:-}}
. "$(dirname "$0")/lib.sh"
cd "$WORK"
for tool in pebble pebble-challtestsrv openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "FAIL - $tool not installed (scripts/install-deps)"; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ACME=$(free_port); MGMT=$(free_port); GH=$(free_port); GS=$(free_port); DNS=$(free_port)
CHALL=$(free_port); ORIGIN=$(free_port)
wait_for() {
  local n=$(($1 * 2)); shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}
stop_pid() { kill -TERM "$1" 2>/dev/null; for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -KILL "$1" 2>/dev/null; }
serial_of() {  # serial_of NAME [s_client options...]
  local name=$1; shift
  echo | timeout 10 openssl s_client -connect 127.0.0.1:$GS -servername "$name" "$@" 2>/dev/null |
    openssl x509 -noout -serial | cut -d= -f2
}

mkdir www
echo "<h1>hello from the origin</h1>" >www/index.html
head -c 16000000 /dev/urandom >www/big.bin
(cd www && exec python3 -m http.server "$ORIGIN" --bind 127.0.0.1 >../origin.log 2>&1) &
PIDS+=($!)

# Pebble's own HTTPS certificate (Debian ships none): notes/acme-anchors.md §2.5.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout minica.key -out minica.pem \
  -days 30 -subj "/CN=test minica" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out srv.csr \
  -subj "/CN=localhost" 2>/dev/null
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" >ext.cnf
openssl x509 -req -in srv.csr -CA minica.pem -CAkey minica.key -CAcreateserial -out cert.pem -days 30 \
  -extfile ext.cnf 2>/dev/null
cat >pebble-config.json <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$ACME", "managementListenAddress": "127.0.0.1:$MGMT",
  "certificate": "cert.pem", "privateKey": "key.pem", "httpPort": $GH, "tlsPort": $GS,
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
pebble-challtestsrv -dns01 127.0.0.1:$DNS -http01 "" -https01 "" -tlsalpn01 "" \
  -management 127.0.0.1:$CHALL -defaultIPv4 127.0.0.1 -defaultIPv6 "" >challtestsrv.log 2>&1 &
PIDS+=($!)
PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 pebble -config pebble-config.json -dnsserver 127.0.0.1:$DNS >pebble.log 2>&1 &
PEBBLE=$!
PIDS+=($PEBBLE)
DIRURL=https://127.0.0.1:$ACME/dir
wait_for 20 curl -sf --cacert minica.pem "$DIRURL" || { echo "FAIL - pebble did not start"; cat pebble.log; exit 1; }
curl -sf --cacert minica.pem "https://127.0.0.1:$MGMT/roots/0" >root.pem || { echo "FAIL - no root from pebble"; exit 1; }

write_config() {  # write_config CHALLENGES [RENEW_BEFORE]
  cat >gw.toml <<TOML
dir = "gw"
http = "127.0.0.1:$GH"
https = "127.0.0.1:$GS"

[acme]
directory = "$DIRURL"
ca_bundle = "minica.pem"
challenges = $1

[renewal]
retry_initial = "2s"
retry_max = "10s"
${2:+renew_before = \"$2\"}

[[site]]
names = ["a.example", "www.a.example"]
origin = "http://127.0.0.1:$ORIGIN"

[[site]]
names = ["b.example"]
origin = "http://127.0.0.1:$ORIGIN"
TOML
}
start_gateway() {  # start_gateway LOG
  "$AUTOSEAL" gateway --config gw.toml >>"$1" 2>&1 &
  GW=$!
  PIDS+=($GW)
}
write_config '["http-01", "tls-alpn-01"]'
start_gateway gw.log

page() { curl -sf --max-time 10 --cacert root.pem --resolve "$1:$GS:127.0.0.1" "https://$1:$GS/" | grep -q 'hello from the origin'; }
check "Pebble: the gateway serves the origin's page with a certificate it obtained (http-01)" wait_for 90 page a.example
check "Pebble: the second site is served too" wait_for 60 page b.example
check "Pebble: ECDSA and RSA certificates for both sites" \
  wait_for 90 bash -c "test \$(grep -c 'certificate obtained' gw.log) -ge 4"
echo | openssl s_client -connect 127.0.0.1:$GS -servername a.example -showcerts 2>/dev/null |
  awk '/BEGIN CERT/{n++} n>=2' | sed -n '/BEGIN CERT/,/END CERT/p' >rest.pem
echo | openssl s_client -connect 127.0.0.1:$GS -servername a.example 2>/dev/null | openssl x509 >a.pem
check "Pebble: openssl verify accepts the served chain against Pebble's root" \
  openssl verify -CAfile root.pem -untrusted rest.pem a.pem
check "Pebble: SNI www.a.example gets the certificate naming both of a's names" bash -c \
  "echo | openssl s_client -connect 127.0.0.1:$GS -servername www.a.example 2>/dev/null | openssl x509 -noout -ext subjectAltName | grep -q 'a.example' "
check "Pebble: SNI b.example gets b's certificate" bash -c \
  "echo | openssl s_client -connect 127.0.0.1:$GS -servername b.example 2>/dev/null | openssl x509 -noout -ext subjectAltName | grep -q 'DNS:b.example'"
check "Pebble: -sigalgs ECDSA gets an ECDSA certificate" bash -c \
  "echo | openssl s_client -connect 127.0.0.1:$GS -servername a.example -sigalgs ecdsa_secp256r1_sha256 2>/dev/null | openssl x509 -noout -text | grep -q id-ecPublicKey"
check "Pebble: -sigalgs RSA gets an RSA certificate" bash -c \
  "echo | openssl s_client -connect 127.0.0.1:$GS -servername a.example -sigalgs rsa_pss_rsae_sha256:rsa_pkcs1_sha256 2>/dev/null | openssl x509 -noout -text | grep -q rsaEncryption"
check "Pebble: keys stored with mode 0600" test "$(stat -L -c %a gw/certs/a.example_rsa/key.pem)" = 600

# Restart with tls-alpn-01 only and renew_before = lifetime - 40 s: renewals from now on, each
# about 40 s after the previous issuance, answered on the HTTPS listener.
nb=$(date -d "$(openssl x509 -in gw/certs/a.example_ecdsa/chain.pem -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in gw/certs/a.example_ecdsa/chain.pem -noout -enddate | cut -d= -f2)" +%s)
stop_pid $GW
write_config '["tls-alpn-01"]' "$((na - nb - 40))s"
start_gateway gw2.log
check "Pebble: after a restart the stored certificate is served at once" wait_for 30 page a.example
first=$(serial_of a.example -sigalgs ecdsa_secp256r1_sha256)
curl -sf --cacert root.pem --resolve a.example:$GS:127.0.0.1 --limit-rate 250k \
  -o download.bin "https://a.example:$GS/big.bin" 2>download.err &
DL=$!
PIDS+=($DL)
renewed() { s=$(serial_of a.example -sigalgs ecdsa_secp256r1_sha256) && [ -n "$s" ] && [ "$s" != "$first" ]; }
check "Pebble: a renewed certificate (tls-alpn-01) is served while the download runs" wait_for 120 renewed
check "Pebble: the download was still running then" kill -0 $DL
wait $DL
check "Pebble: the download completed intact across the renewal" cmp -s download.bin www/big.bin
check "Pebble: the renewed chain verifies" bash -c \
  "echo | openssl s_client -connect 127.0.0.1:$GS -servername a.example -verify_return_error -CAfile root.pem 2>&1 | grep -q 'Verify return code: 0 (ok)'"
check "Pebble: no ARI at Pebble 2.4.0, so no replaces was sent" \
  bash -c "grep -q '\"replaces\":\"\"' gw/certs/a.example_ecdsa/meta.json"
stop_pid $GW
check "SIGTERM stops the gateway" bash -c "! kill -0 $GW 2>/dev/null"
finish
