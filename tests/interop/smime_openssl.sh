#!/bin/bash
# S/MIME messages, both ways, with OpenSSL 3.0: what `autoseal smime` signs, postmarks and
# encrypts verifies/decrypts with `openssl cms`/`openssl smime` and `openssl ts -verify`; what
# openssl signs and encrypts verifies/decrypts with autoseal. Plus tampering (one changed byte of
# body, protected header, signature, token), bad input, and the input never being touched.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/smime_lib.sh"
cd "$WORK"

setup_pki
start_tsa
write_messages
S=("$AUTOSEAL" smime)
sha_before=$(sha256sum plain.eml crlf.eml)
TSA_CHAIN=tsa/tsa/ecdsa/tsa-chain.pem

# ---- autoseal → openssl -------------------------------------------------------------------------
check "sign: multipart/signed with a postmark" \
  bash -c "'$AUTOSEAL' smime sign --cert alice-chain.pem --key alice.key --tsa $TSA_URL plain.eml >signed.eml"
check "sign: micalg and protocol per RFC 8551 §3.5.3" \
  bash -c "grep -q 'multipart/signed; protocol=\"application/pkcs7-signature\"' signed.eml && grep -q 'micalg=sha-256' signed.eml"
check "openssl cms -verify accepts our multipart/signed message" \
  openssl cms -verify -in signed.eml -CAfile roots.pem -out signed.content
check "openssl hands back the signed body with the protected Subject (RFC 9788 hp=clear)" \
  bash -c "grep -q 'hp=clear' signed.content && grep -q '^Subject: The quarterly figures' signed.content && grep -q 'Revenue grew by 12' signed.content"
check "openssl smime -verify accepts it too" openssl smime -verify -in signed.eml -CAfile roots.pem -out /dev/null
check "8-bit text was made 7-bit before signing (RFC 8551 §3.1.2)" \
  bash -c "! LC_ALL=C grep -q '[^[:print:][:space:]]' signed.eml && grep -q 'quoted-printable' signed.eml"
check "autoseal smime verify: OK with the postmark" \
  bash -c "'$AUTOSEAL' smime verify --roots roots.pem signed.eml >verify.txt && grep -q '^postmark: *valid' verify.txt"

smime_tool split signed.eml signed.canon signed.p7s
check "the postmark token is in the SignerInfo's unsigned attributes" smime_tool postmark signed.p7s token.der sigval.bin
check "openssl ts -verify accepts the extracted token over the signature value" \
  bash -c "openssl ts -verify -data sigval.bin -in token.der -token_in -CAfile roots.pem -untrusted $TSA_CHAIN 2>&1 | grep -q 'Verification: OK'"
check "openssl cms -verify on the detached .p7s and the canonical first part" \
  openssl cms -verify -binary -inform DER -in signed.p7s -content signed.canon -CAfile roots.pem -out /dev/null

check "sign --opaque: application/pkcs7-mime signed-data" \
  bash -c "'$AUTOSEAL' smime sign --opaque --cert alice-chain.pem --key alice.key --tsa $TSA_URL plain.eml >opaque.eml && grep -q 'smime-type=signed-data' opaque.eml"
check "openssl cms -verify accepts the opaque message" \
  bash -c "openssl cms -verify -in opaque.eml -CAfile roots.pem -out opaque.content && grep -q 'Revenue grew' opaque.content"
check "autoseal smime verify accepts the opaque message" "$AUTOSEAL" smime verify --roots roots.pem opaque.eml
check "sign keeps CRLF input CRLF" \
  bash -c "'$AUTOSEAL' smime sign --cert carol-chain.pem --key carol.key crlf.eml >crlf-signed.eml && grep -c \$'\\r\$' crlf-signed.eml | grep -qv '^0\$' && openssl cms -verify -in crlf-signed.eml -CAfile roots.pem -out /dev/null"

