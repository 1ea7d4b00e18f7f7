#!/bin/bash
# S/MIME with GnuPG's gpgsm 2.2 (libksba), both ways: our signed and postmarked messages verify
# with `gpgsm --verify`, our encrypted messages decrypt with `gpgsm --decrypt`; gpgsm's detached
# signatures and EnvelopedData verify and decrypt with autoseal. A throw-away GNUPGHOME under
# $WORK with the test roots marked trusted (trustlist.txt) and CRL checks off (the test CA's CRLs
# are not served). gpgsm 2.2 cannot read AES-GCM, RSA-OAEP or ECDH recipients (email-anchors §0),
# which is why those are not the defaults; the script checks that the defaults are what it reads.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/smime_lib.sh"
cd "$WORK"

setup_pki
start_tsa
write_messages

export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME"
echo disable-crl-checks >"$GNUPGHOME/gpgsm.conf"
echo allow-mark-trusted >"$GNUPGHOME/gpg-agent.conf"
gpgsm_() { gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 "$@" <<<"pw"; }
cleanup_gpg() { gpgconf --kill gpg-agent 2>/dev/null; }
trap 'cleanup_gpg; cleanup' EXIT
# Roots one by one (gpgsm 2.2 cannot read the SM2 root; that one is skipped), then trust them.
csplit -s -z -f root- roots.pem '/BEGIN CERTIFICATE/' '{*}'
for r in root-*; do
  if gpgsm --batch --import "$r" 2>/dev/null; then
    openssl x509 -in "$r" -noout -fingerprint -sha1 | sed 's/.*=//; s/$/ S/' >>"$GNUPGHOME/trustlist.txt"
  fi
done
gpgsm --batch --import intermediates.pem 2>/dev/null
# gpgsm 2.2 reads PKCS#12 only with the legacy PBE (email-anchors Appendix traps).
for who in bob carol; do
  openssl pkcs12 -export -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 \
    -in "$who.pem" -inkey "$who.key" -passout pass:pw -out "$who-legacy.p12"
  gpgsm_ --import "$who-legacy.p12" 2>"import-$who.log" || { echo "gpgsm import $who failed"; cat "import-$who.log"; }
done
gpgconf --reload gpg-agent 2>/dev/null

# ---- autoseal → gpgsm ---------------------------------------------------------------------------
"$AUTOSEAL" smime sign --cert alice-chain.pem --key alice.key --tsa "$TSA_URL" plain.eml >signed.eml ||
  { echo "sign failed"; exit 1; }
smime_tool split signed.eml signed.canon signed.p7s
check "gpgsm --verify: good signature on our postmarked ECDSA message" \
  bash -c "gpgsm --batch --verify signed.p7s signed.canon 2>&1 | tee gv.log | grep -q 'Good signature from \"/CN=alice@example.test\"'"
check "... and gpgsm says the chain is trusted (exit 0)" gpgsm --batch --verify signed.p7s signed.canon
smime_tool flip signed.canon 300
check "gpgsm --verify rejects one changed byte of the signed part" \
  bash -c "! gpgsm --batch --verify signed.p7s signed.canon 2>/dev/null"
"$AUTOSEAL" smime sign --cert carol-chain.pem --key carol.key crlf.eml >rsa-signed.eml
smime_tool split rsa-signed.eml rsa.canon rsa.p7s
check "gpgsm --verify: good signature on our RSA-signed CRLF message" \
  bash -c "gpgsm --batch --verify rsa.p7s rsa.canon 2>&1 | grep -q 'Good signature'"
"$AUTOSEAL" smime sign --opaque --cert alice-chain.pem --key alice.key --tsa "$TSA_URL" plain.eml >opaque.eml
smime_tool body opaque.eml opaque.der
check "gpgsm --verify: good signature on our opaque signed-data" \
  bash -c "gpgsm --batch --verify --output opaque.out opaque.der 2>&1 | grep -q 'Good signature' && grep -q 'Revenue grew' opaque.out"

"$AUTOSEAL" smime encrypt --to bob.pem plain.eml >enc.eml || { echo "encrypt failed"; exit 1; }
smime_tool body enc.eml enc.der
gpgsm_ --output enc.out --decrypt enc.der 2>gd.log
check "gpgsm --decrypt opens our default encryption (AES-256-CBC, RSA PKCS#1 v1.5)" \
  bash -c "grep -q 'Revenue grew' enc.out && grep -q '^Subject: The quarterly figures' enc.out"
"$AUTOSEAL" smime encrypt --to bob.pem --sign-cert alice-chain.pem --sign-key alice.key --tsa "$TSA_URL" plain.eml >se.eml
smime_tool body se.eml se.der
gpgsm_ --output se-inner.eml --decrypt se.der 2>/dev/null
check "gpgsm decrypts our signed+postmarked+encrypted message" grep -q 'multipart/signed' se-inner.eml
smime_tool split se-inner.eml se.canon se.p7s
check "... and gpgsm --verify accepts the signature inside" \
  bash -c "gpgsm --batch --verify se.p7s se.canon 2>&1 | grep -q 'Good signature'"

# ---- gpgsm → autoseal ---------------------------------------------------------------------------
printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\nSigned by gpgsm.\r\n' >entity.txt
export SMIME_FROM='Carol <carol@example.test>'
gpgsm_ -u carol@example.test --output g.p7s --detach-sign entity.txt 2>/dev/null
smime_tool signed entity.txt g.p7s g-signed.eml
check "gpgsm --detach-sign (RSA) → autoseal smime verify" "$AUTOSEAL" smime verify --roots roots.pem g-signed.eml
gpgsm_ -u carol@example.test --output g-opaque.der --sign entity.txt 2>/dev/null
smime_tool p7m g-opaque.der signed-data g-opaque.eml
check "gpgsm --sign (opaque) → autoseal smime verify" "$AUTOSEAL" smime verify --roots roots.pem g-opaque.eml
gpgsm --batch -r bob@example.test --output g-enc.der --encrypt entity.txt 2>/dev/null
smime_tool p7m g-enc.der enveloped-data g-enc.eml
check "gpgsm --encrypt (EnvelopedData) → autoseal smime decrypt" \
  bash -c "'$AUTOSEAL' smime decrypt -v --cert bob.pem --key bob.key g-enc.eml 2>g-dec.log | grep -q 'Signed by gpgsm'"
sed 's/^/       /' g-dec.log
gpgsm --batch -r bob@example.test --output g-se.der --encrypt g-signed.eml 2>/dev/null
smime_tool p7m g-se.der enveloped-data g-se.eml
check "gpgsm signs then encrypts → autoseal decrypts, then verifies" \
  bash -c "'$AUTOSEAL' smime decrypt --cert bob.pem --key bob.key g-se.eml >g-se.dec && '$AUTOSEAL' smime verify --roots roots.pem g-se.dec"
cp g.p7s g-bad.p7s
smime_tool flip g-bad.p7s -10
smime_tool signed entity.txt g-bad.p7s g-bad.eml
check "one changed byte of gpgsm's signature → autoseal verify fails" \
  bash -c "! '$AUTOSEAL' smime verify --roots roots.pem g-bad.eml >/dev/null 2>&1"

stop_tsa
finish
