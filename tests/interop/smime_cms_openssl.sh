#!/bin/bash
# CMS interop (smime/cms.h, through tests/smime/cms_tool.cc): our SignedData verified by
# `openssl cms -verify` (detached and opaque, streamed BER too) and our postmark token by
# `openssl ts -verify`; `openssl cms -sign` output (DER, PEM, -stream BER) verified by us;
# EnvelopedData/AuthEnvelopedData both ways with `openssl cms -encrypt/-decrypt` (RSA v1.5, OAEP,
# ECDH KARI, AES-CBC/GCM); SM2 signatures and SM2+SM4 envelopes taken apart and checked with
# openssl's SM2/SM3/SM4 primitives (GM/T 0010 OIDs); tampering and wrong keys refused.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
TOOL=$(readlink -f "${CMS_TOOL:?CMS_TOOL must name the smime_cms_tool binary}")
cd "$WORK"

printf 'Content-Type: text/plain; charset=utf-8\r\n\r\nThe minutes of the meeting.\r\n' >msg.txt
head -c 300000 /dev/urandom | base64 >big.txt
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\nThe minutes of the meeting!\r\n' >altered.txt

# ---- Signatures, ECDSA and RSA ----
mkdir other && "$TOOL" pki other ecdsa-p256 || fail "other: pki"
for kt in ecdsa-p256 rsa2048; do
  mkdir "$kt" && "$TOOL" pki "$kt" "$kt" || { fail "$kt: pki"; continue; }
  P=$kt
  check "$kt: our detached signature passes openssl cms -verify" \
    bash -c "'$TOOL' sign $P/alice.key $P/alice.pem msg.txt $P/d.der && openssl cms -verify -binary -inform DER -in $P/d.der -content msg.txt -CAfile $P/root.pem -out /dev/null"
  check "$kt: our opaque signature passes openssl cms -verify and yields the content" \
    bash -c "'$TOOL' sign $P/alice.key $P/alice.pem big.txt $P/o.der --opaque && openssl cms -verify -binary -inform DER -in $P/o.der -CAfile $P/root.pem -out $P/o.txt && cmp $P/o.txt big.txt"
  check "$kt: our streamed (BER) opaque signature passes openssl cms -verify" \
    bash -c "'$TOOL' sign $P/alice.key $P/alice.pem big.txt $P/s.der --opaque --stream && openssl cms -verify -binary -inform DER -in $P/s.der -CAfile $P/root.pem -out $P/s.txt && cmp $P/s.txt big.txt"
  check "$kt: openssl cms -verify refuses our signature over altered content" \
    bash -c "! openssl cms -verify -binary -inform DER -in $P/d.der -content altered.txt -CAfile $P/root.pem -out /dev/null"
  # Postmark: the token extracted from our message verifies with openssl ts over the signature.
  check "$kt: postmarked signature passes openssl cms -verify" \
    bash -c "'$TOOL' sign $P/alice.key $P/alice.pem msg.txt $P/pm.der --tsa $P && openssl cms -verify -binary -inform DER -in $P/pm.der -content msg.txt -CAfile $P/root.pem -out /dev/null"
  check "$kt: our verify reports the postmark valid" \
    bash -c "'$TOOL' verify $P/pm.der $P/root.pem msg.txt | grep -q '^postmark: valid'"
  check "$kt: the postmark token passes openssl ts -verify over the signature value" \
    bash -c "'$TOOL' token $P/pm.der $P/tok.der $P/sigval.bin && openssl ts -verify -data $P/sigval.bin -in $P/tok.der -token_in -CAfile $P/root.pem -untrusted $P/tsa.pem"
  check "$kt: openssl ts -verify refuses the token over another signature value" \
    bash -c "! openssl ts -verify -data msg.txt -in $P/tok.der -token_in -CAfile $P/root.pem -untrusted $P/tsa.pem"
  # openssl's output, verified by us.
  check "$kt: openssl cms -sign (detached DER) verifies with us" \
    bash -c "openssl cms -sign -binary -in msg.txt -signer $P/alice.pem -inkey $P/alice.key -outform DER -out $P/od.der && '$TOOL' verify $P/od.der $P/root.pem msg.txt"
  check "$kt: openssl cms -sign (detached PEM) verifies with us" \
    bash -c "openssl cms -sign -binary -in msg.txt -signer $P/alice.pem -inkey $P/alice.key -outform PEM -out $P/od.pem && '$TOOL' verify $P/od.pem $P/root.pem msg.txt"
  check "$kt: openssl cms -sign -nodetach -stream (BER) verifies with us, content recovered" \
    bash -c "openssl cms -sign -binary -stream -nodetach -in big.txt -signer $P/alice.pem -inkey $P/alice.key -outform DER -out $P/ob.der && '$TOOL' verify $P/ob.der $P/root.pem --out $P/ob.txt && cmp $P/ob.txt big.txt"
  check "$kt: openssl cms -sign -noattr verifies with us" \
    bash -c "openssl cms -sign -binary -noattr -nodetach -in msg.txt -signer $P/alice.pem -inkey $P/alice.key -outform DER -out $P/na.der && '$TOOL' verify $P/na.der $P/root.pem"
  if "$TOOL" verify $P/od.der $P/root.pem altered.txt >$P/v.out; then fail "$kt: altered content accepted"
  elif grep -q 'signature: content altered' $P/v.out; then pass "$kt: altered content under openssl's signature: 'content altered'"
  else fail "$kt: altered content verdict"; cat $P/v.out; fi
  if "$TOOL" verify $P/od.der other/root.pem msg.txt >$P/u.out 2>&1; then fail "$kt: untrusted root accepted"
  elif grep -q 'chain: untrusted' $P/u.out; then pass "$kt: signer under another root: 'untrusted'"
  else fail "$kt: untrusted verdict"; cat $P/u.out; fi