# RFC 5322 §2.3: CR only in CRLF. A bare CR ("\r\r\n", or a body ending in CR) is signed as
# quoted-printable "=0D" (RFC 8551 §3.1.2): as it was, LF output would merge it with the next line
# break, and openssl strips the CRs that end a line before hashing.
cr_head='From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: bare CR\nMIME-Version: 1.0\nContent-Type: text/plain\n\n'
printf "${cr_head}hello\r\r\nworld\n" >cr-lf-inner.eml
printf "${cr_head}hello\nworld\r" >cr-lf-end.eml
cr_head='From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: bare CR\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n'
printf "${cr_head}hello\r\r\nworld\r\n" >cr-crlf-inner.eml
printf "${cr_head}hello\r\nworld\r" >cr-crlf-end.eml
for m in cr-lf-inner cr-lf-end cr-crlf-inner cr-crlf-end; do
  check "$m: a bare CR is signed as =0D; autoseal and openssl cms -verify accept it" \
    bash -c "'$AUTOSEAL' smime sign --cert alice-chain.pem --key alice.key $m.eml >$m.signed && grep -q '=0D' $m.signed && '$AUTOSEAL' smime verify --roots roots.pem $m.signed && openssl cms -verify -in $m.signed -CAfile roots.pem -out /dev/null"
  check "$m: signed and encrypted, openssl decrypts it and verifies the signed message inside" \
    bash -c "'$AUTOSEAL' smime encrypt --to bob.pem --sign-cert alice-chain.pem --sign-key alice.key $m.eml >$m.se && openssl cms -decrypt -in $m.se -recip bob.pem -inkey bob.key -out $m.inner && openssl cms -verify -in $m.inner -CAfile roots.pem -out /dev/null"
done

check "encrypt to an RSA recipient" \
  bash -c "'$AUTOSEAL' smime encrypt -v --to bob.pem plain.eml >enc.eml 2>enc.log"
check "default algorithms: enveloped-data, AES-256-CBC, RSA PKCS#1 v1.5" \
  bash -c "grep -q 'smime-type=enveloped-data' enc.eml && openssl cms -cmsout -print -in enc.eml | grep -q 'aes-256-cbc' && openssl cms -cmsout -print -in enc.eml | grep -q 'rsaEncryption'"
check "the outer Subject is obscured (RFC 9788)" bash -c "grep -q '^Subject: \[\.\.\.\]\$' enc.eml && ! grep -q quarterly enc.eml"
check "openssl cms -decrypt opens our message" \
  bash -c "openssl cms -decrypt -in enc.eml -recip bob.pem -inkey bob.key -out enc.plain && grep -q 'Revenue grew' enc.plain && grep -q '^Subject: The quarterly figures' enc.plain && grep -q 'HP-Outer: Subject: \[\.\.\.\]' enc.plain"
check "encrypt --cipher aes-256-gcm: authEnveloped-data that openssl decrypts" \
  bash -c "'$AUTOSEAL' smime encrypt --cipher aes-256-gcm --to bob.pem plain.eml >gcm.eml && grep -q 'smime-type=authEnveloped-data' gcm.eml && openssl cms -decrypt -in gcm.eml -recip bob.pem -inkey bob.key | grep -q 'Revenue grew'"
check "encrypt --oaep: RSA-OAEP that openssl decrypts" \
  bash -c "'$AUTOSEAL' smime encrypt --oaep --to bob.pem plain.eml >oaep.eml && openssl cms -cmsout -print -in oaep.eml | grep -q 'rsaesOaep' && openssl cms -decrypt -in oaep.eml -recip bob.pem -inkey bob.key | grep -q 'Revenue grew'"
check "encrypt to an EC recipient: ECDH with the SHA-256 KDF, never SHA-1" \
  bash -c "'$AUTOSEAL' smime encrypt --to alice.pem plain.eml >ec.eml && openssl cms -cmsout -print -in ec.eml | grep -q 'dhSinglePass-stdDH-sha256kdf-scheme' && ! openssl cms -cmsout -print -in ec.eml | grep -q 'sha1kdf'"
check "openssl cms -decrypt opens the ECDH message" \
  bash -c "openssl cms -decrypt -in ec.eml -recip alice.pem -inkey alice.key | grep -q 'Revenue grew'"
check "sign + postmark + encrypt in one go" \
  bash -c "'$AUTOSEAL' smime encrypt --to bob.pem --sign-cert alice-chain.pem --sign-key alice.key --tsa $TSA_URL plain.eml >se.eml"
