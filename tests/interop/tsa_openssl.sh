#!/bin/bash
# RFC 3161 interop: openssl ts -query → `autoseal tsa serve` → openssl ts -reply/-verify (ECDSA,
# RSA), our own client and verifier for ECDSA, RSA and SM2, bad requests, serial uniqueness under
# concurrency and across a restart, and the synced-clock refusal. Servers on free ports, stopped
# by PID.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
cd "$WORK"

"$AUTOSEAL" ca init --dir ca >/dev/null || { echo "ca init failed"; exit 1; }
"$AUTOSEAL" ca roots --dir ca >roots.pem || { echo "ca roots failed"; exit 1; }
printf 'an electronic postmark\n' >msg.txt
printf 'something else\n' >other.txt

SERVER_PID=
PORT=
# start_tsa KEYTYPE [extra flags]: starts a TSA on a free port, sets SERVER_PID and PORT.
start_tsa() {
  local kt=$1; shift
  "$AUTOSEAL" tsa serve --dir tsa --ca-dir ca --key-type "$kt" --listen 127.0.0.1:0 "$@" >"serve-$kt.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  PORT=
  for _ in $(seq 1 100); do
    PORT=$(grep -o '"msg":"tsa listening","address":"127.0.0.1:[0-9]*' "serve-$kt.log" | grep -o '[0-9]*$')
    [ -n "$PORT" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "TSA ($kt) did not start:"; cat "serve-$kt.log"; exit 1
}
stop_tsa() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; }
post() {  # post FILE [content-type] → writes reply.bin, echoes HTTP status
  curl -s -o reply.bin -w '%{http_code}' -H "Content-Type: ${2:-application/timestamp-query}" \
    --data-binary @"$1" "http://127.0.0.1:$PORT/"
}
serial_of() { openssl ts -reply -in "$1" -text 2>/dev/null | sed -n 's/^Serial number: //p'; }

for kt in ecdsa rsa sm2; do
  start_tsa "$kt"
  chain=tsa/tsa/$kt/tsa-chain.pem
  digest=-sha256; [ "$kt" = sm2 ] && digest=-sm3
  openssl ts -query -data msg.txt $digest -cert -out "$kt.tsq" 2>/dev/null
  check "$kt: server answers an openssl query with 200" test "$(post "$kt.tsq")" = 200
  cp reply.bin "$kt.tsr"
  check "$kt: openssl ts -reply -text shows Granted" \
    bash -c "openssl ts -reply -in $kt.tsr -text 2>&1 | grep -q 'Status: Granted'"
  if [ "$kt" != sm2 ]; then
    check "$kt: openssl ts -verify -data accepts the token" \
      bash -c "openssl ts -verify -data msg.txt -in $kt.tsr -CAfile roots.pem -untrusted $chain 2>&1 | grep -q 'Verification: OK'"
    check "$kt: openssl ts -verify -queryfile accepts the token" \
      bash -c "openssl ts -verify -queryfile $kt.tsq -in $kt.tsr -CAfile roots.pem -untrusted $chain 2>&1 | grep -q 'Verification: OK'"
    refuse_openssl() { openssl ts -verify -data other.txt -in "$kt.tsr" -CAfile roots.pem -untrusted "$chain" 2>&1 | grep -q 'Verification: OK'; }
    check "$kt: openssl ts -verify rejects other data" bash -c "! openssl ts -verify -data other.txt -in $kt.tsr -CAfile roots.pem -untrusted $chain 2>&1 | grep -q 'Verification: OK'"
  fi
  check "$kt: autoseal ts verify accepts the openssl-requested token" \
    "$AUTOSEAL" ts verify --data msg.txt --roots roots.pem "$kt.tsr"
  check "$kt: autoseal ts request" \
    "$AUTOSEAL" ts request msg.txt --tsa "http://127.0.0.1:$PORT/" -o "own-$kt.tsr" --digest "${digest#-}"
  check "$kt: autoseal ts verify accepts its own token" \
    "$AUTOSEAL" ts verify --data msg.txt --roots roots.pem "own-$kt.tsr"
  refuse "$kt: autoseal ts verify rejects other data" "imprint does not match" \
    "$AUTOSEAL" ts verify --data other.txt --roots roots.pem "own-$kt.tsr"
  # Tamper with the last byte of the signature (the response ends with the SignerInfo signature).
  python3 - "own-$kt.tsr" "tampered-$kt.tsr" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read()); d[-3] ^= 0x01; open(sys.argv[2], 'wb').write(d)
