#include "ct/internal/cert_view.h"

#include <algorithm>

namespace autoseal::ct::internal {
namespace {

constexpr uint8_t kOidEcdsaSha256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
constexpr uint8_t kOidEcdsaSha384[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
constexpr uint8_t kOidEcdsaSha512[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04};
constexpr uint8_t kOidRsaSha256[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b};
constexpr uint8_t kOidRsaSha384[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c};
constexpr uint8_t kOidRsaSha512[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d};
constexpr uint8_t kOidSm2Sm3[] = {0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75};
constexpr uint8_t kOidEd25519[] = {0x2b, 0x65, 0x70};

bool Fail(std::string* error, const char* what) {
  *error = what;
  return false;
}

bool ParseExtensions(ByteView explicit_value, CertView* out, std::string* error) {
  DerReader outer(explicit_value);
  Tlv seq;
  if (!outer.Expect(kTagSequence, &seq) || !outer.empty())
    return Fail(error, "malformed extensions");
  DerReader r(seq.value);
  while (!r.empty()) {
    Tlv ext, oid, crit, value;
    if (!r.Expect(kTagSequence, &ext)) return Fail(error, "malformed extension");
    DerReader e(ext.value);
    if (!e.Expect(kTagOid, &oid)) return Fail(error, "malformed extension OID");
    bool critical_present = false;
    if (!e.Optional(kTagBoolean, &crit, &critical_present)) return Fail(error, "malformed extension");
    Extension x;
    x.oid = oid.value;
    x.full = ext.full;
    if (critical_present) {
      if (crit.value.size() != 1) return Fail(error, "malformed critical flag");
      x.critical = crit.value[0] != 0;
    }
    if (!e.Expect(kTagOctetString, &value) || !e.empty()) return Fail(error, "malformed extension value");
    x.value = value.value;
    for (const auto& other : out->extensions)
      if (OidEquals(other.oid, x.oid)) return Fail(error, "duplicate extension");  // RFC 5280 §4.2
    out->extensions.push_back(x);
  }
  return true;
}

}  // namespace

bool OidEquals(ByteView a, ByteView b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

const Extension* CertView::Find(ByteView oid) const {
  for (const auto& e : extensions)
    if (OidEquals(e.oid, oid)) return &e;
  return nullptr;
}

bool CertView::IsCa() const {
  const Extension* bc = Find(kOidBasicConstraints);
  if (bc == nullptr) return false;
  DerReader r(bc->value);
  Tlv seq, ca;
  if (!r.Expect(kTagSequence, &seq)) return false;
  DerReader s(seq.value);
  bool present = false;
  if (!s.Optional(kTagBoolean, &ca, &present) || !present) return false;
  return ca.value.size() == 1 && ca.value[0] != 0;
}

bool CertView::HasEku(ByteView oid) const {
  const Extension* eku = Find(kOidExtKeyUsage);
  if (eku == nullptr) return false;
  DerReader r(eku->value);
  Tlv seq, o;
  if (!r.Expect(kTagSequence, &seq)) return false;
  DerReader s(seq.value);
  while (s.Expect(kTagOid, &o))
    if (OidEquals(o.value, oid)) return true;
  return false;
}

bool ParseCertView(ByteView der, CertView* out, std::string* error) {
  *out = CertView{};
  out->der = der;
  DerReader top(der);
  Tlv cert, tbs, alg, sig;
  if (!top.Expect(kTagSequence, &cert) || !top.empty())
    return Fail(error, "not a DER certificate (or trailing bytes)");
  DerReader c(cert.value);
  if (!c.Expect(kTagSequence, &tbs) || !c.Expect(kTagSequence, &alg) ||
      !c.Expect(kTagBitString, &sig) || !c.empty())
    return Fail(error, "malformed certificate");
  out->tbs = tbs.full;
  DerReader a(alg.value);
  Tlv oid;
  if (!a.Expect(kTagOid, &oid)) return Fail(error, "malformed signature algorithm");
  out->signature_oid = oid.value;
  if (sig.value.empty() || sig.value[0] != 0) return Fail(error, "malformed signature");
  out->signature = sig.value.subspan(1);

  DerReader t(tbs.value);
  while (!t.empty()) {
    Tlv f;
    if (!t.Next(&f)) return Fail(error, "malformed TBSCertificate");
    out->tbs_fields.push_back(f);
  }
  // [0] version is optional; then serial, signature, issuer, validity, subject, spki.
  size_t i = 0;
  const auto& fs = out->tbs_fields;
  if (i < fs.size() && fs[i].tag == 0xa0) ++i;
  if (fs.size() < i + 6) return Fail(error, "TBSCertificate too short");
  if (fs[i].tag != kTagInteger || fs[i + 1].tag != kTagSequence || fs[i + 2].tag != kTagSequence ||
      fs[i + 3].tag != kTagSequence || fs[i + 4].tag != kTagSequence || fs[i + 5].tag != kTagSequence)
    return Fail(error, "malformed TBSCertificate");
  out->issuer_field = i + 2;
  out->issuer = fs[i + 2].full;
  DerReader v(fs[i + 3].value);
  Tlv nb, na;
  if (!v.Next(&nb) || !v.Next(&na) || !v.empty()) return Fail(error, "malformed validity");
  auto not_before = ParseTime(nb), not_after = ParseTime(na);
  if (!not_before || !not_after) return Fail(error, "malformed validity time");
  out->not_before = *not_before;
  out->not_after = *not_after;
  out->subject = fs[i + 4].full;
  out->spki = fs[i + 5].full;
  for (size_t j = i + 6; j < fs.size(); ++j) {
    if (fs[j].tag == 0xa3) {
      if (out->extensions_field) return Fail(error, "duplicate extensions");
      out->extensions_field = j;
      if (!ParseExtensions(fs[j].value, out, error)) return false;
    } else if (fs[j].tag != 0x81 && fs[j].tag != 0x82 && fs[j].tag != 0xa1 && fs[j].tag != 0xa2) {
      return Fail(error, "unexpected TBSCertificate field");
    }
  }
  return true;
}

std::optional<crypto::DigestAlgorithm> SignatureDigest(ByteView oid) {
  using crypto::DigestAlgorithm;
  if (OidEquals(oid, kOidEcdsaSha256) || OidEquals(oid, kOidRsaSha256)) return DigestAlgorithm::kSha256;
  if (OidEquals(oid, kOidEcdsaSha384) || OidEquals(oid, kOidRsaSha384)) return DigestAlgorithm::kSha384;
  if (OidEquals(oid, kOidEcdsaSha512) || OidEquals(oid, kOidRsaSha512)) return DigestAlgorithm::kSha512;
  if (OidEquals(oid, kOidSm2Sm3)) return DigestAlgorithm::kSm3;
  if (OidEquals(oid, kOidEd25519)) return DigestAlgorithm::kNone;
  return std::nullopt;
}

Bytes PrecertTbs(const CertView& precert, std::optional<ByteView> final_issuer_name,
                 std::optional<ByteView> final_aki, ByteView drop_oid) {
  Bytes body;
  for (size_t j = 0; j < precert.tbs_fields.size(); ++j) {
    const Tlv& f = precert.tbs_fields[j];
    if (j == precert.issuer_field && final_issuer_name) {
      body.insert(body.end(), final_issuer_name->begin(), final_issuer_name->end());
    } else if (precert.extensions_field && j == *precert.extensions_field) {
      Bytes exts;
      for (const auto& e : precert.extensions) {
        if (OidEquals(e.oid, drop_oid)) continue;
        ByteView src = e.full;
        if (final_aki && OidEquals(e.oid, kOidAuthorityKeyId)) src = *final_aki;
        exts.insert(exts.end(), src.begin(), src.end());
      }
      // RFC 5280 §4.1.2.9: extensions, if present, are one or more; drop the field when empty.
      if (exts.empty()) continue;
      Bytes seq;
      AppendHeader(seq, kTagSequence, exts.size());
      seq.insert(seq.end(), exts.begin(), exts.end());
      AppendHeader(body, 0xa3, seq.size());
      body.insert(body.end(), seq.begin(), seq.end());
    } else {
      body.insert(body.end(), f.full.begin(), f.full.end());
    }
  }
  Bytes out;
  AppendHeader(out, kTagSequence, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace autoseal::ct::internal