check "openssl decrypts it and then verifies the signed message inside" \
  bash -c "openssl cms -decrypt -in se.eml -recip bob.pem -inkey bob.key -out se.inner && openssl cms -verify -in se.inner -CAfile roots.pem -out se.content && grep -q 'hp=cipher' se.content"
check "autoseal decrypts and verifies it" \
  bash -c "'$AUTOSEAL' smime decrypt --cert bob.pem --key bob.key se.eml >se.dec && grep -q '^Subject: The quarterly figures' se.dec && '$AUTOSEAL' smime verify --roots roots.pem se.dec >se.verify && grep -q 'hp=cipher' se.verify && grep -q '^postmark: *valid' se.verify"

# ---- openssl → autoseal -------------------------------------------------------------------------
printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\nSigned by openssl cms.\r\n' >entity.txt
hdr() { printf 'From: %s\nTo: Bob <bob@example.test>\nSubject: from openssl\n' "$1"; }
export -f hdr
check "openssl cms -sign (detached, ECDSA) → autoseal verify" \
  bash -c "{ hdr 'Alice <alice@example.test>'; openssl cms -sign -md sha256 -signer alice.pem -inkey alice.key -certfile alice-int.pem -in entity.txt; } >o-signed.eml && '$AUTOSEAL' smime verify --roots roots.pem o-signed.eml"
check "openssl smime -sign -nodetach (opaque, RSA, as mutt does) → autoseal verify" \
  bash -c "{ hdr 'Carol <carol@example.test>'; openssl smime -sign -nodetach -md sha256 -signer carol.pem -inkey carol.key -certfile carol-int.pem -in entity.txt; } >o-opaque.eml && '$AUTOSEAL' smime verify --roots roots.pem o-opaque.eml"
check "openssl cms -encrypt -aes256 → autoseal decrypt" \
  bash -c "{ hdr 'Alice <alice@example.test>'; openssl cms -encrypt -aes256 -in entity.txt bob.pem; } >o-enc.eml && '$AUTOSEAL' smime decrypt --cert bob.pem --key bob.key o-enc.eml | grep -q 'Signed by openssl cms'"
check "openssl cms -encrypt -aes-256-gcm → autoseal decrypt" \
  bash -c "{ hdr 'Alice <alice@example.test>'; openssl cms -encrypt -aes-256-gcm -in entity.txt bob.pem; } >o-gcm.eml && '$AUTOSEAL' smime decrypt --cert bob.pem --key bob.key o-gcm.eml | grep -q 'Signed by openssl cms'"
check "openssl cms -encrypt RSA-OAEP → autoseal decrypt" \
  bash -c "{ hdr 'Alice <alice@example.test>'; openssl cms -encrypt -aes256 -in entity.txt -recip bob.pem -keyopt rsa_padding_mode:oaep; } >o-oaep.eml && '$AUTOSEAL' smime decrypt --cert bob.pem --key bob.key o-oaep.eml | grep -q 'Signed by openssl cms'"
check "openssl cms -encrypt to EC with its SHA-1 KDF default → autoseal decrypt" \
  bash -c "{ hdr 'Bob <bob@example.test>'; openssl cms -encrypt -aes256 -in entity.txt alice.pem; } >o-ec.eml && '$AUTOSEAL' smime decrypt --cert alice.pem --key alice.key o-ec.eml | grep -q 'Signed by openssl cms'"
check "openssl signs then encrypts (mutt's order) → autoseal decrypts, then verifies" \
  bash -c "openssl cms -sign -md sha256 -signer alice.pem -inkey alice.key -certfile alice-int.pem -in entity.txt >o-inner.txt && { hdr 'Alice <alice@example.test>'; openssl cms -encrypt -aes256 -in o-inner.txt bob.pem; } >o-se.eml && '$AUTOSEAL' smime decrypt --cert bob.pem --key bob.key o-se.eml >o-se.dec && '$AUTOSEAL' smime verify --roots roots.pem o-se.dec"