done

# ---- Encryption, both ways (RSA recipient bob, EC recipient carol) ----
P=rsa2048
for opts in "" "--oaep" "--cipher aes-256-gcm" "--stream" "--cipher aes-128-gcm --oaep --stream"; do
  check "our EnvelopedData [${opts:-default}] decrypts with openssl cms -decrypt (RSA and ECDH recipients)" \
    bash -c "'$TOOL' encrypt big.txt e.der $P/bob.pem $P/carol.pem $opts && for w in bob carol; do openssl cms -decrypt -binary -inform DER -in e.der -recip $P/\$w.pem -inkey $P/\$w.key -out d.txt && cmp d.txt big.txt || exit 1; done"
done
check "default encryption is RSA PKCS#1 v1.5 + AES-256-CBC, ECDH with the SHA-256 KDF" \
  bash -c "'$TOOL' encrypt msg.txt e.der $P/bob.pem $P/carol.pem && openssl cms -cmsout -print -inform DER -in e.der >e.txt && grep -q 'algorithm: rsaEncryption' e.txt && grep -q 'aes-256-cbc' e.txt && grep -q 'dhSinglePass-stdDH-sha256kdf-scheme' e.txt && ! grep -q sha1kdf e.txt"
for c in "-aes256" "-aes128 -stream" "-aes-256-gcm" "-aes-128-gcm -stream"; do
  check "openssl cms -encrypt $c to RSA decrypts with us" \
    bash -c "openssl cms -encrypt -binary $c -outform DER -in big.txt -out oe.der $P/bob.pem && '$TOOL' decrypt oe.der d.txt $P/bob.pem $P/bob.key && cmp d.txt big.txt"
  check "openssl cms -encrypt $c with RSA-OAEP (PEM) decrypts with us" \
    bash -c "openssl cms -encrypt -binary $c -outform PEM -in msg.txt -out oe.pem -recip $P/bob.pem -keyopt rsa_padding_mode:oaep && '$TOOL' decrypt oe.pem d.txt $P/bob.pem $P/bob.key && cmp d.txt msg.txt"
  check "openssl cms -encrypt $c to EC (SHA-1 and SHA-256 KDF) decrypts with us" \
    bash -c "for kdf in '' '-keyopt ecdh_kdf_md:sha256'; do openssl cms -encrypt -binary $c -outform DER -in msg.txt -out oe.der -recip $P/carol.pem \$kdf && '$TOOL' decrypt oe.der d.txt $P/carol.pem $P/carol.key && cmp d.txt msg.txt || exit 1; done"
done
check "openssl's default EC recipient (SHA-1 KDF) is reported as such, -keyopt ecdh_kdf_md:sha256 as SHA-256" \
  bash -c "openssl cms -encrypt -binary -aes256 -outform DER -in msg.txt -out k1.der -recip $P/carol.pem && '$TOOL' decrypt k1.der d.txt $P/carol.pem $P/carol.key | grep -q 'KDF SHA-1' && openssl cms -encrypt -binary -aes256 -outform DER -in msg.txt -out k2.der -recip $P/carol.pem -keyopt ecdh_kdf_md:sha256 && '$TOOL' decrypt k2.der d.txt $P/carol.pem $P/carol.key | grep -q 'KDF SHA-256'"
