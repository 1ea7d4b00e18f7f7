#!/usr/bin/env python3
"""Independent checks of an autoseal CT log, for tests/interop/ct_openssl.sh.

Everything here is re-implemented from RFC 6962 with python3's hashlib and pyca/cryptography;
signatures are checked with `openssl pkeyutl -verify` (ECDSA with SHA-256, SM2 with SM3 and the
distinguishing ID 1234567812345678), never with autoseal's own code.
"""
import base64, hashlib, json, os, re, signal, struct, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import datetime

FAILED = 0


def ok(cond, what):
    global FAILED
    print(("ok   - " if cond else "FAIL - ") + what)
    if not cond:
        FAILED += 1


def http(url, body=None):
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def get_json(url):
    status, body, _ = http(url)
    assert status == 200, (url, status, body)
    return json.loads(body)


def pem_ders(path):
    text = open(path).read()
    return [base64.b64decode("".join(b.strip().splitlines()[1:-1]))
            for b in re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)]


def add_chain(url, ders, pre=False):
    body = json.dumps({"chain": [base64.b64encode(d).decode() for d in ders]}).encode()
    return http(url + ("/ct/v1/add-pre-chain" if pre else "/ct/v1/add-chain"), body)


# --- RFC 6962 §2.1 Merkle trees, straight from the definitions -------------------------------
def leaf_hash(d):
    return hashlib.sha256(b"\x00" + d).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def mth(leaves):
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(h, index, size, path, root):  # RFC 9162 §2.1.3.2
    if index >= size:
        return False
    fn, sn, r = index, size - 1, h
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, r1, r2, proof):  # RFC 9162 §2.1.4.2
    if first == second:
        return not proof and r1 == r2
    if not proof:
        return False
    if first & (first - 1) == 0:
        proof = [r1] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1; sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr); sr = node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1; sn >>= 1
    return sn == 0 and fr == r1 and sr == r2


# --- SCTs ------------------------------------------------------------------------------------
def u(n, v):
    return v.to_bytes(n, "big")


def sct_signed_data(sct, entry_type, signed_entry):
    ext = base64.b64decode(sct["extensions"])
    return (b"\x00\x00" + u(8, sct["timestamp"]) + u(2, entry_type) + signed_entry + u(2, len(ext)) + ext)


