#!/usr/bin/env bash
# Regenerates the gpgsm fixtures that cms_fixtures_test.cc reads: an RSA hierarchy made by
# smime_cms_tool (root.pem, alice.pem, bob.pem, bob.key: test keys for these files only), and
# gpgsm 2.2's own output, which is BER with indefinite lengths: a detached signature
# (gpgsm-detached.p7s over content.txt), an opaque signature (gpgsm-opaque.p7m) and an
# EnvelopedData to bob (gpgsm-enveloped.p7m, RSA + AES-128-CBC).
# Usage: CMS_TOOL=build/.../smime_cms_tool make_gpgsm_fixtures.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TOOL=$(readlink -f "${CMS_TOOL:?set CMS_TOOL to the smime_cms_tool binary}")
tmp=$(mktemp -d)
trap 'gpgconf --homedir "$tmp/gnupg" --kill all 2>/dev/null || true; rm -rf "$tmp"' EXIT
cd "$tmp"
"$TOOL" pki . rsa2048
export GNUPGHOME=$tmp/gnupg
mkdir -m 700 "$GNUPGHOME"
echo disable-crl-checks >"$GNUPGHOME/gpgsm.conf"
# gpgsm 2.2 reads only legacy PKCS#12 encryption (email-anchors §5.3).
openssl pkcs12 -export -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 \
  -in alice.pem -inkey alice.key -passout pass:x -out alice.p12
echo x | gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 --import alice.p12
gpgsm --batch --import root.pem bob.pem
fpr=$(gpgsm --with-colons --list-keys "CMS Interop Root" | awk -F: '/^fpr/{print $10; exit}')
echo "$fpr S" >"$GNUPGHOME/trustlist.txt"
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\nSigned and encrypted by gpgsm.\r\n' >content.txt
echo x | gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 -u alice --detach-sign -o gpgsm-detached.p7s content.txt
echo x | gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 -u alice --sign -o gpgsm-opaque.p7m content.txt
gpgsm --batch -r bob --encrypt -o gpgsm-enveloped.p7m content.txt
cp root.pem alice.pem bob.pem bob.key content.txt gpgsm-detached.p7s gpgsm-opaque.p7m gpgsm-enveloped.p7m "$here/"
echo "fixtures written to $here"
