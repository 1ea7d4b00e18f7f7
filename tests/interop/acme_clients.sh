#!/usr/bin/env bash
# Interop: the Debian ACME clients certbot 2.1, lego 4.9, uacme 1.7 and dehydrated 0.7 against
# `autoseal ca serve` on loopback, every name resolving to 127.0.0.1 through pebble-challtestsrv.
# Covers http-01 (certbot, lego, uacme, dehydrated), dns-01 with a wildcard (certbot manual hooks,
# lego --dns exec), tls-alpn-01 (lego), external CSRs incl. SM2 (certbot --csr), revocation by
# account key (certbot, lego) and by certificate key (uacme) with the serial on the served CRL,
# key rollover (uacme newkey), account deactivation (certbot unregister, uacme deactivate), EAB
# (--eab-required), alternate chains (--preferred-chain) when the server offers them; every chain
# is checked with `openssl verify`. Servers on free ports, stopped by PID.
AUTOSEAL=${AUTOSEAL:-${1:-}}
. "$(dirname "$0")/lib.sh"
cd "$WORK"
for tool in pebble-challtestsrv certbot lego uacme dehydrated openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "FAIL - $tool not installed (scripts/install-deps)"; exit 1; }
done
SM2ID=1234567812345678

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
free_udp_tcp_port() {
  python3 -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass'
}
DNS_PORT=$(free_udp_tcp_port); CHALL_PORT=$(free_port); ACME_PORT=$(free_port)
HTTP_PORT=$(free_port); TLS_PORT=$(free_port)
S=https://127.0.0.1:$ACME_PORT/directory

check "ca init" "$AUTOSEAL" ca init --dir var
"$AUTOSEAL" ca roots --dir var >roots.pem

pebble-challtestsrv -dns01 127.0.0.1:$DNS_PORT -http01 "" -https01 "" -tlsalpn01 "" \
  -management 127.0.0.1:$CHALL_PORT -defaultIPv4 127.0.0.1 -defaultIPv6 "" >challtestsrv.log 2>&1 &
PIDS+=($!)

SERVE_PID=
# start_server [extra flags...]: starts `autoseal ca serve` and waits for its directory.
start_server() {
  "$AUTOSEAL" ca serve --dir var --listen 127.0.0.1:$ACME_PORT --http01-port $HTTP_PORT \
    --tlsalpn01-port $TLS_PORT --dns-server 127.0.0.1:$DNS_PORT "$@" >>serve.log 2>&1 &
  SERVE_PID=$!
  PIDS+=($SERVE_PID)
  for _ in $(seq 1 100); do
    curl -sf --cacert roots.pem "$S" >/dev/null && return 0
    kill -0 $SERVE_PID 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL - autoseal ca serve did not start"; tail -20 serve.log; exit 1
}
stop_server() { kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=; }
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$CHALL_PORT/" && break; sleep 0.1; done
start_server

# http-01 responder for uacme and dehydrated: a plain web server over www/ on the http-01 port.
WEB_PID=
mkdir -p www/.well-known/acme-challenge
start_web() {
  python3 -m http.server $HTTP_PORT --bind 127.0.0.1 --directory www >web.log 2>&1 &
  WEB_PID=$!
  PIDS+=($WEB_PID)
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" && return 0; sleep 0.1; done
}
stop_web() { kill "$WEB_PID" 2>/dev/null; wait "$WEB_PID" 2>/dev/null; WEB_PID=; }

# verify_chain LEAF CHAIN: the leaf verifies through the chain to our roots.
verify_chain() { openssl verify -CAfile roots.pem -untrusted "$2" "$1"; }
# split_bundle BUNDLE PREFIX: PREFIX.leaf.pem and PREFIX.chain.pem (everything after the leaf).
split_bundle() {
  awk '/BEGIN CERT/{n++} n==1' "$1" >"$2.leaf.pem"
  awk '/BEGIN CERT/{n++} n>=2' "$1" >"$2.chain.pem"
}
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'a-f' 'A-F'; }
# on_crl HIERARCHY SERIAL: the CRL served at /crl/<h>.crl lists the serial.
on_crl() {
  curl -sf --cacert roots.pem "https://127.0.0.1:$ACME_PORT/crl/$1.crl" -o "$1.crl" &&
    openssl crl -inform DER -in "$1.crl" -noout -text | tr -d ' ' | grep -qx "SerialNumber:$2"
}
sig_alg() { openssl x509 -in "$1" -noout -text | sed -n 's/^ *Signature Algorithm: //p' | head -1; }