def openssl_verify(pub_pem, data, ds, sm2):
    """Checks a DigitallySigned with openssl pkeyutl; returns (algorithm bytes ok, signature ok)."""
    alg, sig = ds[:2], ds[4:]
    ok_alg = alg == (b"\x07\x08" if sm2 else b"\x04\x03") and int.from_bytes(ds[2:4], "big") == len(sig)
    with tempfile.TemporaryDirectory() as d:
        open(d + "/data", "wb").write(data)
        open(d + "/sig", "wb").write(sig)
        cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub_pem, "-rawin", "-in", d + "/data",
               "-sigfile", d + "/sig", "-digest", "sm3" if sm2 else "sha256"]
        if sm2:
            cmd += ["-pkeyopt", "distid:1234567812345678"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        return ok_alg, r.returncode == 0 and "Signature Verified Successfully" in r.stdout


def leaf_index(sct):
    ext = base64.b64decode(sct["extensions"])
    assert len(ext) == 8 and ext[0] == 0 and ext[1:3] == b"\x00\x05", ext
    return int.from_bytes(ext[3:], "big")


def spki_der(pub_pem):
    # openssl, not pyca/cryptography: the latter has no SM2 curve.
    return subprocess.run(["openssl", "pkey", "-pubin", "-in", pub_pem, "-outform", "DER"],
                          capture_output=True, check=True).stdout


# --- commands --------------------------------------------------------------------------------
def cmd_submit(url, pub_pem, chain_pem, sm2):
    """add-chain: SCT signature (openssl), log id, leaf index, duplicate, the leaf in the tree."""
    ders = pem_ders(chain_pem)
    status, body, headers = add_chain(url, ders)
    ok(status == 200, f"add-chain answers 200 ({status} {body[:200]!r})")
    sct = json.loads(body)
    ok(base64.b64decode(sct["id"]) == hashlib.sha256(spki_der(pub_pem)).digest(), "SCT id is SHA-256 of the log's SPKI")
    data = sct_signed_data(sct, 0, u(3, len(ders[0])) + ders[0])
    alg_ok, sig_ok = openssl_verify(pub_pem, data, base64.b64decode(sct["signature"]), sm2)
    ok(alg_ok, "SCT DigitallySigned algorithm bytes are " + ("sm2sig_sm3 0x0708" if sm2 else "SHA-256/ECDSA (4,3)"))
    ok(sig_ok, "openssl pkeyutl -verify accepts the SCT signature" + (" (SM3, distid)" if sm2 else ""))
    status2, body2, _ = add_chain(url, ders)
    ok(status2 == 200 and json.loads(body2) == sct, "a duplicate submission returns the original SCT")
    idx = leaf_index(sct)
    sth = get_json(url + "/ct/v1/get-sth")
    ok(sth["tree_size"] > idx, "the entry is in the tree when its SCT is returned (no merge delay)")
    e = get_json(url + f"/ct/v1/get-entries?start={idx}&end={idx}")["entries"][0]
    leaf = base64.b64decode(e["leaf_input"])
    ok(leaf == data, "get-entries leaf_input is exactly the signed SCT data")
    extra = base64.b64decode(e["extra_data"])
    ok(int.from_bytes(extra[:3], "big") == len(extra) - 3, "extra_data is a certificate_chain")
    return sct


def der_read(b, i):
    """(tag, header length, content length) of the DER element at b[i:]."""
    tag, l = b[i], b[i + 1]
    if l < 0x80:
        return tag, 2, l
    n = l & 0x7F
    return tag, 2 + n, int.from_bytes(b[i + 2:i + 2 + n], "big")


def der_header(tag, n):
    if n < 0x80:
        return bytes([tag, n])
    lb = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(lb)]) + lb


POISON = bytes.fromhex("060a2b06010401d679020403")  # OID 1.3.6.1.4.1.11129.2.4.3


def tbs_without_poison(tbs):
    """RFC 6962 §3.2: the precertificate TBS with the poison extension removed."""
    _, h, n = der_read(tbs, 0)
    i, out = h, b""
    while i < h + n:
        tag, eh, en = der_read(tbs, i)
        el = tbs[i:i + eh + en]
        if tag == 0xA3:
            _, sh, sn = der_read(tbs, i + eh)
            j, exts = i + eh + sh, b""
            while j < i + eh + sh + sn:
                _, xh, xn = der_read(tbs, j)
                ext = tbs[j:j + xh + xn]
                if not ext[xh:].startswith(POISON):
                    exts += ext
                j += xh + xn
            el = der_header(0xA3, len(der_header(0x30, len(exts))) + len(exts)) + der_header(0x30, len(exts)) + exts
        out += el
        i += eh + en
    return der_header(0x30, len(out)) + out


