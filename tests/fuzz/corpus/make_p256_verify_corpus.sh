#!/usr/bin/env bash
# Regenerates the seed corpus for p256_verify_fuzz (layout in tests/fuzz/p256_verify_fuzz.cc):
# valid signatures made by `openssl dgst` with the target's four fixed keys, each digest and both
# signature forms, plus bit flips, high-s, r/s range edges (0, n-1, n, 2^256-1, 33-byte
# integers), non-DER encodings, and "sign then XOR" seeds.
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)/p256_verify
rm -f "$out"/[0-9][0-9][0-9]  # its own seeds; files named by hash came from libFuzzer runs
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
keys=(MDECAQEEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABoAoGCCqGSM49AwEH
      MDECAQEEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACoAoGCCqGSM49AwEH
      MDECAQEEIP////8AAAAA//////////+85vqtpxeehPO5ysL8YyVQoAoGCCqGSM49AwEH
      MDECAQEEIElu2TvTlvQRcYWzx1EWv5IaIOuJZehtCNN/zD4pQl96oAoGCCqGSM49AwEH)
digests=(sha256 sha384 sha512)
for k in 0 1 2 3; do
  printf -- '-----BEGIN EC PRIVATE KEY-----\n%s\n-----END EC PRIVATE KEY-----\n' "${keys[$k]}" >"$tmp/k$k.pem"
  for d in 0 1 2; do
    printf 'seed message %s %s' "$k" "$d" >"$tmp/m$k$d"
    openssl dgst -"${digests[$d]}" -sign "$tmp/k$k.pem" -out "$tmp/s$k$d" "$tmp/m$k$d"
  done
done
python3 - "$tmp" "$out" <<'PY'
import os, sys
tmp, out = sys.argv[1], sys.argv[2]
n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

def der_int(v):
    b = v.to_bytes(max(1, (v.bit_length() + 7) // 8), 'big')
    if b[0] & 0x80: b = b'\0' + b
    return b'\x02' + bytes([len(b)]) + b

def der(r, s):
    body = der_int(r) + der_int(s)
    return b'\x30' + bytes([len(body)]) + body

def parse(sig):
    i = 2; vals = []
    for _ in range(2):
        l = sig[i + 1]; vals.append(int.from_bytes(sig[i + 2:i + 2 + l], 'big')); i += 2 + l
    return vals

count = 0
def seed(flags, msg, sig):
    global count
    with open(os.path.join(out, '%03d' % count), 'wb') as f:
        f.write(bytes([flags, len(msg)]) + msg + sig)
    count += 1

for k in range(4):
    for d in range(3):
        msg = open(os.path.join(tmp, 'm%d%d' % (k, d)), 'rb').read()
        sig = open(os.path.join(tmp, 's%d%d' % (k, d)), 'rb').read()
        flags = k | (d << 4)
        r, s = parse(sig)
        raw = r.to_bytes(32, 'big') + s.to_bytes(32, 'big')
        seed(flags, msg, sig)                       # valid DER
        seed(flags | 4, msg, raw)                   # valid r||s
        seed(flags, msg, der(r, n - s))             # high s: valid too
        seed(flags | 4, msg, raw[:63])              # short r||s
        flipped = bytearray(sig); flipped[-1] ^= 1
        seed(flags, msg, bytes(flipped))            # s off by a bit
        seed(flags, msg[:-1] + bytes([msg[-1] ^ 1]), sig)  # message off by a bit
        seed(flags, msg, sig + b'\0')               # trailing byte
        seed(flags | 8, msg, b'')                   # sign, unmodified
        seed(flags | 8, msg, b'\0' * 40 + b'\x01')  # sign, then flip one bit of s
        seed(flags | 8 | 4, msg, b'\x80')           # sign, r||s, flip r's top bit
        if k == 3 and d == 0:
            for v in (0, 1, n - 1, n, n + 1, 2**256 - 1, 2**256, r + n):
                seed(flags, msg, der(v, s))
                seed(flags, msg, der(r, v))
            seed(flags, msg, b'\x30\x81' + sig[1:])                     # long-form length
            seed(flags, msg, b'\x30' + bytes([sig[1] + 1]) + b'\x02' + bytes([sig[3] + 1]) + b'\0' + sig[4:])  # padded r
            seed(flags, msg, b'\x30\x80' + sig[2:] + b'\0\0')           # indefinite length
            seed(flags | 4, msg, (0).to_bytes(32, 'big') + s.to_bytes(32, 'big'))
            seed(flags | 4, msg, n.to_bytes(32, 'big') + s.to_bytes(32, 'big'))
            seed(flags | 4, msg, r.to_bytes(32, 'big') + (n - s).to_bytes(32, 'big'))
seed(0, b'', b'')
seed(0, b'', b'\x30\x00')
print('wrote', count, 'seeds to', out)
PY