# ---- certbot ---------------------------------------------------------------------------------
CB=(--non-interactive --server "$S" --config-dir cb/config --work-dir cb/work --logs-dir cb/logs)
cbot() { REQUESTS_CA_BUNDLE=$WORK/roots.pem certbot "$@"; }
CB_HTTP=(--standalone --preferred-challenges http-01 --http-01-port $HTTP_PORT --http-01-address 127.0.0.1)

check "certbot http-01: cb1.example and www.cb1.example (ECDSA)" \
  cbot certonly "${CB[@]}" --agree-tos --register-unsafely-without-email "${CB_HTTP[@]}" \
  -d cb1.example -d www.cb1.example --key-type ecdsa
L=cb/config/live/cb1.example
check "certbot http-01: chain verifies" verify_chain $L/cert.pem $L/chain.pem
check "certbot http-01: both names in the certificate" \
  sh -c "openssl x509 -in $L/cert.pem -noout -ext subjectAltName | grep -q 'DNS:www.cb1.example'"

cat >cb-auth.sh <<HOOK
#!/bin/sh
curl -sf -d "{\"host\":\"_acme-challenge.\${CERTBOT_DOMAIN}.\",\"value\":\"\${CERTBOT_VALIDATION}\"}" http://127.0.0.1:$CHALL_PORT/set-txt
HOOK
cat >cb-cleanup.sh <<HOOK
#!/bin/sh
curl -sf -d "{\"host\":\"_acme-challenge.\${CERTBOT_DOMAIN}.\"}" http://127.0.0.1:$CHALL_PORT/clear-txt
HOOK
chmod +x cb-auth.sh cb-cleanup.sh
check "certbot dns-01: cb2.example and *.cb2.example via manual hooks (RSA)" \
  cbot certonly "${CB[@]}" --manual --preferred-challenges dns-01 \
  --manual-auth-hook "$WORK/cb-auth.sh" --manual-cleanup-hook "$WORK/cb-cleanup.sh" \
  -d cb2.example -d '*.cb2.example' --key-type rsa
L=cb/config/live/cb2.example
check "certbot dns-01: chain verifies" verify_chain $L/cert.pem $L/chain.pem
check "certbot dns-01: the wildcard is in the certificate" \
  sh -c "openssl x509 -in $L/cert.pem -noout -ext subjectAltName | grep -qF 'DNS:*.cb2.example'"
check "certbot dns-01: RSA key issued from the RSA hierarchy" \
  sh -c "openssl x509 -in $L/cert.pem -noout -issuer | grep -q RSA"

# External CSRs: ECDSA and SM2 (SM2-with-SM3, distinguishing ID 1234567812345678).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ecc.key 2>/dev/null
openssl req -new -key ecc.key -subj /CN=csr1.example -addext subjectAltName=DNS:csr1.example \
  -out csr1.csr 2>/dev/null
openssl genpkey -algorithm SM2 -out sm2.key 2>/dev/null
openssl req -new -key sm2.key -sm3 -sigopt distid:$SM2ID -subj /CN=csr2.example \
  -addext subjectAltName=DNS:csr2.example -out csr2.csr 2>/dev/null
for n in 1 2; do
  check "certbot --csr: csr$n.example" \
    cbot certonly "${CB[@]}" "${CB_HTTP[@]}" --csr csr$n.csr \
    --cert-path csr$n.cert.pem --chain-path csr$n.chain.pem --fullchain-path csr$n.full.pem
done
check "certbot --csr ECDSA: chain verifies" verify_chain csr1.cert.pem csr1.chain.pem
check "certbot --csr ECDSA: the certificate has the CSR's key" \
  test "$(openssl pkey -in ecc.key -pubout)" = "$(openssl x509 -in csr1.cert.pem -noout -pubkey)"
check "certbot --csr SM2: leaf signed SM2-with-SM3" test "$(sig_alg csr2.cert.pem)" = SM2-with-SM3
check "certbot --csr SM2: the certificate has the CSR's SM2 key" \
  test "$(openssl pkey -in sm2.key -pubout)" = "$(openssl x509 -in csr2.cert.pem -noout -pubkey)"
