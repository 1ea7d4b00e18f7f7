#!/bin/bash
# CT end to end: `autoseal ca issue --ct-log` against an ECDSA and an SM2 `autoseal ct serve`,
# checked by third parties: openssl s_client -ct -ctlogfile (OpenSSL's CT code) reports the ECDSA
# log's embedded SCT valid; python3-cryptography parses the SCT list and verifies the ECDSA SCT
# over its own tbs_precertificate_bytes; the SM2 SCT (SM2 hierarchy) is verified with openssl
# pkeyutl (SM3, distid); `autoseal cert verify --ct-logs` applies the policy, online too.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
cd "$WORK"

"$AUTOSEAL" ca init --dir d >/dev/null || { echo "ca init failed"; exit 1; }
"$AUTOSEAL" ca roots --dir d >roots.pem
start_log() {  # start_log KEYTYPE VAR_PID VAR_URL
  local logfile=serve-$1.log
  "$AUTOSEAL" ct serve --dir d --key-type "$1" --listen 127.0.0.1:0 --period-ms 50 >"$logfile" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 100); do
    local port
    port=$(grep -o '"msg":"ct listening","address":"127.0.0.1:[0-9]*' "$logfile" 2>/dev/null | grep -o '[0-9]*$')
    if [ -n "$port" ]; then eval "$2=$pid; $3=http://127.0.0.1:$port"; return 0; fi
    sleep 0.1
  done
  echo "log $1 did not start"; cat "$logfile"; exit 1
}
start_log ecdsa EPID EURL
start_log sm2 SPID SURL
check "ct log-list builds a log list from both logs" bash -c "'$AUTOSEAL' ct log-list $EURL $SURL >logs.json"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key 2>/dev/null
openssl req -new -key ec.key -subj /CN=localhost -addext subjectAltName=DNS:localhost -out ec.csr 2>/dev/null
openssl genpkey -algorithm SM2 -out sm2.key 2>/dev/null
openssl req -new -key sm2.key -sm3 -sigopt distid:1234567812345678 -subj /CN=sm2.example \
  -addext subjectAltName=DNS:sm2.example -out sm2.csr 2>/dev/null

check "ca issue --ct-log (ECDSA and SM2 logs) issues an ECC certificate" \
  bash -c "'$AUTOSEAL' ca issue --dir d --csr ec.csr --ct-log $EURL --ct-log $SURL >ec-chain.pem"
check "ca issue --ct-log issues an SM2 certificate with SCTs from both logs" \
  bash -c "'$AUTOSEAL' ca issue --dir d --csr sm2.csr --ct-log $EURL --ct-log $SURL >sm2-chain.pem"
check "openssl x509 -text shows the embedded SCT" bash -c "openssl x509 -in ec-chain.pem -noout -text | grep -q 'Signed Certificate Timestamp'"
check "autoseal cert verify --ct-logs --online: ECC certificate" \
  "$AUTOSEAL" cert verify ec-chain.pem --roots roots.pem --ct-logs logs.json --ct-min 1 --online
check "autoseal cert verify --ct-logs --online: SM2 certificate, two valid SCTs (ECDSA + SM2)" \
  "$AUTOSEAL" cert verify sm2-chain.pem --roots roots.pem --ct-logs logs.json --online
check "cert verify: the SM2 certificate's SCTs are both valid" \
  bash -c "'$AUTOSEAL' cert verify sm2-chain.pem --roots roots.pem --ct-logs logs.json | grep -c ': valid' | grep -qx 2"
check "cert verify refuses when the policy wants more SCTs than there are" \
  bash -c "! '$AUTOSEAL' cert verify sm2-chain.pem --roots roots.pem --ct-logs logs.json --ct-min 3"
echo '{"logs":[]}' >empty.json
check "cert verify refuses SCTs from unknown logs" \
  bash -c "! '$AUTOSEAL' cert verify ec-chain.pem --roots roots.pem --ct-logs empty.json --ct-min 1"

# OpenSSL's CT code: s_client -ct against s_server presenting the certificate.
python3 - <<'PY' >ct_log_list.cnf
import json
logs = json.load(open("logs.json"))["logs"]
print("enabled_logs = " + ",".join(f"log{i}" for i, l in enumerate(logs) if "ECDSA" in l["description"]))
for i, l in enumerate(logs):
    if "ECDSA" in l["description"]:
        print(f"[log{i}]\ndescription = {l['description']}\nkey = {l['key']}")
PY
sed -n 1p ec-chain.pem >/dev/null
awk '/BEGIN/{n++} n==1' ec-chain.pem >leaf.pem
awk '/BEGIN/{n++} n>=2' ec-chain.pem >inter.pem
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl s_server -accept "127.0.0.1:$PORT" -cert leaf.pem -key ec.key -cert_chain inter.pem -naccept 1 -quiet >s_server.log 2>&1 &
SPID_TLS=$!
PIDS+=("$SPID_TLS")
sleep 0.5
echo Q | openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -CAfile roots.pem -ct -ctlogfile ct_log_list.cnf >s_client.out 2>&1
check "openssl s_client -ct: SCTs present" grep -q "SCTs present (1)" s_client.out
check "openssl s_client -ct: SCT validation status: valid" grep -q "SCT validation status: valid" s_client.out

