#!/usr/bin/env python3
"""Takes apart autoseal's GM/T 0010 CMS (DER) so that openssl's own SM2/SM4 primitives can check
it independently of autoseal's CMS code (OpenSSL 3.0's CMS cannot read SM2):

  smime_cms_sm2.py signed SIGNED.der OUTDIR     → OUTDIR/{attrs.der,sig.bin,content-digest.bin}
  smime_cms_sm2.py enveloped ENV.der OUTDIR     → OUTDIR/{ek.der,iv.hex,ct.bin}

and prints the OIDs it found, so the script can compare them with GM/T 0010."""
import os
import sys


def tlv(b, off):
    tag = b[off]
    n = b[off + 1]
    hdr = 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[off + 2:off + 2 + k], "big")
        hdr += k
    return tag, off + hdr, n, off + hdr + n  # tag, contents start, length, end


def children(b, start, end):
    out, off = [], start
    while off < end:
        t = tlv(b, off)
        out.append((t[0], off, t[1], t[3]))
        off = t[3]
    return out


def oid(b, start, end):
    v, arcs = 0, []
    for x in b[start:end]:
        v = (v << 7) | (x & 0x7F)
        if not x & 0x80:
            arcs.append(v)
            v = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first] + arcs[1:]))


def main():
    kind, path, out = sys.argv[1:4]
    b = open(path, "rb").read()
    os.makedirs(out, exist_ok=True)
    _, s, _, e = tlv(b, 0)
    ci = children(b, s, e)
    print("contentType", oid(b, ci[0][2], ci[0][3]))
    _, s, _, e = tlv(b, ci[1][2])  # [0] → inner SEQUENCE
    body = children(b, s, e)
    if kind == "signed":
        encap = children(b, body[2][2], body[2][3])
        print("eContentType", oid(b, encap[0][2], encap[0][3]))
        si_set = body[-1]
        si = children(b, *children(b, si_set[2], si_set[3])[0][2:4])
        print("digestAlgorithm", oid(b, *children(b, si[2][2], si[2][3])[0][2:4]))
        attrs = si[3]
        assert b[attrs[1]] == 0xA0
        signed = bytearray(b[attrs[1]:attrs[3]])
        signed[0] = 0x31
        open(os.path.join(out, "attrs.der"), "wb").write(signed)
        print("signatureAlgorithm", oid(b, *children(b, si[4][2], si[4][3])[0][2:4]))
        open(os.path.join(out, "sig.bin"), "wb").write(b[si[5][2]:si[5][3]])
        for a in children(b, attrs[2], attrs[3]):
            parts = children(b, a[2], a[3])
            if oid(b, parts[0][2], parts[0][3]) == "1.2.840.113549.1.9.4":
                v = children(b, parts[1][2], parts[1][3])[0]
                open(os.path.join(out, "content-digest.bin"), "wb").write(b[v[2]:v[3]])
    else:
        ris = children(b, body[1][2], body[1][3])
        ktri = children(b, ris[0][2], ris[0][3])
        print("keyEncryptionAlgorithm", oid(b, *children(b, ktri[2][2], ktri[2][3])[0][2:4]))
        open(os.path.join(out, "ek.der"), "wb").write(b[ktri[3][2]:ktri[3][3]])
        eci = children(b, body[2][2], body[2][3])
        print("encryptedContentType", oid(b, eci[0][2], eci[0][3]))
        alg = children(b, eci[1][2], eci[1][3])
        print("contentEncryptionAlgorithm", oid(b, alg[0][2], alg[0][3]))
        open(os.path.join(out, "iv.hex"), "w").write(b[alg[1][2]:alg[1][3]].hex())
        open(os.path.join(out, "ct.bin"), "wb").write(b[eci[2][2]:eci[2][3]])


main()