awk '/BEGIN CERT/{n++} n==1' csr2.chain.pem >sm2-inter.pem
check "certbot --csr SM2: intermediate signed SM2-with-SM3" test "$(sig_alg sm2-inter.pem)" = SM2-with-SM3
# OpenSSL 3.0's `verify -vfyopt distid:` sets the ID on the target only: one link at a time
# (as x509_openssl.sh).
check "certbot --csr SM2: intermediate verifies under the SM2 root" \
  openssl verify -vfyopt distid:$SM2ID -CAfile var/ca/sm2/root.pem sm2-inter.pem
check "certbot --csr SM2: leaf verifies under the SM2 intermediate" \
  openssl verify -vfyopt distid:$SM2ID -partial_chain -CAfile sm2-inter.pem -purpose sslserver csr2.cert.pem

# Revocation by account key; the serial appears on the served CRL.
s=$(serial_of cb/config/live/cb1.example/cert.pem)
check "certbot revoke (account key, keyCompromise)" \
  cbot revoke "${CB[@]}" --cert-path cb/config/live/cb1.example/cert.pem --reason keycompromise \
  --no-delete-after-revoke
check "certbot revoke: serial on the ECC CRL" on_crl ecc "$s"
check "certbot revoke: reason keyCompromise on the CRL" \
  sh -c "openssl crl -inform DER -in ecc.crl -noout -text | grep -q 'Key Compromise'"
refuse_cb() { ! cbot "$@"; }
check "certbot revoke twice is refused" refuse_cb revoke "${CB[@]}" \
  --cert-path cb/config/live/cb1.example/cert.pem --no-delete-after-revoke
check "certbot revoke twice: alreadyRevoked in the log" grep -q alreadyRevoked cb/logs/letsencrypt.log

# ---- lego ------------------------------------------------------------------------------------
LG=(--server "$S" --accept-tos --email admin@lego.example --path "$WORK/lego")
lgo() { LEGO_CA_CERTIFICATES=$WORK/roots.pem lego "$@"; }
check "lego http-01: lg1.example (RSA 2048)" \
  lgo "${LG[@]}" --domains lg1.example --key-type rsa2048 --http --http.port 127.0.0.1:$HTTP_PORT run
split_bundle lego/certificates/lg1.example.crt lg1
check "lego http-01: chain verifies" verify_chain lg1.leaf.pem lg1.chain.pem
check "lego tls-alpn-01: lg2.example" \
  lgo "${LG[@]}" --domains lg2.example --tls --tls.port 127.0.0.1:$TLS_PORT run
split_bundle lego/certificates/lg2.example.crt lg2
check "lego tls-alpn-01: chain verifies" verify_chain lg2.leaf.pem lg2.chain.pem
cat >lego-dns.sh <<HOOK
#!/bin/sh
# lego exec convention: \$1 present|cleanup, \$2 fqdn (trailing dot), \$3 TXT value.
case "\$1" in
  present) curl -sf -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" http://127.0.0.1:$CHALL_PORT/set-txt ;;
  cleanup) curl -sf -d "{\"host\":\"\$2\"}" http://127.0.0.1:$CHALL_PORT/clear-txt ;;
  *) exit 0 ;;
esac
HOOK
chmod +x lego-dns.sh
check "lego dns-01: *.lg3.example via --dns exec" \
  env EXEC_PATH="$WORK/lego-dns.sh" LEGO_CA_CERTIFICATES="$WORK/roots.pem" lego "${LG[@]}" \
  --domains '*.lg3.example' --dns exec --dns.resolvers 127.0.0.1:$DNS_PORT --dns.disable-cp run
split_bundle lego/certificates/_.lg3.example.crt lg3
check "lego dns-01: chain verifies" verify_chain lg3.leaf.pem lg3.chain.pem
check "lego dns-01: the wildcard is in the certificate" \
  sh -c "openssl x509 -in lg3.leaf.pem -noout -ext subjectAltName | grep -qF 'DNS:*.lg3.example'"
s=$(serial_of lg1.leaf.pem)
check "lego revoke (account key, reason 4)" lgo "${LG[@]}" --domains lg1.example revoke --reason 4
check "lego revoke: serial on the RSA CRL" on_crl rsa "$s"

