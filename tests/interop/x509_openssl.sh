#!/usr/bin/env bash
# Interop: certificates autoseal issues for every hierarchy and profile are accepted by
# `openssl verify` (SM2 with distid 1234567812345678), show the expected extensions in
# `openssl x509 -text`, and parse in python3-cryptography; CSRs made by `openssl req` (SM2
# included) are accepted; bad input is refused with one clear line and no half-written state.
AUTOSEAL=${AUTOSEAL:-${1:-}}
. "$(dirname "$0")/lib.sh"
cd "$WORK"
SM2ID=1234567812345678

check "ca init creates three hierarchies" "$AUTOSEAL" ca init --dir ca
"$AUTOSEAL" ca roots --dir ca >roots.pem
check "roots bundle has three certificates" test "$(grep -c 'BEGIN CERTIFICATE' roots.pem)" -eq 3
digest_ca() { (cd ca && find . -type f \( -name '*.key' -o -name '*.pem' \) -exec sha256sum {} + | sort); }
before=$(digest_ca)
check "ca init is safe to run twice" "$AUTOSEAL" ca init --dir ca
check "keys and certificates unchanged by the second init" test "$(digest_ca)" = "$before"
for h in ecc rsa sm2; do
  check "$h keys are mode 0600" test "$(stat -c %a ca/ca/$h/root.key)$(stat -c %a ca/ca/$h/intermediate.key)" = 600600
done

# Keys and CSRs made by OpenSSL.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ecc.key 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2>/dev/null
openssl genpkey -algorithm SM2 -out sm2.key 2>/dev/null
csr() {  # csr KEYTYPE NAME SUBJECT SAN
  local sigopt=()
  [ "$1" = sm2 ] && sigopt=(-sm3 -sigopt "distid:$SM2ID")
  if [ -n "$4" ]; then
    openssl req -new -key "$1.key" -subj "$3" -addext "subjectAltName=$4" "${sigopt[@]}" -out "$2.csr" 2>/dev/null
  else
    openssl req -new -key "$1.key" -subj "$3" "${sigopt[@]}" -out "$2.csr" 2>/dev/null
  fi
}

verify_chain() {  # verify_chain HIERARCHY CHAINFILE PURPOSE
  local h=$1 chain=$2 purpose=$3
  awk '/BEGIN CERT/{n++} n==1' "$chain" >leaf.pem
  awk '/BEGIN CERT/{n++} n==2' "$chain" >inter.pem
  if [ "$h" = sm2 ]; then
    # OpenSSL 3.0's `verify -vfyopt distid:` sets the ID on the target certificate only, so an
    # SM2 chain is checked one signature at a time: intermediate under the root, then the leaf
    # under the intermediate.
    openssl verify -vfyopt distid:$SM2ID -CAfile ca/ca/sm2/root.pem inter.pem &&
      openssl verify -vfyopt distid:$SM2ID -partial_chain -CAfile inter.pem ${purpose:+-purpose $purpose} leaf.pem
  else
    openssl verify -x509_strict -CAfile roots.pem -untrusted inter.pem ${purpose:+-purpose $purpose} leaf.pem
  fi
}

for h in ecc rsa sm2; do
  csr $h $h-tls "/CN=www.example.com" "DNS:www.example.com,DNS:*.example.com,IP:127.0.0.1"
  check "$h: openssl req CSR parses" "$AUTOSEAL" cert inspect $h-tls.csr
  check "$h: tls-server issued" sh -c "'$AUTOSEAL' ca issue --dir ca --csr $h-tls.csr --profile tls-server >$h-tls.pem"
  check "$h: tls-server chain verifies with openssl" verify_chain $h $h-tls.pem sslserver
  check "$h: autoseal cert verify accepts tls-server" "$AUTOSEAL" cert verify --roots roots.pem $h-tls.pem
  openssl x509 -in $h-tls.pem -noout -text >$h-tls.txt
  check "$h: tls-server extensions" sh -c "grep -q 'TLS Web Server Authentication' $h-tls.txt && grep -q 'DNS:www.example.com, DNS:\*.example.com, IP Address:127.0.0.1' $h-tls.txt && grep -q 'CA:FALSE' $h-tls.txt && grep -q '2.23.140.1.2.1' $h-tls.txt && grep -A1 'X509v3 Key Usage: critical' $h-tls.txt | grep -q 'Digital Signature'"
  serial_len=$(openssl x509 -in $h-tls.pem -noout -serial | cut -d= -f2 | tr -d '\n' | wc -c)
  check "$h: serial is 20 bytes" test "$serial_len" -eq 40

  csr $h $h-smime "/CN=alice@example.com" "email:alice@example.com"
  check "$h: smime issued" sh -c "'$AUTOSEAL' ca issue --dir ca --csr $h-smime.csr --profile smime --days 825 >$h-smime.pem"
  check "$h: smime chain verifies with openssl" verify_chain $h $h-smime.pem smimesign
  openssl x509 -in $h-smime.pem -noout -text >$h-smime.txt
  check "$h: smime is strict (emailProtection only, policy 2.23.140.1.5.1.3)" sh -c "grep -A1 'Extended Key Usage' $h-smime.txt | tail -1 | grep -qx ' *E-mail Protection' && grep -q 'email:alice@example.com' $h-smime.txt && grep -q '2.23.140.1.5.1.3' $h-smime.txt"
  refuse "$h: smime over 825 days refused" "825" "$AUTOSEAL" ca issue --dir ca --csr $h-smime.csr --profile smime --days 826

  csr $h $h-tsa "/CN=autoseal TSA" ""
  check "$h: tsa issued" sh -c "'$AUTOSEAL' ca issue --dir ca --csr $h-tsa.csr --profile tsa >$h-tsa.pem"
  check "$h: tsa chain verifies with openssl" verify_chain $h $h-tsa.pem timestampsign
  openssl x509 -in $h-tsa.pem -noout -text >$h-tsa.txt
  check "$h: tsa has critical EKU timeStamping only" sh -c "grep -A1 'X509v3 Extended Key Usage: critical' $h-tsa.txt | tail -1 | grep -qx ' *Time Stamping'"
