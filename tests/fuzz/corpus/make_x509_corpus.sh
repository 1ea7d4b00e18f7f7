#!/usr/bin/env bash
# Regenerates the seed corpus for x509_parse_fuzz with OpenSSL: certificates, CSRs and CRLs for
# RSA, ECDSA, Ed25519 and SM2 in DER and PEM, plus truncated and bit-flipped variants.
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)/x509_parse
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
ID=distid:1234567812345678
for alg in rsa ec ed25519 sm2; do
  case $alg in
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out k.pem 2>/dev/null; opts=() ;;
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem 2>/dev/null; opts=() ;;
    ed25519) openssl genpkey -algorithm ED25519 -out k.pem 2>/dev/null; opts=() ;;
    sm2) openssl genpkey -algorithm SM2 -out k.pem 2>/dev/null; opts=(-sm3 -sigopt $ID) ;;
  esac
  openssl req -new -x509 -key k.pem -subj "/CN=$alg.example.com/O=seed" -days 30 "${opts[@]}" \
    -addext "subjectAltName=DNS:$alg.example.com,IP:127.0.0.1,email:a@example.com" \
    -addext "keyUsage=critical,digitalSignature,keyCertSign,cRLSign" \
    -addext "extendedKeyUsage=serverAuth,emailProtection" \
    -addext "certificatePolicies=2.23.140.1.2.1" \
    -addext "crlDistributionPoints=URI:http://example.com/crl" -out c.pem 2>/dev/null
  openssl x509 -in c.pem -outform DER -out "$out/cert-$alg.der"
  cp c.pem "$out/cert-$alg.pem"
  openssl req -new -key k.pem -subj "/CN=$alg.example.com" "${opts[@]}" \
    -addext "subjectAltName=DNS:$alg.example.com" -outform DER -out "$out/csr-$alg.der" 2>/dev/null
  head -c 200 "$out/cert-$alg.der" >"$out/cert-$alg-truncated.der"
  python3 - "$out/cert-$alg.der" "$out/cert-$alg-flipped.der" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read()); d[len(d) // 3] ^= 0x20
open(sys.argv[2], "wb").write(bytes(d))
PY
done
# A CRL with one revoked entry (openssl ca needs a small database).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
openssl req -new -x509 -key ca.key -subj "/CN=Seed CA" -days 30 -out ca.pem 2>/dev/null
mkdir -p db && : >db/index.txt && echo 01 >db/crlnumber
printf 'R\t300101000000Z\t260101000000Z,keyCompromise\t0A\tunknown\t/CN=revoked\n' >db/index.txt
cat >ca.cnf <<CNF
[ca]
default_ca = seed
[seed]
database = db/index.txt
crlnumber = db/crlnumber
default_md = sha256
default_crl_days = 7
CNF
openssl ca -config ca.cnf -gencrl -keyfile ca.key -cert ca.pem -out crl.pem 2>/dev/null
openssl crl -in crl.pem -outform DER -out "$out/crl-ec.der"
printf 'garbage' >"$out/garbage"
: >"$out/empty"