# ---- uacme (inside a private mount namespace that trusts our roots) ----------------------------
if ! unshare -m true 2>/dev/null; then
  echo "skip - uacme: unshare -m is not permitted here (needs root or CAP_SYS_ADMIN); uacme trusts only the system bundle"
else
  cat /etc/ssl/certs/ca-certificates.crt roots.pem >bundle.pem
  # uacme_ns ARGS...: uacme with our roots bind-mounted over the system bundle.
  uacme_ns() {
    unshare -m sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec uacme "$@"' \
      "$WORK/bundle.pem" -a "$S" -c "$WORK/uacme" "$@"
  }
  # uacme_issue NAMES...: issue with the stock hook writing into www/ (served by start_web).
  uacme_issue() {
    UACME_CHALLENGE_PATH="$WORK/www/.well-known/acme-challenge" \
      uacme_ns -v -t EC -h /usr/share/uacme/uacme.sh issue "$@"
  }
  start_web
  check "uacme new account" uacme_ns -y new admin@uacme.example
  check "uacme http-01: ua1.example and www.ua1.example (EC)" uacme_issue ua1.example www.ua1.example
  split_bundle uacme/ua1.example/cert.pem ua1
  check "uacme http-01: chain verifies" verify_chain ua1.leaf.pem ua1.chain.pem
  check "uacme newkey (key rollover)" uacme_ns -y newkey
  check "uacme http-01 with the rolled-over key: ua2.example" uacme_issue ua2.example
  split_bundle uacme/ua2.example/cert.pem ua2
  check "uacme after newkey: chain verifies" verify_chain ua2.leaf.pem ua2.chain.pem
  s=$(serial_of ua1.leaf.pem)
  check "uacme revoke by certificate key" \
    uacme_ns -r 1 revoke "$WORK/uacme/ua1.example/cert.pem" "$WORK/uacme/private/ua1.example/key.pem"
  check "uacme revoke: serial on the ECC CRL" on_crl ecc "$s"
  check "uacme deactivate" uacme_ns -y deactivate
  uacme_refused() { ! uacme_issue ua3.example >uacme-deact.log 2>&1 && grep -qi deactivated uacme-deact.log; }
  check "uacme: a deactivated account cannot order (server says deactivated)" uacme_refused
  stop_web
fi

# ---- dehydrated (WELLKNOWN served by python http.server) ----------------------------------------
mkdir -p dh
cat >dh/config <<CFG
CA="$S"
BASEDIR="$WORK/dh"
WELLKNOWN="$WORK/www/.well-known/acme-challenge"
KEY_ALGO=prime256v1
CONTACT_EMAIL=admin@dh.example
CFG
dhyd() { CURL_CA_BUNDLE=$WORK/roots.pem dehydrated --config "$WORK/dh/config" "$@"; }
start_web
check "dehydrated register" dhyd --register --accept-terms
check "dehydrated http-01: dh1.example" dhyd -c -d dh1.example
stop_web
check "dehydrated http-01: chain verifies" verify_chain dh/certs/dh1.example/cert.pem dh/certs/dh1.example/chain.pem

# ---- account deactivation (certbot unregister) ---------------------------------------------------
deactivations=$(grep -c 'account deactivated' serve.log)
check "certbot unregister" cbot unregister "${CB[@]}"
check "server deactivated the certbot account" test "$(grep -c 'account deactivated' serve.log)" -eq $((deactivations + 1))

