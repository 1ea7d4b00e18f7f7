# Shared by the smime_*.sh interop scripts (sourced after lib.sh, inside $WORK): a throw-away
# autoseal CA with S/MIME mailboxes, an `autoseal tsa serve` for postmarks, test messages, and a
# small Python helper that takes S/MIME messages apart byte for byte (third-party tools want the
# canonical first part and the DER signature as separate files).

# mailbox NAME KEYTYPE EMAIL: NAME.key, NAME.pem (leaf), NAME-chain.pem (leaf + intermediate).
mailbox() {
  local name=$1 kt=$2 email=$3
  "$AUTOSEAL" key generate --type "$kt" --out "$name.key" >/dev/null || { echo "key $name failed"; exit 1; }
  "$AUTOSEAL" cert request --key "$name.key" --cn "$email" --email "$email" --out "$name.csr" >/dev/null ||
    { echo "csr $name failed"; exit 1; }
  "$AUTOSEAL" ca issue --dir ca --csr "$name.csr" --profile smime >"$name-chain.pem" ||
    { echo "issue $name failed"; exit 1; }
  awk '/BEGIN CERT/{n++} n==1' "$name-chain.pem" >"$name.pem"
  awk '/BEGIN CERT/{n++} n>=2' "$name-chain.pem" >"$name-int.pem"
}

setup_pki() {
  "$AUTOSEAL" ca init --dir ca >/dev/null || { echo "ca init failed"; exit 1; }
  "$AUTOSEAL" ca roots --dir ca >roots.pem || { echo "ca roots failed"; exit 1; }
  mailbox alice ecdsa-p256 alice@example.test   # ECDSA signer (RFC 8551 MUST)
  mailbox bob rsa2048 bob@example.test          # RSA recipient (what every client decrypts)
  mailbox carol rsa2048 carol@example.test      # RSA signer, for tools that sign with RSA
  cat alice-int.pem bob-int.pem >intermediates.pem
}

TSA_PID=
TSA_URL=
# start_tsa: `autoseal tsa serve` on a free port with a certificate from the test CA.
start_tsa() {
  "$AUTOSEAL" tsa serve --dir tsa --ca-dir ca --key-type ecdsa --listen 127.0.0.1:0 >tsa.log 2>&1 &
  TSA_PID=$!
  PIDS+=("$TSA_PID")
  local port=
  for _ in $(seq 1 100); do
    port=$(grep -so '"msg":"tsa listening","address":"127.0.0.1:[0-9]*' tsa.log | grep -o '[0-9]*$')
    if [ -n "$port" ]; then TSA_URL="http://127.0.0.1:$port/"; return 0; fi
    kill -0 "$TSA_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "TSA did not start:"; cat tsa.log; exit 1
}
stop_tsa() { [ -n "$TSA_PID" ] && kill "$TSA_PID" 2>/dev/null && wait "$TSA_PID" 2>/dev/null; TSA_PID=; }

# write_messages: plain.eml (LF, 8-bit text + attachment) and crlf.eml (CRLF, 7-bit).
write_messages() {
  printf '%s\n' \
    'From: Alice <alice@example.test>' \
    'To: Bob <bob@example.test>' \
    'Subject: The quarterly figures' \
    'Date: Sat, 28 Nov 2026 12:00:00 +0000' \
    'Message-ID: <figures@example.test>' \
    'MIME-Version: 1.0' \
    'Content-Type: multipart/mixed; boundary="b1"' \
    '' \
    '--b1' \
    'Content-Type: text/plain; charset=utf-8' \
    'Content-Transfer-Encoding: 8bit' \
    '' \
    'Revenue grew by 12 % — see the attachment.' \
    'From here on, a line that mbox would escape.' \
    '--b1' \
    'Content-Type: application/octet-stream; name=figures.bin' \
    'Content-Disposition: attachment; filename=figures.bin' \
    'Content-Transfer-Encoding: base64' \
    '' \
    'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=' \
    '--b1--' >plain.eml
  printf 'From: Carol <carol@example.test>\r\nTo: bob@example.test\r\nSubject: plain CRLF\r\n\r\nHello Bob,\r\nthis one has CRLF line endings.\r\n' >crlf.eml
}