# ---- algorithms from what a recipient announced (RFC 8551 §2.7.1) ------------------------------
"$AUTOSEAL" smime sign --cert carol-chain.pem --key carol.key crlf.eml >carol-signed.eml
check "encrypt --to-signed: a recipient that announced AES-GCM and RSA-OAEP (ours) gets them" \
  bash -c "'$AUTOSEAL' smime encrypt -v --to-signed carol-signed.eml --roots roots.pem plain.eml >caps.eml 2>caps.log && grep -q 'authEnveloped-data, AES-256-GCM, key transport: RSA-OAEP' caps.log"
check "... and openssl decrypts it" \
  bash -c "openssl cms -decrypt -in caps.eml -recip carol.pem -inkey carol.key | grep -q 'Revenue grew'"
check "encrypt --to-signed: a recipient whose client (openssl) announced only CBC ciphers gets AES-256-CBC and RSA v1.5" \
  bash -c "'$AUTOSEAL' smime encrypt -v --to-signed o-opaque.eml --roots roots.pem plain.eml >caps2.eml 2>caps2.log && grep -q 'enveloped-data, AES-256-CBC, key transport: RSA PKCS#1 v1.5' caps2.log && openssl cms -decrypt -in caps2.eml -recip carol.pem -inkey carol.key | grep -q 'Revenue grew'"
perl -pe 's/CRLF line endings/CRLF line endingz/' carol-signed.eml >carol-tampered.eml
refuse "encrypt --to-signed refuses a recipient message that does not verify" "does not verify" \
  "$AUTOSEAL" smime encrypt --to-signed carol-tampered.eml --roots roots.pem plain.eml

# ---- SM2 between autoseal users (GM/T 0010 OIDs, read with openssl asn1parse) -------------------
mailbox sam sm2 sam@example.test
mailbox sue sm2 sue@example.test
sed 's/Alice <alice@example.test>/Sam <sam@example.test>/' plain.eml >sm2.eml
check "SM2: sign + encrypt + postmark to an SM2 recipient" \
  bash -c "'$AUTOSEAL' smime encrypt -v --to sue.pem --sign-cert sam-chain.pem --sign-key sam.key --tsa $TSA_URL sm2.eml >sm2-enc.eml 2>sm2.log && grep -q 'enveloped-data, SM4-CBC, key transport: SM2' sm2.log"
smime_tool body sm2-enc.eml sm2-enc.der
check "SM2: the envelope is GM/T 0010 envelopedData with SM4-CBC" \
  bash -c "openssl asn1parse -inform DER -in sm2-enc.der | head -3 | grep -q ':1.2.156.10197.6.1.4.2.3' && openssl asn1parse -inform DER -in sm2-enc.der | grep -q ':sm4-cbc'"
check "SM2: the recipient decrypts and verifies (micalg=sm3, postmark valid)" \
  bash -c "'$AUTOSEAL' smime decrypt --cert sue.pem --key sue.key sm2-enc.eml >sm2-dec.eml && grep -q 'micalg=sm3' sm2-dec.eml && '$AUTOSEAL' smime verify --roots roots.pem sm2-dec.eml >sm2-verify.txt && grep -q 'SM2 with SM3' sm2-verify.txt && grep -q '^postmark: *valid' sm2-verify.txt"
smime_tool split sm2-dec.eml sm2.canon sm2.p7s
check "SM2: the signature is GM/T 0010 signedData with SM3" \
  bash -c "openssl asn1parse -inform DER -in sm2.p7s | head -3 | grep -q ':1.2.156.10197.6.1.4.2.2' && openssl asn1parse -inform DER -in sm2.p7s | grep -q ':sm3$'"
check "SM2: a wrong SM2 key cannot decrypt" \
  bash -c "! '$AUTOSEAL' smime decrypt --cert sue.pem --key sam.key sm2-enc.eml >/dev/null 2>&1"

# ---- tampering and bad input ---------------------------------------------------------------------
tamper() {  # tamper IN OUT PERL-SUBSTITUTION
  perl -0pe "$3" "$1" >"$2"
  cmp -s "$1" "$2" && { echo "tamper did not change $1"; return 1; }
  return 0
}
tamper signed.eml t-body.eml 's/Revenue grew by 12/Revenue grew by 13/'
refuse "one changed byte of body → verify fails, saying the content was altered" "altered" \
  "$AUTOSEAL" smime verify --roots roots.pem t-body.eml