# python3-cryptography parses the list and verifies the ECDSA SCT over its own precert TBS.
check "python3-cryptography verifies the embedded ECDSA SCT" python3 - <<'PY'
import base64, json, hashlib
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
chain = open("ec-chain.pem", "rb").read()
certs = x509.load_pem_x509_certificates(chain)
leaf, issuer = certs[0], certs[1]
scts = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
logs = {base64.b64decode(l["log_id"]): l for l in json.load(open("logs.json"))["logs"]}
assert len(scts) == 1, len(scts)
for s in scts:
    key = serialization.load_der_public_key(base64.b64decode(logs[s.log_id]["key"]))
    tbs = leaf.tbs_precertificate_bytes
    ikh = hashlib.sha256(issuer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    ts = int(s.timestamp.replace(tzinfo=__import__("datetime").timezone.utc).timestamp() * 1000 + 0.5)
    data = b"\0\0" + ts.to_bytes(8, "big") + b"\0\1" + ikh + len(tbs).to_bytes(3, "big") + tbs + len(s.extension_bytes).to_bytes(2, "big") + s.extension_bytes
    key.verify(s.signature, data, ec.ECDSA(hashes.SHA256()))
    assert s.extension_bytes[:3] == b"\0\0\5"
print("verified")
PY

# The SM2 log's SCT in the SM2 certificate, with openssl pkeyutl (SM3, distid).
check "openssl pkeyutl verifies the embedded SM2 SCT (SM3, ID 1234567812345678)" python3 - <<'PY'
import base64, hashlib, json, subprocess
from cryptography import x509
pem = open("sm2-chain.pem").read()
import re
ders = [base64.b64decode("".join(b.strip().splitlines()[1:-1])) for b in re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)]
def rd(b, i):
    t, l = b[i], b[i + 1]
    if l < 0x80: return t, 2, l
    n = l & 0x7f; return t, 2 + n, int.from_bytes(b[i + 2:i + 2 + n], "big")
def hdr(t, n):
    if n < 0x80: return bytes([t, n])
    lb = n.to_bytes((n.bit_length() + 7) // 8, "big"); return bytes([t, 0x80 | len(lb)]) + lb
SCTOID = bytes.fromhex("060a2b06010401d679020402")
def split(cert):  # -> tbs without the SCT list extension, the TLS SCT list
    _, h, n = rd(cert, 0); _, th, tn = rd(cert, h); tbs = cert[h:h + th + tn]
    _, h2, n2 = rd(tbs, 0); i, out, lst = h2, b"", None
    while i < h2 + n2:
        t, eh, en = rd(tbs, i); el = tbs[i:i + eh + en]
        if t == 0xA3:
            _, sh, sn = rd(tbs, i + eh); j, ex = i + eh + sh, b""
            while j < i + eh + sh + sn:
                _, xh, xn = rd(tbs, j); e = tbs[j:j + xh + xn]
                if e[xh:].startswith(SCTOID):
                    _, oh, on = rd(e, xh + len(SCTOID)); octet = e[xh + len(SCTOID) + oh: xh + len(SCTOID) + oh + on]
                    _, ih, inn = rd(octet, 0); lst = octet[ih:ih + inn]
                else: ex += e
                j += xh + xn
            el = hdr(0xA3, len(hdr(0x30, len(ex))) + len(ex)) + hdr(0x30, len(ex)) + ex
        out += el; i += eh + en
    return hdr(0x30, len(out)) + out, lst
tbs, lst = split(ders[0])
spki = subprocess.run(["openssl", "x509", "-noout", "-pubkey"], input=pem.split("-----END CERTIFICATE-----")[1] + "-----END CERTIFICATE-----\n", capture_output=True, text=True).stdout
spki_der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=spki.encode(), capture_output=True).stdout
ikh = hashlib.sha256(spki_der).digest()
logs = {base64.b64decode(l["log_id"]): l for l in json.load(open("logs.json"))["logs"]}
i, body, sm2_ok = 2, lst, 0
while i < len(body):
    n = int.from_bytes(body[i:i + 2], "big"); s = body[i + 2:i + 2 + n]; i += 2 + n
    log_id, ts = s[1:33], s[33:41]; el = int.from_bytes(s[41:43], "big"); ext = s[43:43 + el]; ds = s[43 + el:]
    if ds[:2] != b"\x07\x08": continue
    data = b"\0\0" + ts + b"\0\1" + ikh + len(tbs).to_bytes(3, "big") + tbs + el.to_bytes(2, "big") + ext
    open("sm2-sct.data", "wb").write(data); open("sm2-sct.sig", "wb").write(ds[4:])
    open("sm2-log.pem", "wb").write(b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(base64.b64decode(logs[log_id]["key"])) + b"-----END PUBLIC KEY-----\n")
    r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "sm2-log.pem", "-rawin", "-digest", "sm3",
                        "-pkeyopt", "distid:1234567812345678", "-in", "sm2-sct.data", "-sigfile", "sm2-sct.sig"], capture_output=True, text=True)
    assert "Signature Verified Successfully" in r.stdout, r.stdout + r.stderr
    sm2_ok += 1
assert sm2_ok == 1, sm2_ok
print("verified")
PY

# Issuance fails instead of issuing an unlogged certificate.
kill "$SPID"; wait "$SPID" 2>/dev/null
refuse "ca issue refuses when a CT log is unreachable" "CT log" \
  "$AUTOSEAL" ca issue --dir d --csr ec.csr --ct-log "$EURL" --ct-log "$SURL"
refuse "ca issue refuses a minimum above the number of logs" "exceeds the number of CT logs" \
  "$AUTOSEAL" ca issue --dir d --csr ec.csr --ct-log "$EURL" --ct-min 2
finish