# smime_tool COMMAND ...: byte-exact S/MIME surgery (Python, standard library only).
#   split MSG CONTENT SIG      multipart/signed → first part (CRLF, as hashed) + DER signature
#   body MSG DER               application/pkcs7-mime → DER
#   postmark SIG TOKEN SIGVAL  the id-aa-timeStampToken of the first SignerInfo + its signature value
#   signed CONTENT SIG MSG     content + detached DER → multipart/signed message ($SMIME_FROM)
#   p7m DER TYPE MSG           DER → application/pkcs7-mime; smime-type=TYPE message ($SMIME_FROM)
#   flip FILE OFFSET           xor one byte (negative offsets count from the end)
smime_tool() {
  python3 - "$@" <<'PY'
import base64, os, re, sys

def raw_headers_body(data):
    m = re.search(rb'\r?\n\r?\n', data)
    return data[:m.start()], data[m.end():]

def param(headers, name):
    unfolded = re.sub(rb'\r?\n[ \t]+', b' ', headers)
    for line in unfolded.split(b'\n'):
        if line.lower().startswith(b'content-type:'):
            m = re.search(rb';\s*' + name + rb'\s*=\s*("([^"]*)"|[^;\s]+)', line, re.I)
            if m:
                return m.group(2) if m.group(2) is not None else m.group(1)
    return None

def crlf(b):
    return re.sub(rb'(?<!\r)\n', b'\r\n', b)

def tlv(d, i):
    tag = d[i]; i += 1
    l = d[i]; i += 1
    if l & 0x80:
        n = l & 0x7f; l = int.from_bytes(d[i:i + n], 'big'); i += n
    return tag, i, l

def kids(d, start, end):
    i = start
    while i < end:
        tag, cs, l = tlv(d, i)
        yield tag, i, cs, cs + l
        i = cs + l

TST_OID = bytes.fromhex('060b2a864886f70d010910020e')
cmd = sys.argv[1]
if cmd == 'split':
    data = open(sys.argv[2], 'rb').read()
    headers, body = raw_headers_body(data)
    b = param(headers, b'boundary')
    parts = re.split(rb'(?:^|\r?\n)--' + re.escape(b) + rb'(?:--)?[ \t]*(?:\r?\n|$)', body)
    content, sig = parts[1], parts[2]
    open(sys.argv[3], 'wb').write(crlf(content))
    sh, sb = raw_headers_body(sig)
    open(sys.argv[4], 'wb').write(base64.b64decode(re.sub(rb'\s', b'', sb)))
elif cmd == 'body':
    data = open(sys.argv[2], 'rb').read()
    headers, body = raw_headers_body(data)
    open(sys.argv[3], 'wb').write(base64.b64decode(re.sub(rb'\s', b'', body)))
elif cmd == 'postmark':
    d = open(sys.argv[2], 'rb').read()
    _, cs, l = tlv(d, 0)                          # ContentInfo
    k = list(kids(d, cs, cs + l))
    _, _, cs, ce = k[1]                           # [0] EXPLICIT
    _, cs, l = tlv(d, cs)                         # SignedData
    sis = [x for x in kids(d, cs, cs + l)][-1]    # signerInfos SET
    _, _, sic, sie = next(kids(d, sis[2], sis[3]))   # the first SignerInfo
    fields = list(kids(d, sic, sie))
    sigval = [f for f in fields if f[0] == 0x04][0]
    open(sys.argv[4], 'wb').write(d[sigval[2]:sigval[3]])
    unsigned = [f for f in fields if f[0] == 0xa1]
    if not unsigned:
        sys.exit('no unsigned attributes')
    for tag, start, cs, ce in kids(d, unsigned[0][2], unsigned[0][3]):
        attr = list(kids(d, cs, ce))
        if d[attr[0][1]:attr[0][3]] == TST_OID:
            _, ts, tc, te = next(kids(d, attr[1][2], attr[1][3]))
            open(sys.argv[3], 'wb').write(d[ts:te])
            sys.exit(0)
    sys.exit('no timeStampToken attribute')
elif cmd in ('signed', 'p7m'):
    sender = os.environ.get('SMIME_FROM', 'Alice <alice@example.test>').encode()
    head = b'From: ' + sender + b'\r\nTo: Bob <bob@example.test>\r\nSubject: from a third party\r\nMIME-Version: 1.0\r\n'
    def b64(x):
        s = base64.b64encode(x)
        return b'\r\n'.join(s[i:i + 76] for i in range(0, len(s), 76)) + b'\r\n'
    if cmd == 'signed':
        content = open(sys.argv[2], 'rb').read(); sig = open(sys.argv[3], 'rb').read()
        out = (head + b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="xyz"\r\n\r\n'
               b'--xyz\r\n' + content + b'\r\n--xyz\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n'
               b'Content-Transfer-Encoding: base64\r\n\r\n' + b64(sig) + b'--xyz--\r\n')
        open(sys.argv[4], 'wb').write(out)
    else:
        der = open(sys.argv[2], 'rb').read()
        out = (head + b'Content-Type: application/pkcs7-mime; smime-type=' + sys.argv[3].encode() +
               b'; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n' + b64(der))
        open(sys.argv[4], 'wb').write(out)
elif cmd == 'flip':
    d = bytearray(open(sys.argv[2], 'rb').read())
    d[int(sys.argv[3])] ^= 0x01
    open(sys.argv[2], 'wb').write(d)
else:
    sys.exit('unknown command ' + cmd)
PY
}