# ---- alternate chains -----------------------------------------------------------------------------
# ACME_ALTERNATE_CHAINS=1 forces the check (e.g. on a working tree with the feature uncommitted).
if [ -n "${ACME_ALTERNATE_CHAINS:-}" ] || git -C "$(dirname "$0")" log --oneline 2>/dev/null | grep -qi 'alternate chain'; then
  check "certbot --preferred-chain \"autoseal RSA Root CA\": alt1.example (ECDSA)" \
    cbot certonly "${CB[@]}" --agree-tos --register-unsafely-without-email "${CB_HTTP[@]}" \
    -d alt1.example --key-type ecdsa --preferred-chain "autoseal RSA Root CA"
  L=cb/config/live/alt1.example
  last=$(awk '/BEGIN CERT/{n++} END{print n}' $L/chain.pem)
  awk -v n="$last" '/BEGIN CERT/{k++} k==n' $L/chain.pem >alt-top.pem
  check "alternate chain: ends at a certificate issued by \"autoseal RSA Root CA\"" \
    sh -c "openssl x509 -in alt-top.pem -noout -issuer | grep -q 'autoseal RSA Root CA'"
  check "alternate chain: ECDSA leaf verifies through it to the RSA root" \
    openssl verify -CAfile var/ca/rsa/root.pem -untrusted $L/chain.pem $L/cert.pem
  check "lego --preferred-chain \"autoseal RSA Root CA\": alt2.example (ECDSA)" \
    lgo "${LG[@]}" --domains alt2.example --key-type ec256 --http --http.port 127.0.0.1:$HTTP_PORT \
    run --preferred-chain "autoseal RSA Root CA"
  split_bundle lego/certificates/alt2.example.crt alt2
  check "lego alternate chain: verifies to the RSA root" \
    openssl verify -CAfile var/ca/rsa/root.pem -untrusted alt2.chain.pem alt2.leaf.pem
else
  echo "skip - alternate chains: not in this tree yet (no commit mentions \"alternate chain\")"
fi

# ---- EAB: a server started with --eab-required -----------------------------------------------------
stop_server
HMAC1=$("$AUTOSEAL" ca eab-key --dir var kid-certbot | sed -n 's/^hmac key: *//p')
HMAC2=$("$AUTOSEAL" ca eab-key --dir var kid-lego | sed -n 's/^hmac key: *//p')
check "eab-key prints HMAC keys" test -n "$HMAC1" -a -n "$HMAC2"
start_server --eab-required
check "directory says externalAccountRequired" \
  sh -c "curl -sf --cacert roots.pem '$S' | grep -q '\"externalAccountRequired\":true'"
CBE=(--non-interactive --server "$S" --config-dir cbe/config --work-dir cbe/work --logs-dir cbe/logs)
# certbot and lego refuse on their own once the directory says externalAccountRequired; the
# server's own refusal of a newAccount without EAB is in tests/acme/server_test.cc.
cb_noeab() { ! cbot register "${CBE[@]}" --agree-tos -m a@eab.example >cb-noeab.log 2>&1 && grep -qi 'external account binding' cb-noeab.log; }
check "certbot without EAB is refused (external account binding required)" cb_noeab
check "certbot with EAB registers" \
  cbot register "${CBE[@]}" --agree-tos -m a@eab.example --eab-kid kid-certbot --eab-hmac-key="$HMAC1"
check "certbot EAB account obtains eab1.example" \
  cbot certonly "${CBE[@]}" "${CB_HTTP[@]}" -d eab1.example
L=cbe/config/live/eab1.example
check "certbot EAB: chain verifies" verify_chain $L/cert.pem $L/chain.pem
LGE=(--server "$S" --accept-tos --email admin@eab.example --path "$WORK/lego-eab")
lego_refused() { ! lgo "$@" >lego-noeab.log 2>&1 && grep -qi 'external account binding' lego-noeab.log; }
check "lego without EAB is refused (external account binding required)" \
  lego_refused "${LGE[@]}" --domains eab2.example --http --http.port 127.0.0.1:$HTTP_PORT run
check "lego with EAB obtains eab2.example" \
  lgo "${LGE[@]}" --eab --kid kid-lego --hmac="$HMAC2" --domains eab2.example \
  --http --http.port 127.0.0.1:$HTTP_PORT run
split_bundle lego-eab/certificates/eab2.example.crt eab2
check "lego EAB: chain verifies" verify_chain eab2.leaf.pem eab2.chain.pem
check "an EAB key binds only once" \
  sh -c "! REQUESTS_CA_BUNDLE=$WORK/roots.pem certbot register --non-interactive --server '$S' --config-dir cbe2/config --work-dir cbe2/work --logs-dir cbe2/logs --agree-tos -m b@eab.example --eab-kid kid-certbot --eab-hmac-key='$HMAC1' >/dev/null 2>&1"
stop_server
check "server log has no internal errors" sh -c "! grep -qi 'internal error\|exception in handler' serve.log"

finish
