#!/bin/bash
# mutt with Debian's stock S/MIME configuration (/etc/Muttrc.d/smime.rc) reads our messages: the
# commands that file configures (smime_verify_command, smime_verify_opaque_command,
# smime_decrypt_command, smime_pk7out_command, smime_get_signer_cert_command) are taken from it and
# run with mutt's %-expansions on the parts mutt hands them (the canonical first part and the DER
# signature, the decoded smime.p7m). mutt itself is not driven (it needs a terminal).
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/smime_lib.sh"
cd "$WORK"

RC=/etc/Muttrc.d/smime.rc
[ -r "$RC" ] || { echo "SKIP: $RC not installed"; exit 0; }
# mutt_command NAME: the configured command, continuation lines joined, quotes removed.
mutt_command() {
  python3 - "$RC" "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read().replace('\\\n', '')
m = re.search(r'^set\s+' + re.escape(sys.argv[2]) + r'\s*=\s*"(.*)"\s*$', text, re.M)
print(m.group(1) if m else '')
PY
}
# expand COMMAND: mutt's %-expansions (muttrc(5) "smime_*_command"), as mutt would fill them.
expand() {
  local c=$1
  c=${c//%C/-CAfile $WORK/roots.pem}
  c=${c//%f/$F}
  c=${c//%s/$S}
  c=${c//%k/$K}
  c=${c//%c/$C}
  echo "$c"
}

F= S= K= C=
setup_pki
start_tsa
write_messages
verify_cmd=$(mutt_command smime_verify_command)
opaque_cmd=$(mutt_command smime_verify_opaque_command)
decrypt_cmd=$(mutt_command smime_decrypt_command)
pk7out_cmd=$(mutt_command smime_pk7out_command)
signer_cmd=$(mutt_command smime_get_signer_cert_command)
check "smime.rc configures the commands mutt runs" \
  test -n "$verify_cmd" -a -n "$opaque_cmd" -a -n "$decrypt_cmd" -a -n "$pk7out_cmd" -a -n "$signer_cmd"

"$AUTOSEAL" smime sign --cert alice-chain.pem --key alice.key --tsa "$TSA_URL" plain.eml >signed.eml
smime_tool split signed.eml signed.canon signed.p7s
F=$WORK/signed.canon S=$WORK/signed.p7s
check "smime_verify_command accepts our postmarked multipart/signed message" \
  bash -c "$(expand "$verify_cmd") -out /dev/null"
F=$WORK/signed.eml C=$WORK/signer.pem
check "smime_get_signer_cert_command finds Alice as the signer" \
  bash -c "$(expand "$signer_cmd") && openssl x509 -in signer.pem -noout -email | grep -qx alice@example.test"
check "smime_pk7out_command extracts the PKCS#7 with the signer's chain" \
  bash -c "$(expand "$pk7out_cmd") | openssl pkcs7 -print_certs | grep -q 'alice@example.test'"
cp signed.canon tampered.canon
smime_tool flip tampered.canon 150
F=$WORK/tampered.canon S=$WORK/signed.p7s
check "smime_verify_command rejects one changed byte (openssl: Verification failure)" \
  bash -c "! $(expand "$verify_cmd") -out /dev/null 2>t.err && grep -q 'Verification failure' t.err"

"$AUTOSEAL" smime sign --opaque --cert carol-chain.pem --key carol.key crlf.eml >opaque.eml
smime_tool body opaque.eml opaque.der
S=$WORK/opaque.der
check "smime_verify_opaque_command accepts our opaque signed-data and shows the text" \
  bash -c "($(expand "$opaque_cmd")) 2>/dev/null | grep -q 'CRLF line endings'"

"$AUTOSEAL" smime encrypt --to bob.pem --sign-cert alice-chain.pem --sign-key alice.key --tsa "$TSA_URL" plain.eml >enc.eml
smime_tool body enc.eml enc.der
F=$WORK/enc.der K=$WORK/bob.key C=$WORK/bob.pem
check "smime_decrypt_command opens our signed and encrypted message" \
  bash -c "echo | $(expand "$decrypt_cmd") >dec.eml && grep -q '^Subject: The quarterly figures' dec.eml && grep -q 'multipart/signed' dec.eml"
smime_tool split dec.eml dec.canon dec.p7s
F=$WORK/dec.canon S=$WORK/dec.p7s
check "... and smime_verify_command accepts the signature inside" \
  bash -c "$(expand "$verify_cmd") -out /dev/null"

stop_tsa
finish
