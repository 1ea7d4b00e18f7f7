#!/bin/bash
# CT interop: `autoseal ct serve` (ECDSA and SM2 logs) checked by independent code: SCT and
# precert SCT signatures with `openssl pkeyutl -verify` (SHA-256/ECDSA; SM3 + distid for SM2),
# precertificate TBS from python3-cryptography, every Merkle root and proof recomputed with
# python3 hashlib (ct_check.py), static-ct-api files, HTTP 400 + JSON for bad submissions, and a
# kill -9 in the middle of concurrent submissions. Servers on free ports, stopped by PID.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
cd "$WORK"
CHECK="python3 $HERE/ct_check.py"

"$AUTOSEAL" ca init --dir d >/dev/null || { echo "ca init failed"; exit 1; }
"$AUTOSEAL" ca roots --dir d >roots.pem || { echo "ca roots failed"; exit 1; }

# Leaves from the CA: ECDSA and SM2 (SM2 CSR signed with SM3 and the standard ID).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key 2>/dev/null
openssl req -new -key ec.key -subj /CN=ec.example -addext subjectAltName=DNS:ec.example -out ec.csr 2>/dev/null
"$AUTOSEAL" ca issue --dir d --csr ec.csr >ec-chain.pem || { echo "ca issue (ec) failed"; exit 1; }
openssl genpkey -algorithm SM2 -out sm2.key 2>/dev/null
openssl req -new -key sm2.key -sm3 -sigopt distid:1234567812345678 -subj /CN=sm2.example \
  -addext subjectAltName=DNS:sm2.example -out sm2.csr 2>/dev/null
"$AUTOSEAL" ca issue --dir d --csr sm2.csr >sm2-chain.pem || { echo "ca issue (sm2) failed"; exit 1; }

# A precertificate from the ECC intermediate: poison extension, critical, ASN.1 NULL.
cat >pre.ext <<'X'
basicConstraints = critical, CA:FALSE
subjectAltName = DNS:pre.example
1.3.6.1.4.1.11129.2.4.3 = critical, DER:0500
X
openssl x509 -req -in ec.csr -CA d/ca/ecc/intermediate.pem -CAkey d/ca/ecc/intermediate.key -set_serial 4242 \
  -days 30 -sha256 -extfile pre.ext -out pre.pem 2>/dev/null || { echo "precert failed"; exit 1; }

# A chain to a root the log does not accept.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout foreign.key -subj /CN=foreign \
  -days 2 -out foreign.pem 2>/dev/null

SERVER_PID=
URL=
STARTS=0
start_log() {  # start_log KEYTYPE [flags]: a log on a free port; sets SERVER_PID and URL
  local kt=$1; shift
  STARTS=$((STARTS + 1))
  local logfile=serve-$kt-$STARTS.log
  "$AUTOSEAL" ct serve --dir d --key-type "$kt" --listen 127.0.0.1:0 "$@" >"$logfile" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 100); do
    local port
    port=$(grep -o '"msg":"ct listening","address":"127.0.0.1:[0-9]*' "$logfile" 2>/dev/null | grep -o '[0-9]*$')
    if [ -n "$port" ]; then URL=http://127.0.0.1:$port; return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "log ($kt) did not start:"; cat "$logfile"; exit 1
}
stop_log() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; }
run() { local d=$1; shift; if "$@" >"$WORK/py.out" 2>&1; then cat "$WORK/py.out"; pass "$d"; else cat "$WORK/py.out"; fail "$d"; fi; }

# ECDSA log.
start_log ecdsa --period-ms 100
run "ecdsa: add-chain SCT" $CHECK submit "$URL" d/ct/ecdsa/log.pub.pem ec-chain.pem ecdsa
run "ecdsa: SM2 leaf on the ECDSA log" $CHECK submit "$URL" d/ct/ecdsa/log.pub.pem sm2-chain.pem ecdsa
run "ecdsa: add-pre-chain" $CHECK precert "$URL" d/ct/ecdsa/log.pub.pem d/ca/ecc/intermediate.pem pre.pem
run "ecdsa: precertificate signing certificate" $CHECK psc "$URL" d/ct/ecdsa/log.pub.pem d/ca/ecc/intermediate.pem d/ca/ecc/intermediate.key
run "ecdsa: bad submissions" $CHECK errors "$URL" ec-chain.pem foreign.pem
run "ecdsa: Merkle proofs by hashlib" $CHECK merkle "$URL"
check "ecdsa: get-roots lists the CA's roots" \
  bash -c "curl -s $URL/ct/v1/get-roots | python3 -c 'import json,sys; assert len(json.load(sys.stdin)[\"certificates\"]) == 3'"
check "ecdsa: static files on disk match what is served" \
  bash -c "curl -s $URL/checkpoint | cmp - d/ct/ecdsa/static/checkpoint"

ECDSA_PID=$SERVER_PID
ECDSA_URL=$URL

# SM2 log.
start_log sm2 --period-ms 100
run "sm2: add-chain SCT (SM2-with-SM3, 0x0708, openssl pkeyutl -verify)" $CHECK submit "$URL" d/ct/sm2/log.pub.pem sm2-chain.pem sm2
run "sm2: ECDSA leaf on the SM2 log" $CHECK submit "$URL" d/ct/sm2/log.pub.pem ec-chain.pem sm2
run "sm2: Merkle proofs by hashlib" $CHECK merkle "$URL"
stop_log

# Crash safety: kill -9 the ECDSA log during concurrent submissions, restart it, check.
run "crash: concurrent submissions, kill -9" $CHECK crash-submit "$ECDSA_URL" "$ECDSA_PID" \
  d/ca/ecc/intermediate.pem d/ca/ecc/intermediate.key 300 crash.json
wait "$ECDSA_PID" 2>/dev/null
start_log ecdsa --period-ms 200
run "crash: after restart" $CHECK crash-check "$URL" crash.json
run "crash: Merkle proofs by hashlib after restart" $CHECK merkle "$URL"
stop_log
finish