PY
  check "$kt: autoseal ts verify rejects a tampered token" \
    bash -c "! '$AUTOSEAL' ts verify --data msg.txt --roots roots.pem tampered-$kt.tsr"

  # Serials: concurrent requests all distinct.
  for i in $(seq 1 40); do
    curl -s -o "c-$kt-$i.tsr" -H 'Content-Type: application/timestamp-query' \
      --data-binary @"$kt.tsq" "http://127.0.0.1:$PORT/" &
  done
  wait $(jobs -p | grep -v "^$SERVER_PID$") 2>/dev/null
  for i in $(seq 1 40); do serial_of "c-$kt-$i.tsr"; done | sort >"serials-$kt-1"
  check "$kt: 40 concurrent tokens have 40 distinct serials" \
    test "$(sort -u "serials-$kt-1" | grep -c .)" = 40
  stop_tsa
done

# Restart: a new epoch, no serial reused.
start_tsa ecdsa
post ecdsa.tsq >/dev/null; cp reply.bin restart.tsr
serial_of restart.tsr >serials-restart
check "restart: the serial after a restart is new" bash -c "! grep -qxFf serials-restart serials-ecdsa-1"
check "restart: the TSA certificate was kept (issued once)" \
  test "$(grep -c 'tsa certificate issued' serve-ecdsa.log)" = 0

# Bad requests.
printf 'this is not DER' >garbage.bin
check "garbage DER: 200 with a rejection" test "$(post garbage.bin)" = 200
check "garbage DER: failInfo badDataFormat" \
  bash -c "openssl ts -reply -in reply.bin -text 2>&1 | grep -q 'Status: Rejected' && openssl ts -reply -in reply.bin -text 2>&1 | grep -q 'has the wrong format'"
openssl ts -query -data msg.txt -sha1 -out sha1.tsq 2>/dev/null
post sha1.tsq >/dev/null
check "SHA-1 imprint: failInfo badAlg" \
  bash -c "openssl ts -reply -in reply.bin -text 2>&1 | grep -q 'unrecognized or unsupported algorithm identifier'"
openssl ts -query -data msg.txt -md5 -out md5.tsq 2>/dev/null
post md5.tsq >/dev/null
check "MD5 imprint: failInfo badAlg" \
  bash -c "openssl ts -reply -in reply.bin -text 2>&1 | grep -q 'unrecognized or unsupported algorithm identifier'"
python3 - ecdsa.tsq short.tsq <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
# Shorten the 32-byte imprint to 31 bytes, fixing the three enclosing lengths.
i = d.index(b'\x04\x20')
body = d[i + 2:i + 34]
imprint = d[:i] + b'\x04\x1f' + body[:31] + d[i + 34:]
out = bytearray(imprint); out[1] -= 1; out[6] -= 1
open(sys.argv[2], 'wb').write(bytes(out))
PY
post short.tsq >/dev/null
check "imprint length mismatch: failInfo badDataFormat" \
  bash -c "openssl ts -reply -in reply.bin -text 2>&1 | grep -q 'has the wrong format'"
check "wrong content type: HTTP 415" test "$(post ecdsa.tsq text/plain)" = 415
head -c 100000 /dev/zero >big.bin
check "oversized body: HTTP 413" test "$(post big.bin)" = 413
check "GET /health is JSON with the clock state" \
  bash -c "curl -s http://127.0.0.1:$PORT/health | python3 -c 'import json,sys; d=json.load(sys.stdin); assert \"synchronized\" in d[\"clock\"]'"
stop_tsa

# Clock trust: with --require-synced-clock an unsynchronised kernel clock gives timeNotAvailable.
start_tsa ecdsa --require-synced-clock
synced=$(curl -s "http://127.0.0.1:$PORT/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["clock"]["synchronized"])')
post ecdsa.tsq >/dev/null
if [ "$synced" = False ]; then
  check "unsynchronised clock: failInfo timeNotAvailable" \
    bash -c "openssl ts -reply -in reply.bin -text 2>&1 | grep -q "time source is not available""
  check "unsynchronised clock: /health answers 503" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 503
else
  check "synchronised clock: granted" bash -c "openssl ts -reply -in reply.bin -text 2>&1 | grep -q 'Status: Granted'"
fi
stop_tsa
finish
