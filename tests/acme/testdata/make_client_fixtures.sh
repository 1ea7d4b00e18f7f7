#!/bin/sh
# Regenerates the ACME client test fixtures with OpenSSL (run from this directory).
#   ari-rfc9773.pem: the RFC 9773 §4.1 example — AKI keyIdentifier
#     69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4, serial 0x0087654321 —
#     whose certID is "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"; valid 90 days from generation.
#   ari-small-serial.pem: same AKI, serial 0x1234 (no leading zero needed).
#   no-aki.pem: no Authority Key Identifier.
#   root-a.pem, root-b.pem: self-signed, CN "Test Root A" / "Test Root B" (chain selection).
set -e
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/k.pem" 2>/dev/null
cat >"$tmp/aki.cnf" <<CNF
[req]
distinguished_name = dn
[dn]
[aki]
2.5.29.35 = DER:30:16:80:14:69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4
[none]
basicConstraints = CA:FALSE
CNF
openssl req -new -key "$tmp/k.pem" -subj "/CN=ari.example" -config "$tmp/aki.cnf" -out "$tmp/r.csr"
openssl x509 -req -in "$tmp/r.csr" -signkey "$tmp/k.pem" -set_serial 0x87654321 \
  -days 90 -extfile "$tmp/aki.cnf" -extensions aki \
  -out ari-rfc9773.pem 2>/dev/null
openssl x509 -req -in "$tmp/r.csr" -signkey "$tmp/k.pem" -set_serial 0x1234 \
  -days 90 -extfile "$tmp/aki.cnf" -extensions aki \
  -out ari-small-serial.pem 2>/dev/null
openssl x509 -req -in "$tmp/r.csr" -signkey "$tmp/k.pem" -set_serial 7 \
  -days 90 -extfile "$tmp/aki.cnf" -extensions none \
  -out no-aki.pem 2>/dev/null
for x in a b; do
  X=$(echo $x | tr a-z A-Z)
  openssl req -x509 -key "$tmp/k.pem" -subj "/O=Test/CN=Test Root $X" -days 3650 -out root-$x.pem 2>/dev/null
done