def cmd_precert(url, pub_pem, issuer_pem, precert_pem, sm2=False):
    pre = pem_ders(precert_pem)[0]
    issuer = pem_ders(issuer_pem)[0]
    status, body, _ = add_chain(url, [pre, issuer], pre=False)
    ok(status == 400 and "error" in json.loads(body), "add-chain refuses a precertificate with 400 + JSON")
    status, body, _ = add_chain(url, [pre, issuer], pre=True)
    ok(status == 200, f"add-pre-chain answers 200 ({status} {body[:200]!r})")
    sct = json.loads(body)
    tbs = tbs_without_poison(x509.load_der_x509_certificate(pre).tbs_certificate_bytes)
    ikh = hashlib.sha256(x509.load_der_x509_certificate(issuer).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    data = sct_signed_data(sct, 1, ikh + u(3, len(tbs)) + tbs)
    alg_ok, sig_ok = openssl_verify(pub_pem, data, base64.b64decode(sct["signature"]), sm2)
    ok(alg_ok and sig_ok, "precert SCT verifies over issuer_key_hash + TBS without poison (python-cryptography TBS)")
    idx = leaf_index(sct)
    e = get_json(url + f"/ct/v1/get-entries?start={idx}&end={idx}")["entries"][0]
    extra = base64.b64decode(e["extra_data"])
    ok(extra[3:3 + len(pre)] == pre, "extra_data is a PrecertChainEntry starting with the precertificate")
    ok(status == 200 and add_chain(url, [pre, issuer], pre=True)[1] == body, "duplicate precert gets the same SCT")


def cmd_psc(url, pub_pem, int_cert, int_key):
    """RFC 6962 §3.1: a precertificate signed by a Precertificate Signing Certificate. The SCT must
    cover the TBS of the certificate the final CA would issue (issuer and AKI of the final CA),
    built here by pyca/cryptography as a real certificate from the intermediate."""
    from cryptography.x509.oid import ObjectIdentifier
    ica = x509.load_pem_x509_certificate(open(int_cert, "rb").read())
    ikey = serialization.load_pem_private_key(open(int_key, "rb").read(), None)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    psc_key = ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(ica.public_key())
    psc = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Precert Signing")]))
           .issuer_name(ica.subject).public_key(psc_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
           .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
           .add_extension(x509.ExtendedKeyUsage([ObjectIdentifier("1.3.6.1.4.1.11129.2.4.4")]), False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
           .sign(ikey, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()

    def build(issuer_name, poison):
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "psc.example")]))
             .issuer_name(issuer_name).public_key(leaf_key.public_key()).serial_number(serial)
             .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.SubjectAlternativeName([x509.DNSName("psc.example")]), False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False))
        if poison:
            b = b.add_extension(x509.PrecertPoison(), True)
        return b
    pre = build(psc.subject, True).sign(psc_key, hashes.SHA256())
    final_equivalent = build(ica.subject, False).sign(ikey, hashes.SHA256())
    der = lambda c: c.public_bytes(serialization.Encoding.DER)
    status, body, _ = add_chain(url, [der(pre), der(psc), der(ica)], pre=True)
    ok(status == 200, f"add-pre-chain with a precertificate signing certificate: 200 ({status} {body[:150]!r})")
    if status != 200:
        return
    sct = json.loads(body)
    tbs = final_equivalent.tbs_certificate_bytes
    ikh = hashlib.sha256(ica.public_key().public_bytes(serialization.Encoding.DER,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    alg_ok, sig_ok = openssl_verify(pub_pem, sct_signed_data(sct, 1, ikh + u(3, len(tbs)) + tbs),
                                    base64.b64decode(sct["signature"]), False)
    ok(alg_ok and sig_ok, "PSC precert SCT covers the final issuer's name and key hash (TBS built by pyca)")
    by_psc = build(psc.subject, False).sign(psc_key, hashes.SHA256())
    status, body, _ = add_chain(url, [der(by_psc), der(psc), der(ica)])
    ok(status == 400 and b"precertificate signing certificate" in body,
       "add-chain refuses a certificate signed by a PSC (it may sign only precertificates)")


def cmd_errors(url, chain_pem, foreign_pem):
    ders = pem_ders(chain_pem)
    cases = [
        ("garbage JSON", b"{not json"),
        ("no chain", b"{}"),
        ("empty chain", b'{"chain":[]}'),
        ("bad base64", b'{"chain":["@@@@"]}'),
        ("not a certificate", json.dumps({"chain": [base64.b64encode(b"hello").decode()]}).encode()),
        ("chain to an unknown root", json.dumps({"chain": [base64.b64encode(d).decode() for d in pem_ders(foreign_pem)]}).encode()),
        ("leaf without its intermediate", json.dumps({"chain": [base64.b64encode(ders[0]).decode()]}).encode()),
        ("oversized body", b'{"chain":["' + b"A" * (600 * 1024) + b'"]}'),
    ]
    for name, body in cases:
        status, resp, headers = http(url + "/ct/v1/add-chain", body)
        try:
            err = json.loads(resp)
            is_json = isinstance(err.get("error"), str) and err["error"] != ""
        except Exception:
            is_json = False
        ok(status == 400 and is_json, f"{name}: HTTP 400 with a JSON error ({status} {resp[:120]!r})")
    status, _, _ = http(url + "/ct/v1/get-proof-by-hash?hash=AAAA&tree_size=1")
    ok(status == 400, "get-proof-by-hash with a bad hash: 400")
    status, _, _ = http(url + "/ct/v1/get-sth-consistency?first=5&second=1000000")
    ok(status == 400, "get-sth-consistency beyond the tree: 400")


def cmd_merkle(url):
    """Root, every inclusion proof and consistency proofs recomputed with hashlib."""
    sth = get_json(url + "/ct/v1/get-sth")
    n = sth["tree_size"]
    leaves = []
    while len(leaves) < n:
        es = get_json(url + f"/ct/v1/get-entries?start={len(leaves)}&end={n - 1}")["entries"]
        leaves += [leaf_hash(base64.b64decode(e["leaf_input"])) for e in es]
    root = base64.b64decode(sth["sha256_root_hash"])
    ok(mth(leaves) == root, f"hashlib MTH over get-entries equals the STH root (size {n})")
    good = True
    for i, h in enumerate(leaves):
        p = get_json(url + f"/ct/v1/get-proof-by-hash?hash={urllib.parse.quote(base64.b64encode(h).decode())}&tree_size={n}")
        good &= p["leaf_index"] == i and verify_inclusion(h, i, n, [base64.b64decode(x) for x in p["audit_path"]], root)
        e = get_json(url + f"/ct/v1/get-entry-and-proof?leaf_index={i}&tree_size={n}")
        good &= verify_inclusion(h, i, n, [base64.b64decode(x) for x in e["audit_path"]], root)
    ok(good, "every get-proof-by-hash and get-entry-and-proof audit path verifies (RFC 9162 algorithm in python)")
    good = True
    for m in range(1, n + 1):
        c = get_json(url + f"/ct/v1/get-sth-consistency?first={m}&second={n}")["consistency"]
        good &= verify_consistency(m, n, mth(leaves[:m]), root, [base64.b64decode(x) for x in c])
    ok(good, "every get-sth-consistency proof verifies")
    # static-ct-api read path
    cp = http(url + "/checkpoint")[1].decode()
    lines = cp.split("\n")
    ok(lines[1] == str(n) and base64.b64decode(lines[2]) == root and lines[4].startswith("\u2014 "),
       "checkpoint: origin, size, root, then a signature line")
    w = n % 256
    if n >= 1:
        status, tile, _ = http(url + f"/tile/0/000" + (f".p/{w}" if n < 256 else ""))
        ok(status == 200 and tile[:32 * min(n, 256)] == b"".join(leaves[:256]), "level-0 tile holds the leaf hashes")
        status, data, _ = http(url + f"/tile/data/000" + (f".p/{w}" if n < 256 else ""))
        ok(status == 200 and len(data) > 0, "data tile served")


def issue_leaves(int_cert_pem, int_key_pem, count):
    """Leaves signed by the CA's ECC intermediate, made with pyca/cryptography (fast)."""
    ica = x509.load_pem_x509_certificate(open(int_cert_pem, "rb").read())
    ikey = serialization.load_pem_private_key(open(int_key_pem, "rb").read(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    out = []
    for i in range(count):
        name = f"crash-{i}-{os.getpid()}.example"
        c = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
             .issuer_name(ica.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
             .sign(ikey, hashes.SHA256()))
        out.append(c.public_bytes(serialization.Encoding.DER))
    return out, ica.public_bytes(serialization.Encoding.DER)


def cmd_crash_submit(url, pid, int_cert, int_key, count, state):
    """Submits count leaves from 16 threads and SIGKILLs the log midway; records every SCT."""
    leaves, ica = issue_leaves(int_cert, int_key, count)
    sth_before = get_json(url + "/ct/v1/get-sth")
    got, lock = {}, threading.Lock()
    killed = threading.Event()

    def worker(k):
        for i in range(k, count, 16):
            if killed.is_set():
                return
            try:
                status, body, _ = add_chain(url, [leaves[i], ica])
            except Exception:
                continue
            if status == 200:
                with lock:
                    got[i] = json.loads(body)
                    if len(got) >= count // 2 and not killed.is_set():
                        killed.set()
                        os.kill(pid, signal.SIGKILL)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in ts: t.start()
    for t in ts: t.join()
    if not killed.is_set():
        os.kill(pid, signal.SIGKILL)
    json.dump({"sth": sth_before, "scts": {str(i): s for i, s in got.items()},
               "leaves": [base64.b64encode(l).decode() for l in leaves], "ica": base64.b64encode(ica).decode()},
              open(state, "w"))
    ok(len(got) >= 1, f"{len(got)} SCTs returned before kill -9")


def cmd_crash_check(url, state):
    st = json.load(open(state))
    before = st["sth"]
    sth = get_json(url + "/ct/v1/get-sth")
    n = sth["tree_size"]
    ok(n >= before["tree_size"], f"tree size did not go back ({before['tree_size']} -> {n})")
    good = True
    for i, sct in st["scts"].items():
        idx = leaf_index(sct)
        der = base64.b64decode(st["leaves"][int(i)])
        if idx >= n:
            good = False
            continue
        e = get_json(url + f"/ct/v1/get-entries?start={idx}&end={idx}")["entries"][0]
        good &= base64.b64decode(e["leaf_input"]) == sct_signed_data(sct, 0, u(3, len(der)) + der)
    ok(good, f"all {len(st['scts'])} entries whose SCT was returned are in the tree at their leaf index")
    if before["tree_size"] > 0:
        c = get_json(url + f"/ct/v1/get-sth-consistency?first={before['tree_size']}&second={n}")["consistency"]
        ok(verify_consistency(before["tree_size"], n, base64.b64decode(before["sha256_root_hash"]),
                              base64.b64decode(sth["sha256_root_hash"]), [base64.b64decode(x) for x in c]),
           "consistency proof from the pre-crash tree head to the new one verifies")
    if st["scts"]:
        i, sct = next(iter(st["scts"].items()))
        status, body, _ = add_chain(url, [base64.b64decode(st["leaves"][int(i)]), base64.b64decode(st["ica"])])
        ok(status == 200 and json.loads(body) == sct, "after the restart a duplicate still gets its original SCT")


if __name__ == "__main__":
    import urllib.parse
    c, args = sys.argv[1], sys.argv[2:]
    if c == "submit": cmd_submit(args[0], args[1], args[2], args[3] == "sm2")
    elif c == "precert": cmd_precert(args[0], args[1], args[2], args[3])
    elif c == "psc": cmd_psc(args[0], args[1], args[2], args[3])
    elif c == "errors": cmd_errors(args[0], args[1], args[2])
    elif c == "merkle": cmd_merkle(args[0])
    elif c == "crash-submit": cmd_crash_submit(args[0], int(args[1]), args[2], args[3], int(args[4]), args[5])
    elif c == "crash-check": cmd_crash_check(args[0], args[1])
    else: sys.exit("unknown command " + c)
    sys.exit(1 if FAILED else 0)