done

csr sm2 sm2-enc "/CN=sm2.example.com" "DNS:sm2.example.com"
check "sm2: tlcp-enc issued" sh -c "'$AUTOSEAL' ca issue --dir ca --csr sm2-enc.csr --profile tlcp-enc >sm2-enc.pem"
check "sm2: tlcp-enc chain verifies with openssl" verify_chain sm2 sm2-enc.pem ""
check "sm2: tlcp-enc key usage" sh -c "openssl x509 -in sm2-enc.pem -noout -text | grep -A1 'Key Usage: critical' | grep -q 'Key Encipherment, Data Encipherment, Key Agreement'"
check "sm2: certificates are signed SM2-with-SM3" sh -c "openssl x509 -in sm2-tls.pem -noout -text | grep -q 'Signature Algorithm: SM2-with-SM3'"
refuse "ecc key refused for tlcp-enc" "not allowed for the tlcp-enc profile" "$AUTOSEAL" ca issue --dir ca --csr ecc-tls.csr --profile tlcp-enc

# python3-cryptography parses the RSA and ECDSA certificates and sees the same extensions.
cat >parse.py <<'PY'
import sys
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
for path, eku in [("ecc-tls.pem", ExtendedKeyUsageOID.SERVER_AUTH), ("rsa-tls.pem", ExtendedKeyUsageOID.SERVER_AUTH),
                  ("ecc-smime.pem", ExtendedKeyUsageOID.EMAIL_PROTECTION), ("rsa-tsa.pem", ExtendedKeyUsageOID.TIME_STAMPING)]:
    certs = x509.load_pem_x509_certificates(open(path, "rb").read()) if hasattr(x509, "load_pem_x509_certificates") else [x509.load_pem_x509_certificate(open(path, "rb").read())]
    leaf = certs[0]
    ext = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(ext.value) == [eku], (path, list(ext.value))
    assert leaf.serial_number > 0 and leaf.serial_number.bit_length() > 150, path
    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.value.ca is False, path
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert aki.value.key_identifier, path
    print(path, "ok", leaf.subject.rfc4514_string())
PY
check "python3-cryptography parses RSA and ECDSA certificates" python3 parse.py