check "... and openssl agrees" bash -c "! openssl cms -verify -in t-body.eml -CAfile roots.pem -out /dev/null 2>/dev/null"
tamper signed.eml t-hdr.eml 's/(hp=clear.*?Subject: The quarterly )figures/${1}figurez/s'
refuse "one changed byte of a protected header → verify fails" "altered" \
  "$AUTOSEAL" smime verify --roots roots.pem t-hdr.eml
smime_tool flip signed.p7s -300
smime_tool signed signed.canon signed.p7s t-sig.eml
check "one changed byte of the signature → verify fails" \
  bash -c "! '$AUTOSEAL' smime verify --roots roots.pem t-sig.eml >t-sig.out 2>&1"
check "verify -o writes nothing when verification fails" \
  bash -c "! '$AUTOSEAL' smime verify --roots roots.pem -o t-body.out t-body.eml >/dev/null 2>&1 && test ! -e t-body.out"
check "verify -o writes the verified content (multipart/signed too)" \
  bash -c "'$AUTOSEAL' smime verify --roots roots.pem -o signed.out signed.eml >/dev/null && grep -q 'Revenue grew by 12' signed.out && grep -q 'hp=clear' signed.out"
check "decrypt -o writes the plaintext readable by its owner only (0600)" \
  bash -c "'$AUTOSEAL' smime decrypt --cert bob.pem --key bob.key -o dec600.eml enc.eml && test \"\$(stat -c %a dec600.eml)\" = 600"
smime_tool split signed.eml c2 s2.p7s
# The token sits at the end of the SignerInfo; flip a byte inside its TSTInfo signature.
smime_tool flip s2.p7s -20
smime_tool signed c2 s2.p7s t-token.eml
check "one changed byte of the postmark token → verify fails, naming the postmark" \
  bash -c "! '$AUTOSEAL' smime verify --roots roots.pem t-token.eml >t-token.out 2>&1 && grep -qi 'postmark' t-token.out"
smime_tool body enc.eml enc.der
head -c 700 enc.der >trunc.der
smime_tool p7m trunc.der enveloped-data t-trunc.eml
refuse "truncated CMS → decrypt fails with one line" "" \
  "$AUTOSEAL" smime decrypt --cert bob.pem --key bob.key t-trunc.eml
printf 'From: x@example.test\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\nContent-Transfer-Encoding: base64\n\nR2FyYmFnZSBnYXJiYWdlIGdhcmJhZ2U=\n' >garbage.eml
refuse "garbage CMS → decrypt fails with one line" "" "$AUTOSEAL" smime decrypt --cert bob.pem --key bob.key garbage.eml
check "garbage → verify fails" bash -c "! '$AUTOSEAL' smime verify --roots roots.pem garbage.eml >/dev/null 2>&1"
refuse "wrong key → decrypt says so" "" "$AUTOSEAL" smime decrypt --cert carol.pem --key carol.key enc.eml
refuse "a plain message is not encrypted" "not encrypted" "$AUTOSEAL" smime decrypt --cert bob.pem --key bob.key plain.eml
check "a plain message does not verify" bash -c "! '$AUTOSEAL' smime verify --roots roots.pem plain.eml >/dev/null 2>&1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.pem -subj /CN=other -days 2 2>/dev/null
refuse "untrusted signer → verify fails" "" "$AUTOSEAL" smime verify --roots other.pem signed.eml
check "expired signer (checked a year later) → verify fails" \
  bash -c "! '$AUTOSEAL' smime verify --roots roots.pem --at $(date -u -d '+400 days' +%Y-%m-%dT%H:%M:%SZ) signed.eml >exp.out 2>&1 && grep -q 'expired' exp.out"
refuse "--out must not be the input" "original message is kept" \
  "$AUTOSEAL" smime sign --cert alice-chain.pem --key alice.key -o plain.eml plain.eml
check "the input messages were never altered" test "$(sha256sum plain.eml crlf.eml)" = "$sha_before"

stop_tsa
finish
