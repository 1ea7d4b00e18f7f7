#!/usr/bin/env bash
# Regenerates the seed corpus for cms_parse_fuzz: SignedData from openssl cms -sign (detached,
# opaque, -stream BER, -noattr, PEM) and from autoseal (ECDSA, RSA, SM2, postmarked, streamed),
# EnvelopedData/AuthEnvelopedData from openssl cms -encrypt and autoseal to the fuzzer's fixed
# RSA, EC and SM2 test certificates (read from cms_parse_fuzz.cc), plus truncated and bit-flipped
# variants. Usage: CMS_TOOL=build/.../smime_cms_tool make_cms_corpus.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/cms_parse
TOOL=$(readlink -f "${CMS_TOOL:?set CMS_TOOL to the smime_cms_tool binary}")
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# The fixed identities compiled into the fuzzer.
for name in RsaCert RsaKey EcCert EcKey Sm2Cert Sm2Key; do
  awk -v n="k$name" '$0 ~ "^const char " n "\\[\\]" {p=1; sub(/.*R"pem\(/, ""); } p && /^\)pem";/ {p=0} p' \
    "$here/../cms_parse_fuzz.cc" >"$name.pem"
done
mkdir ec rsa sm2 && "$TOOL" pki ec ecdsa-p256 && "$TOOL" pki rsa rsa2048 && "$TOOL" pki sm2 sm2
printf 'Content-Type: text/plain\r\n\r\nseed\r\n' >msg.txt
n=0
emit() { cp "$1" "$out/$2"; n=$((n + 1)); }
# Signed.
for p in ec rsa; do
  openssl cms -sign -binary -in msg.txt -signer $p/alice.pem -inkey $p/alice.key -outform DER -out s.der; emit s.der ossl-$p-detached.der
  openssl cms -sign -binary -nodetach -stream -in msg.txt -signer $p/alice.pem -inkey $p/alice.key -outform DER -out s.der; emit s.der ossl-$p-stream.ber
  openssl cms -sign -binary -nodetach -noattr -in msg.txt -signer $p/alice.pem -inkey $p/alice.key -outform PEM -out s.pem; emit s.pem ossl-$p-noattr.pem
  "$TOOL" sign $p/alice.key $p/alice.pem msg.txt s.der --tsa $p; emit s.der autoseal-$p-postmark.der
  "$TOOL" sign $p/alice.key $p/alice.pem msg.txt s.der --opaque --stream; emit s.der autoseal-$p-stream.ber
done
"$TOOL" sign sm2/alice.key sm2/alice.pem msg.txt s.der --opaque --tsa sm2; emit s.der autoseal-sm2-opaque.der
# Encrypted to the fuzzer's identities.
for c in -aes256 "-aes-128-gcm -stream"; do
  tag=$(echo "$c" | tr -d ' -')
  openssl cms -encrypt -binary $c -outform DER -in msg.txt -out e.der RsaCert.pem; emit e.der ossl-rsa-$tag.der
  openssl cms -encrypt -binary $c -outform DER -in msg.txt -out e.der -recip RsaCert.pem -keyopt rsa_padding_mode:oaep; emit e.der ossl-oaep-$tag.der
  openssl cms -encrypt -binary $c -outform DER -in msg.txt -out e.der -recip EcCert.pem; emit e.der ossl-ec-$tag.der
done
"$TOOL" encrypt msg.txt e.der RsaCert.pem EcCert.pem; emit e.der autoseal-rsa-ec.der
"$TOOL" encrypt msg.txt e.der RsaCert.pem EcCert.pem --cipher aes-256-gcm --stream --oaep; emit e.der autoseal-gcm-stream.ber
"$TOOL" encrypt msg.txt e.der Sm2Cert.pem; emit e.der autoseal-sm2.der
# Damaged variants of a few.
for f in autoseal-rsa-ec.der ossl-ec-stream.ber autoseal-sm2-opaque.der; do
  src=$out/$f
  [ -f "$src" ] || continue
  size=$(stat -c %s "$src")
  head -c $((size / 2)) "$src" >"$out/trunc-$f"
  python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[len(b)//3]^=0x40; open(sys.argv[2],'wb').write(b)" "$src" "$out/flip-$f"
done
echo "wrote $(ls "$out" | wc -l) seeds to $out"
