#!/usr/bin/env bash
# Interop: `autoseal cert obtain|renew|revoke` against Pebble (Debian package `pebble`) on
# loopback, names resolved by pebble-challtestsrv: http-01, tls-alpn-01, dns-01 with a wildcard
# through an exec hook feeding challtestsrv, alternate-chain selection, ARI-aware renew, revocation
# by account key and by certificate key, an SM2 key refused with a clear problem. Every chain is
# checked with `openssl verify` against Pebble's roots (management API). Pebble keeps its default
# 5 % badNonce rejection so the client's retries are exercised. Servers on free ports, stopped by PID.
AUTOSEAL=${AUTOSEAL:-${1:-}}
. "$(dirname "$0")/lib.sh"
cd "$WORK"
for tool in pebble pebble-challtestsrv openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "FAIL - $tool not installed (scripts/install-deps)"; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ACME_PORT=$(free_port); MGMT_PORT=$(free_port); HTTP_PORT=$(free_port); TLS_PORT=$(free_port)
DNS_PORT=$(free_port); CHALL_PORT=$(free_port)

# Pebble's own HTTPS certificate (Debian ships none): notes/acme-anchors.md §2.5.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 30 -subj "/CN=test minica" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out srv.csr \
  -subj "/CN=localhost" 2>/dev/null
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" >ext.cnf
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 30 \
  -extfile ext.cnf 2>/dev/null
cat >pebble-config.json <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$ACME_PORT", "managementListenAddress": "127.0.0.1:$MGMT_PORT",
  "certificate": "cert.pem", "privateKey": "key.pem", "httpPort": $HTTP_PORT, "tlsPort": $TLS_PORT,
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON

pebble-challtestsrv -dns01 127.0.0.1:$DNS_PORT -http01 "" -https01 "" -tlsalpn01 "" \
  -management 127.0.0.1:$CHALL_PORT -defaultIPv4 127.0.0.1 -defaultIPv6 "" >challtestsrv.log 2>&1 &
PIDS+=($!)
PEBBLE_VA_NOSLEEP=1 PEBBLE_ALTERNATE_ROOTS=1 pebble -config pebble-config.json \
  -dnsserver 127.0.0.1:$DNS_PORT >pebble.log 2>&1 &
PEBBLE_PID=$!
PIDS+=($PEBBLE_PID)
DIR_URL=https://127.0.0.1:$ACME_PORT/dir
for _ in $(seq 1 100); do
  curl -sf --cacert ca.pem "$DIR_URL" >/dev/null && break
  kill -0 $PEBBLE_PID 2>/dev/null || break
  sleep 0.1
done
curl -sf --cacert ca.pem "$DIR_URL" >/dev/null || { echo "FAIL - pebble did not start"; cat pebble.log; exit 1; }

mgmt() { curl -sf --cacert ca.pem "https://127.0.0.1:$MGMT_PORT/$1"; }
mgmt roots/0 >root0.pem && mgmt roots/1 >root1.pem || { echo "FAIL - no roots from pebble"; exit 1; }
root_cn() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed -n 's/^subject=.*CN=\([^,]*\).*$/\1/p'; }
ROOT0_CN=$(root_cn root0.pem); ROOT1_CN=$(root_cn root1.pem)
cat root0.pem root1.pem >roots.pem

cat >dns-hook.sh <<HOOK
#!/bin/sh
# lego exec convention: \$1 present|cleanup, \$2 fqdn (trailing dot), \$3 TXT value.
case "\$1" in
  present) curl -sf -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" http://127.0.0.1:$CHALL_PORT/set-txt ;;
  cleanup) curl -sf -d "{\"host\":\"\$2\"}" http://127.0.0.1:$CHALL_PORT/clear-txt ;;
  *) echo "unknown action \$1" >&2; exit 2 ;;
esac
HOOK
chmod +x dns-hook.sh

obtain() { "$AUTOSEAL" cert obtain --acme "$DIR_URL" --ca-bundle ca.pem --dir var --agree-tos "$@"; }
# verify_chain NAME ROOTS: openssl verify of the stored leaf through the stored chain.
verify_chain() {
  local chain=var/certs/$1/chain.pem
  openssl x509 -in "$chain" -out "$1.leaf.pem" 2>/dev/null &&
    openssl verify -CAfile "$2" -untrusted "$chain" "$1.leaf.pem"
}
serial_of() { openssl x509 -in "var/certs/$1/chain.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }
# Pebble's management API reports a certificate's status by serial.
status_of() { mgmt "cert-status-by-serial/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Status"])'; }

# http-01, two names, default chain.
check "http-01: obtain test1.example and www.test1.example" \
  obtain -d test1.example -d www.test1.example --email admin@test1.example \
  --challenge http-01 --http01-address 127.0.0.1:$HTTP_PORT
