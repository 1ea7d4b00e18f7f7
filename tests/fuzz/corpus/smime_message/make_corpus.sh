#!/bin/bash
# Regenerates the smime_message fuzz corpus: messages autoseal and openssl sign and encrypt (RSA,
# ECDSA, SM2; detached, opaque, GCM, ECDH), and damaged variants. Usage: make_corpus.sh AUTOSEAL
set -euo pipefail
A=$(readlink -f "$1")
OUT=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$T"
"$A" ca init --dir ca >/dev/null
for spec in "alice ecdsa-p256" "bob rsa2048" "sm sm2"; do
  set -- $spec
  "$A" key generate --type "$2" --out "$1.key" >/dev/null
  "$A" cert request --key "$1.key" --cn "$1@example.test" --email "$1@example.test" --out "$1.csr" >/dev/null
  "$A" ca issue --dir ca --csr "$1.csr" --profile smime >"$1-chain.pem"
  awk '/BEGIN CERT/{n++} n==1' "$1-chain.pem" >"$1.pem"
done
printf 'From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: corpus\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAECAwQ=\n--b--\n' >plain.eml
cp plain.eml "$OUT/plain.eml"
"$A" smime sign --cert alice-chain.pem --key alice.key plain.eml >"$OUT/signed.eml"
"$A" smime sign --opaque --cert alice-chain.pem --key alice.key plain.eml >"$OUT/opaque.eml"
"$A" smime sign --cert sm-chain.pem --key sm.key plain.eml >"$OUT/sm2-signed.eml"
"$A" smime encrypt --to bob.pem plain.eml >"$OUT/enveloped.eml"
"$A" smime encrypt --cipher aes-256-gcm --to bob.pem plain.eml >"$OUT/auth-enveloped.eml"
"$A" smime encrypt --to alice.pem plain.eml >"$OUT/ecdh.eml"
"$A" smime encrypt --to sm.pem plain.eml >"$OUT/sm2-enveloped.eml"
"$A" smime encrypt --to bob.pem --sign-cert alice-chain.pem --sign-key alice.key plain.eml >"$OUT/signed-enveloped.eml"
printf 'Content-Type: text/plain\r\n\r\nhi\r\n' >e.txt
{ printf 'From: alice@example.test\n'; openssl cms -sign -signer alice.pem -inkey alice.key -in e.txt; } >"$OUT/openssl-signed.eml"
{ printf 'From: alice@example.test\n'; openssl cms -sign -nodetach -signer alice.pem -inkey alice.key -in e.txt -stream; } >"$OUT/openssl-opaque-stream.eml"
{ printf 'From: alice@example.test\n'; openssl cms -encrypt -aes256 -in e.txt bob.pem; } >"$OUT/openssl-enveloped.eml"
# Damaged: one-part multipart/signed, truncated base64, signature part swapped for text.
head -c $(( $(wc -c <"$OUT/enveloped.eml") / 2 )) "$OUT/enveloped.eml" >"$OUT/truncated.eml"
perl -0pe 's/(--[^\n]+\n)(Content-Type: application\/pkcs7-signature.*)\z/$1Content-Type: text\/plain\n\nnot a signature\n/s' "$OUT/signed.eml" >"$OUT/swapped-signature.eml"
printf 'From: a@example.test\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary=q\n\n--q\nContent-Type: text/plain\n\nonly one part\n--q--\n' >"$OUT/one-part.eml"
printf 'From: a@example.test\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\nContent-Transfer-Encoding: base64\n\nMIAGCSqGSIb3DQEHA6CAMIACAQAxggE=\n' >"$OUT/bad-ber.eml"
