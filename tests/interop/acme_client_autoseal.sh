#!/usr/bin/env bash
# Interop: our ACME client (`autoseal cert obtain|renew|revoke`) against our ACME server
# (`autoseal ca serve`) on loopback, names resolved by pebble-challtestsrv: http-01 (ECDSA),
# tls-alpn-01 (RSA), dns-01 with a wildcard and an SM2 key (our CA issues SM2), the alternate
# chain to the RSA root, ARI-aware renew (window from renewalInfo, `replaces` on --force), and
# revocation by account key and by certificate key. Chains checked with `openssl verify`.
# Servers on free ports, stopped by PID.
AUTOSEAL=${AUTOSEAL:-${1:-}}
. "$(dirname "$0")/lib.sh"
cd "$WORK"
for tool in pebble-challtestsrv openssl curl python3; do
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

"$AUTOSEAL" ca init --dir var >/dev/null || { echo "FAIL - ca init"; exit 1; }
"$AUTOSEAL" ca roots --dir var >roots.pem
pebble-challtestsrv -dns01 127.0.0.1:$DNS_PORT -http01 "" -https01 "" -tlsalpn01 "" \
  -management 127.0.0.1:$CHALL_PORT -defaultIPv4 127.0.0.1 -defaultIPv6 "" >challtestsrv.log 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$CHALL_PORT/" && break; sleep 0.1; done
"$AUTOSEAL" ca serve --dir var --listen 127.0.0.1:$ACME_PORT --http01-port $HTTP_PORT \
  --tlsalpn01-port $TLS_PORT --dns-server 127.0.0.1:$DNS_PORT >serve.log 2>&1 &
SERVE_PID=$!
PIDS+=($SERVE_PID)
for _ in $(seq 1 100); do
  curl -sf --cacert roots.pem "$S" >/dev/null && break
  kill -0 $SERVE_PID 2>/dev/null || break
  sleep 0.1
done
curl -sf --cacert roots.pem "$S" >/dev/null || { echo "FAIL - autoseal ca serve did not start"; tail -20 serve.log; exit 1; }

cat >dns-hook.sh <<HOOK
#!/bin/sh
case "\$1" in
  present) curl -sf -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" http://127.0.0.1:$CHALL_PORT/set-txt ;;
  cleanup) curl -sf -d "{\"host\":\"\$2\"}" http://127.0.0.1:$CHALL_PORT/clear-txt ;;
esac
HOOK
chmod +x dns-hook.sh

obtain() { "$AUTOSEAL" cert obtain --acme "$S" --ca-bundle roots.pem --dir client --agree-tos "$@"; }
chain_of() { echo "client/certs/$1/chain.pem"; }
split() {  # split NAME: NAME.leaf.pem, NAME.inter.pem
  awk '/BEGIN CERT/{n++} n==1' "$(chain_of "$1")" >"$1.leaf.pem"
  awk '/BEGIN CERT/{n++} n>=2' "$(chain_of "$1")" >"$1.inter.pem"
}
verify() {  # verify NAME ROOTFILE
  split "$1" && openssl verify -CAfile "$2" -untrusted "$1.inter.pem" "$1.leaf.pem"
}
verify_sm2() {  # one signature at a time (OpenSSL 3.0 sets distid on the target only)
  split "$1" && awk '/BEGIN CERT/{n++} n==1' "$1.inter.pem" >"$1.i1.pem" &&
    openssl verify -vfyopt distid:$SM2ID -CAfile var/ca/sm2/root.pem "$1.i1.pem" &&
    openssl verify -vfyopt distid:$SM2ID -partial_chain -CAfile "$1.i1.pem" "$1.leaf.pem"
}
serial_of() { openssl x509 -in "$(chain_of "$1")" -noout -serial | cut -d= -f2; }

check "http-01 (ECDSA): obtain c1.example, www.c1.example" \
  obtain -d c1.example -d www.c1.example --email admin@c1.example --http01-address 127.0.0.1:$HTTP_PORT
check "http-01: chain verifies to our roots" verify c1.example roots.pem
check "tls-alpn-01 (RSA): obtain c2.example" \
  obtain -d c2.example --key-type rsa --challenge tls-alpn-01 --tlsalpn01-address 127.0.0.1:$TLS_PORT
check "tls-alpn-01: chain verifies to our roots" verify c2.example roots.pem
check "dns-01 (SM2): obtain c3.example and *.c3.example" \
  obtain -d c3.example -d '*.c3.example' --key-type sm2 --challenge dns-01 --dns-hook ./dns-hook.sh
check "dns-01: SM2 leaf" bash -c "openssl x509 -in $(chain_of c3.example) -noout -text | grep -q 'SM2'"
check "dns-01: SM2 chain verifies to the SM2 root" verify_sm2 c3.example
check "preferred chain \"autoseal RSA Root CA\": obtain c4.example (ECDSA)" \
  obtain -d c4.example --http01-address 127.0.0.1:$HTTP_PORT --preferred-chain "autoseal RSA Root CA"
check "preferred chain: verifies to the RSA root alone" verify c4.example var/ca/rsa/root.pem

old=$(serial_of c1.example)
check "renew: not due, says the ARI window" \
  bash -c "'$AUTOSEAL' cert renew --dir client -d c1.example | grep -q 'not due.*ARI window'"
check "renew --force: renews c1.example (with replaces)" \
  "$AUTOSEAL" cert renew --dir client -d c1.example --force
new=$(serial_of c1.example)
check "renew --force: new serial" test "$new" != "$old"
check "renew --force: chain verifies" verify c1.example roots.pem
refuse "renew --force again: the replaced certificate cannot be replaced twice" "alreadyReplaced" \
  bash -c "cd client/certs/c1.example && ln -sfn v1 current && cd - >/dev/null && '$AUTOSEAL' cert renew --dir client -d c1.example --force"
(cd client/certs/c1.example && ln -sfn v2 current)
check "revoke by account key (keyCompromise)" \
  "$AUTOSEAL" cert revoke --dir client -d c1.example --reason keyCompromise
check "revoke by certificate key (superseded)" \
  "$AUTOSEAL" cert revoke --dir client -d c2.example --reason superseded --with-cert-key
refuse "revoke twice: alreadyRevoked" "alreadyRevoked" \
  "$AUTOSEAL" cert revoke --dir client -d c2.example --with-cert-key
finish
