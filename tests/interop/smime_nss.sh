#!/bin/bash
# S/MIME with NSS 3.87 (the engine Thunderbird reads mail with) through `cmsutil`, both ways:
# our signed and postmarked messages (detached and opaque) verify with `cmsutil -D`, our encrypted
# messages decrypt with it; cmsutil's signatures and EnvelopedData verify and decrypt with
# autoseal. A throw-away NSS database under $WORK (empty password), the test roots trusted for
# email, the recipients' keys imported with pk12util. cmsutil is judged by its exit code.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/smime_lib.sh"
cd "$WORK"

setup_pki
start_tsa
write_messages

DB=sql:$WORK/nss
mkdir nss
certutil -N -d "$DB" --empty-password || { echo "certutil -N failed"; exit 1; }
csplit -s -z -f root- roots.pem '/BEGIN CERTIFICATE/' '{*}'
for r in root-*; do certutil -A -d "$DB" -n "root $r" -t "CT,C,C" -i "$r" 2>/dev/null; done
for who in bob carol; do
  openssl pkcs12 -export -name "$who" -in "$who.pem" -inkey "$who.key" -certfile "$who-int.pem" \
    -passout pass:pw -out "$who.p12"
  pk12util -i "$who.p12" -d "$DB" -W pw >/dev/null || { echo "pk12util $who failed"; exit 1; }
done
certutil -A -d "$DB" -n alice -t ",," -i alice.pem

# ---- autoseal → NSS -----------------------------------------------------------------------------
"$AUTOSEAL" smime sign --cert alice-chain.pem --key alice.key --tsa "$TSA_URL" plain.eml >signed.eml ||
  { echo "sign failed"; exit 1; }
smime_tool split signed.eml signed.canon signed.p7s
check "cmsutil -D verifies our postmarked ECDSA multipart/signed message (exit 0)" \
  cmsutil -D -d "$DB" -i signed.p7s -c signed.canon -u 4 -o /dev/null
cp signed.canon tampered.canon
smime_tool flip tampered.canon 200
check "cmsutil rejects one changed byte of the signed part (DigestMismatch)" \
  bash -c "! cmsutil -D -d '$DB' -i signed.p7s -c tampered.canon -u 4 -o /dev/null 2>&1 | tee t.log >/dev/null; grep -q DigestMismatch t.log"
"$AUTOSEAL" smime sign --opaque --cert carol-chain.pem --key carol.key --tsa "$TSA_URL" crlf.eml >opaque.eml
smime_tool body opaque.eml opaque.der
check "cmsutil -D verifies our opaque RSA signed-data and hands back the content" \
  bash -c "cmsutil -D -d '$DB' -i opaque.der -u 4 -o opaque.out && grep -q 'CRLF line endings' opaque.out"

"$AUTOSEAL" smime encrypt --to bob.pem plain.eml >enc.eml || { echo "encrypt failed"; exit 1; }
smime_tool body enc.eml enc.der
check "cmsutil -D decrypts our default encryption (AES-256-CBC, RSA PKCS#1 v1.5)" \
  bash -c "cmsutil -D -d '$DB' -i enc.der -o enc.out && grep -q 'Revenue grew' enc.out && grep -q '^Subject: The quarterly figures' enc.out"
"$AUTOSEAL" smime encrypt --to bob.pem --sign-cert alice-chain.pem --sign-key alice.key --tsa "$TSA_URL" plain.eml >se.eml
smime_tool body se.eml se.der
cmsutil -D -d "$DB" -i se.der -o se-inner.eml 2>/dev/null
check "cmsutil decrypts our signed+postmarked+encrypted message" grep -q 'multipart/signed' se-inner.eml
smime_tool split se-inner.eml se.canon se.p7s
check "... and verifies the signature inside" cmsutil -D -d "$DB" -i se.p7s -c se.canon -u 4 -o /dev/null

# ---- NSS → autoseal -----------------------------------------------------------------------------
printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\nSigned by NSS.\r\n' >entity.txt
export SMIME_FROM='Carol <carol@example.test>'
cmsutil -S -d "$DB" -N carol -H SHA256 -G -P -T -i entity.txt -o n.p7s 2>/dev/null
smime_tool signed entity.txt n.p7s n-signed.eml
check "cmsutil -S (detached, RSA, signing time, SMIMECapabilities) → autoseal verify" \
  "$AUTOSEAL" smime verify --roots roots.pem n-signed.eml
cmsutil -S -d "$DB" -N carol -H SHA256 -G -i entity.txt -o n-opaque.der 2>/dev/null
smime_tool p7m n-opaque.der signed-data n-opaque.eml
check "cmsutil -S (opaque) → autoseal verify" "$AUTOSEAL" smime verify --roots roots.pem n-opaque.eml
cmsutil -E -d "$DB" -r bob@example.test -i entity.txt -o n-enc.der 2>/dev/null
smime_tool p7m n-enc.der enveloped-data n-enc.eml
check "cmsutil -E (EnvelopedData) → autoseal decrypt" \
  bash -c "'$AUTOSEAL' smime decrypt -v --cert bob.pem --key bob.key n-enc.eml 2>n-dec.log | grep -q 'Signed by NSS'"
sed 's/^/       /' n-dec.log
cmsutil -E -d "$DB" -r bob@example.test -i n-signed.eml -o n-se.der 2>/dev/null
smime_tool p7m n-se.der enveloped-data n-se.eml
check "cmsutil signs then encrypts → autoseal decrypts, then verifies" \
  bash -c "'$AUTOSEAL' smime decrypt --cert bob.pem --key bob.key n-se.eml >n-se.dec && '$AUTOSEAL' smime verify --roots roots.pem n-se.dec"

stop_tsa
finish
