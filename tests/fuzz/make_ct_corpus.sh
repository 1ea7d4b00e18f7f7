#!/bin/bash
# Regenerates tests/fuzz/corpus/ct_add_chain: add-chain bodies around certificates made by
# openssl (one with a CT poison extension), an SCT list from python-encoded bytes, a log list.
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)/corpus/ct_add_chain
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
cd "$tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -subj /CN=seed \
  -addext "1.3.6.1.4.1.11129.2.4.3=critical,DER:0500" -days 1 -outform DER -out pre.der 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k2.pem -subj /CN=seed2 \
  -days 1 -outform DER -out cert.der 2>/dev/null
python3 - "$out" <<'PY'
import base64, json, sys, os, struct
out = sys.argv[1]
pre, cert = open("pre.der", "rb").read(), open("cert.der", "rb").read()
b = lambda d: base64.b64encode(d).decode()
seeds = {
    "chain-two.json": json.dumps({"chain": [b(cert), b(pre)]}),
    "chain-one.json": json.dumps({"chain": [b(pre)]}),
    "chain-empty.json": '{"chain":[]}',
    "chain-bad-b64.json": '{"chain":["@@"]}',
    "chain-spaced.json": ' {\n "chain" :\t[ "AAEC" ,\r\n"+/8=" ] } \n',
    "chain-escaped.json": '{"chain":["+\\/8="]}',
    "not-json.txt": "{chain:",
    "log-list.json": json.dumps({"logs": [{"description": "d", "url": "http://x", "key": b(b"\x30\x00")}]}),
    "sct.json": json.dumps({"sct_version": 0, "id": b(bytes(32)), "timestamp": 1, "extensions": "AAAFAAAAAAE=", "signature": "BAMAAQA="}),
}
for name, text in seeds.items():
    open(os.path.join(out, name), "w").write(text)
sct = bytes([0]) + bytes(32) + struct.pack(">Q", 1700000000000) + b"\x00\x08" + b"\x00\x00\x05\x00\x00\x00\x00\x07" + b"\x04\x03\x00\x02\x30\x00"
open(os.path.join(out, "sct.bin"), "wb").write(sct)
lst = struct.pack(">H", len(sct) + 2) + struct.pack(">H", len(sct)) + sct
open(os.path.join(out, "sct-list.bin"), "wb").write(lst)
leaf = b"\x00\x00" + struct.pack(">Q", 1) + b"\x00\x00" + len(cert).to_bytes(3, "big") + cert + b"\x00\x00"
open(os.path.join(out, "leaf.bin"), "wb").write(leaf)
open(os.path.join(out, "cert.der"), "wb").write(cert)
open(os.path.join(out, "precert.der"), "wb").write(pre)
PY
echo "wrote $(ls "$out" | wc -l) seeds to $out"