# Revocation and CRLs.
serial=$(openssl x509 -in ecc-tls.pem -noout -serial | cut -d= -f2)
check "revoke by serial" "$AUTOSEAL" ca revoke --dir ca "$serial" --reason keyCompromise
refuse "revoking twice is refused" "already revoked" "$AUTOSEAL" ca revoke --dir ca "$serial"
refuse "unknown serial is refused" "no certificate with serial" "$AUTOSEAL" ca revoke --dir ca 0123456789abcdef
check "crl for every hierarchy" sh -c "'$AUTOSEAL' ca crl --dir ca >all.crl && test \$(grep -c 'BEGIN X509 CRL' all.crl) -eq 3"
"$AUTOSEAL" ca crl --dir ca --hierarchy ecc >ecc.crl
awk '/BEGIN CERT/{n++} n==2' ecc-tls.pem >ecc-inter.pem
check "openssl crl verifies the ECC CRL and lists the serial with its reason" sh -c "openssl crl -in ecc.crl -CAfile ecc-inter.pem -noout 2>&1 | grep -q 'verify OK' && openssl crl -in ecc.crl -noout -text | grep -q 'Serial Number: ${serial}' && openssl crl -in ecc.crl -noout -text | grep -q 'Key Compromise'"
check "openssl verify -crl_check reports the revocation" sh -c "cat roots.pem ecc.crl >bundle.pem; openssl verify -crl_check -CAfile bundle.pem -untrusted ecc-inter.pem ecc-tls.pem 2>&1 | grep -q 'certificate revoked'"
n1=$(openssl crl -in ecc.crl -noout -crlnumber | cut -d= -f2 | sed 's/^0x//')
"$AUTOSEAL" ca crl --dir ca --hierarchy ecc >ecc2.crl
n2=$(openssl crl -in ecc2.crl -noout -crlnumber | cut -d= -f2 | sed 's/^0x//')
check "CRL numbers increase" test $((16#$n2)) -gt $((16#$n1))

# Bad input: one line, non-zero exit, nothing half-written.
echo "garbage" >garbage.csr
refuse "garbage CSR" "cannot parse CSR" "$AUTOSEAL" ca issue --dir ca --csr garbage.csr
cp ecc-tls.csr tampered.csr
python3 - <<'PY'
import base64, re
pem = open("tampered.csr").read()
body = "".join(re.findall(r"^[A-Za-z0-9+/=]+$", pem, re.M))
der = bytearray(base64.b64decode(body))
der[-4] ^= 0x01
b64 = base64.b64encode(bytes(der)).decode()
open("tampered.csr", "w").write("-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(b64[i:i+64] for i in range(0, len(b64), 64)) + "\n-----END CERTIFICATE REQUEST-----\n")
PY
refuse "CSR with a bad signature" "signature does not verify" "$AUTOSEAL" ca issue --dir ca --csr tampered.csr
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out weak.key 2>/dev/null
openssl req -new -key weak.key -subj /CN=weak.example.com -addext subjectAltName=DNS:weak.example.com -out weak.csr 2>/dev/null
refuse "RSA-1024 key refused" "RSA key of 1024 bits" "$AUTOSEAL" ca issue --dir ca --csr weak.csr
openssl genpkey -algorithm ED25519 -out ed.key 2>/dev/null
openssl req -new -key ed.key -subj /CN=ed.example.com -addext subjectAltName=DNS:ed.example.com -out ed.csr 2>/dev/null
refuse "Ed25519 key refused for TLS" "not allowed for the tls-server profile" "$AUTOSEAL" ca issue --dir ca --csr ed.csr
openssl req -new -key ecc.key -subj /CN=x -addext "subjectAltName=DNS:f*.example.com" -out wild.csr 2>/dev/null
refuse "partial wildcard refused" "wildcard must be the whole left-most label" "$AUTOSEAL" ca issue --dir ca --csr wild.csr
openssl req -new -key ecc.key -subj /CN=x -addext "subjectAltName=DNS:192.0.2.1" -out ipdns.csr 2>/dev/null
refuse "IP address as DNS name refused" "an IP address is not a DNS name" "$AUTOSEAL" ca issue --dir ca --csr ipdns.csr
openssl req -new -key ecc.key -subj /CN=x -addext "subjectAltName=DNS:bücher.example" -out ulabel.csr 2>/dev/null
refuse "U-label refused" "A-label" "$AUTOSEAL" ca issue --dir ca --csr ulabel.csr
refuse "unknown profile" "unknown profile 'code-signing'" "$AUTOSEAL" ca issue --dir ca --csr ecc-tls.csr --profile code-signing
refuse "missing CA" "ca init" "$AUTOSEAL" ca issue --dir nowhere --csr ecc-tls.csr
refuse "TLS over 398 days" "398" "$AUTOSEAL" ca issue --dir ca --csr ecc-tls.csr --days 399
printf -- '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' >bad.pem
refuse "malformed certificate PEM" "certificate 1" "$AUTOSEAL" cert inspect bad.pem
refuse "malformed DER" "cannot parse" "$AUTOSEAL" cert inspect garbage.csr
refuse "unwritable data directory" "" "$AUTOSEAL" ca init --dir /proc/autoseal-cannot-write
check "no temporary files left in the data directory" sh -c "test -z \"\$(find ca -name '*.tmp.*')\""

# cert verify reports every reason.
"$AUTOSEAL" cert verify --roots roots.pem --at 2040-01-01T00:00:00Z rsa-tls.pem >expired.out 2>&1
check "cert verify exits 1 for an expired chain and says so" sh -c "! '$AUTOSEAL' cert verify --roots roots.pem --at 2040-01-01T00:00:00Z rsa-tls.pem >/dev/null && grep -q 'expired' expired.out"
check "cert verify rejects a chain under the wrong roots" sh -c "! '$AUTOSEAL' cert verify --roots ca/ca/ecc/root.pem rsa-tls.pem >/dev/null"
check "cert verify checks the profile" sh -c "! '$AUTOSEAL' cert verify --roots roots.pem --profile smime rsa-tls.pem >/dev/null"

finish