openssl cms -encrypt -binary -aes-256-gcm -outform DER -in msg.txt -out gcm.der $P/bob.pem
python3 -c "import sys; b=bytearray(open('gcm.der','rb').read()); b[-20]^=1; open('gcm-bad.der','wb').write(b)"
if "$TOOL" decrypt gcm-bad.der d.txt $P/bob.pem $P/bob.key 2>err.txt; then fail "altered GCM ciphertext accepted"
elif grep -q 'altered' err.txt; then pass "altered AES-GCM ciphertext from openssl: refused as altered"
else fail "altered GCM verdict: $(cat err.txt)"; fi
if "$TOOL" decrypt oe.der d.txt ecdsa-p256/bob.pem ecdsa-p256/bob.key 2>err.txt; then fail "decrypted for the wrong recipient"
elif grep -q 'not encrypted to' err.txt; then pass "a message for someone else: 'not encrypted to'"
else fail "wrong-recipient verdict: $(cat err.txt)"; fi

# ---- SM2: GM/T 0010 structures checked with openssl's SM2/SM3/SM4 primitives ----
mkdir sm2 && "$TOOL" pki sm2 sm2 || fail "sm2: pki"
P=sm2
check "sm2: our signature verifies with us (postmarked by an SM2 TSA)" \
  bash -c "'$TOOL' sign $P/alice.key $P/alice.pem msg.txt $P/d.der --tsa $P && '$TOOL' verify $P/d.der $P/root.pem msg.txt | grep -q '^postmark: valid'"
check "sm2: GM/T 0010 OIDs (signedData, data, SM3, sm2-1)" \
  bash -c "python3 '$HERE/smime_cms_sm2.py' signed $P/d.der $P/s >$P/oids.txt && grep -qx 'contentType 1.2.156.10197.6.1.4.2.2' $P/oids.txt && grep -qx 'eContentType 1.2.156.10197.6.1.4.2.1' $P/oids.txt && grep -qx 'digestAlgorithm 1.2.156.10197.1.401' $P/oids.txt && grep -qx 'signatureAlgorithm 1.2.156.10197.1.301.1' $P/oids.txt"
check "sm2: the signature over the signed attributes verifies with openssl pkeyutl (SM3, ID 1234567812345678)" \
  bash -c "openssl x509 -in $P/alice.pem -pubkey -noout >$P/alice.pub && openssl pkeyutl -verify -pubin -inkey $P/alice.pub -rawin -digest sm3 -pkeyopt distid:1234567812345678 -in $P/s/attrs.der -sigfile $P/s/sig.bin"
check "sm2: the messageDigest is openssl's SM3 of the content" \
  bash -c "[ \"\$(openssl dgst -sm3 -binary msg.txt | xxd -p)\" = \"\$(xxd -p $P/s/content-digest.bin)\" ]"
check "sm2: SM2+SM4-CBC envelope decrypts with openssl pkeyutl + enc -sm4-cbc" \
  bash -c "'$TOOL' encrypt big.txt $P/e.der $P/bob.pem && python3 '$HERE/smime_cms_sm2.py' enveloped $P/e.der $P/e >$P/eoids.txt && openssl pkeyutl -decrypt -inkey $P/bob.key -in $P/e/ek.der -out $P/e/cek.bin && openssl enc -d -sm4-cbc -K \$(xxd -p $P/e/cek.bin) -iv \$(cat $P/e/iv.hex) -in $P/e/ct.bin -out $P/e/d.txt && cmp $P/e/d.txt big.txt"
check "sm2: envelope OIDs (envelopedData, sm2-3, data, SM4-CBC)" \
  bash -c "grep -qx 'contentType 1.2.156.10197.6.1.4.2.3' $P/eoids.txt && grep -qx 'keyEncryptionAlgorithm 1.2.156.10197.1.301.3' $P/eoids.txt && grep -qx 'encryptedContentType 1.2.156.10197.6.1.4.2.1' $P/eoids.txt && grep -qx 'contentEncryptionAlgorithm 1.2.156.10197.1.104.2' $P/eoids.txt"
check "sm2: our decrypt of the envelope" \
  bash -c "'$TOOL' decrypt $P/e.der d.txt $P/bob.pem $P/bob.key && cmp d.txt big.txt"

finish