check "http-01: chain verifies against Pebble's roots" verify_chain test1.example roots.pem
check "http-01: key is mode 0600" test "$(stat -L -c %a var/certs/test1.example/key.pem)" = 600
check "http-01: certificate names both identifiers" \
  bash -c "openssl x509 -in var/certs/test1.example/chain.pem -noout -ext subjectAltName | grep -q 'DNS:www.test1.example'"
check "http-01: key matches certificate" bash -c \
  "test \"\$(openssl pkey -in var/certs/test1.example/key.pem -pubout)\" = \"\$(openssl x509 -in var/certs/test1.example/chain.pem -noout -pubkey)\""
check "account key stored with mode 0600" \
  bash -c "test \"\$(stat -c %a var/acme/accounts/*/account.key)\" = 600"

# tls-alpn-01, preferring the chain to root 1.
check "tls-alpn-01: obtain test2.example preferring \"$ROOT1_CN\"" \
  obtain -d test2.example --key-type rsa --challenge tls-alpn-01 \
  --tlsalpn01-address 127.0.0.1:$TLS_PORT --preferred-chain "$ROOT1_CN"
check "tls-alpn-01: chain verifies against root 1 alone" verify_chain test2.example root1.pem
check "tls-alpn-01: RSA key as asked" \
  bash -c "openssl x509 -in var/certs/test2.example/chain.pem -noout -text | grep -q 'rsaEncryption'"

# dns-01 with a wildcard through the hook, preferring the chain to root 0.
check "dns-01: obtain test3.example and *.test3.example via hook, preferring \"$ROOT0_CN\"" \
  obtain -d test3.example -d '*.test3.example' --challenge dns-01 --dns-hook ./dns-hook.sh \
  --preferred-chain "$ROOT0_CN"
check "dns-01: chain verifies against root 0 alone" verify_chain test3.example root0.pem
check "dns-01: certificate names the wildcard" \
  bash -c "openssl x509 -in var/certs/test3.example/chain.pem -noout -ext subjectAltName | grep -qF 'DNS:*.test3.example'"

# renew: Pebble 2.4.0 has no ARI, so the 1/3-of-lifetime rule applies (Pebble issues for 5 years).
old_serial=$(serial_of test1.example)
check "renew: a fresh certificate is not due" \
  bash -c "'$AUTOSEAL' cert renew --dir var -d test1.example | grep -q 'not due'"
check "renew: serial unchanged when not due" test "$(serial_of test1.example)" = "$old_serial"
check "renew --force: renews test1.example" "$AUTOSEAL" cert renew --dir var -d test1.example --force
new_serial=$(serial_of test1.example)
check "renew --force: new serial" test "$new_serial" != "$old_serial"
check "renew --force: renewed chain verifies" verify_chain test1.example roots.pem
check "renew --force: previous version kept" test "$(ls -d var/certs/test1.example/v* | wc -l)" = 2

# revoke by account key, then by certificate key.
check "revoke (account key, keyCompromise)" \
  "$AUTOSEAL" cert revoke --dir var -d test1.example --reason keyCompromise
check "revoke: Pebble reports test1.example revoked" test "$(status_of "$new_serial")" = Revoked
s2=$(serial_of test2.example)
check "revoke (certificate key, superseded)" \
  "$AUTOSEAL" cert revoke --dir var -d test2.example --reason superseded --with-cert-key
check "revoke: Pebble reports test2.example revoked" test "$(status_of "$s2")" = Revoked
refuse "revoke twice: alreadyRevoked" "alreadyRevoked" \
  "$AUTOSEAL" cert revoke --dir var -d test2.example --with-cert-key

# Failures: one line, non-zero exit, the server's problem type in it.
refuse "sm2 key: Pebble's refusal reported" "does not issue certificates for SM2 keys" \
  obtain -d test4.example --key-type sm2 --challenge http-01 --http01-address 127.0.0.1:$HTTP_PORT
refuse "untrusted server certificate" "certificate verify failed" \
  "$AUTOSEAL" cert obtain --acme "$DIR_URL" --ca-bundle root0.pem --dir var -d test5.example \
  --http01-address 127.0.0.1:$HTTP_PORT
refuse "terms of service not agreed" "--agree-tos" \
  "$AUTOSEAL" cert obtain --acme "$DIR_URL" --ca-bundle ca.pem --dir var2 -d test6.example \
  --http01-address 127.0.0.1:$HTTP_PORT
refuse "unknown challenge type" "--challenge must be" obtain -d test7.example --challenge http-02
refuse "wildcard without dns-01" "no usable challenge" \
  obtain -d '*.test8.example' --http01-address 127.0.0.1:$HTTP_PORT

finish
