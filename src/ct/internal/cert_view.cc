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

// Reads the next element if it is well-formed and has this tag. A mismatch is a plain false, not
// an Error: the hot path checks tags of hostile input without building messages.
bool Take(der::Reader& r, uint8_t tag, der::Element* out) {
  if (r.PeekTag() != tag) return false;
  auto e = r.Next();
  if (!e) return false;
  *out = *e;
  return true;
}

// Reads the next element only if it has this tag; false only if that element is malformed.
bool TakeOptional(der::Reader& r, uint8_t tag, der::Element* out, bool* present) {
  *present = r.PeekTag() == tag;
  return !*present || Take(r, tag, out);
}

bool ParseExtensions(ByteView explicit_value, CertView* out, std::string* error) {
  der::Reader outer(explicit_value);
  der::Element seq;
  if (!Take(outer, der::kSequence, &seq) || !outer.empty()) return Fail(error, "malformed extensions");
  der::Reader r(seq.contents);
  while (!r.empty()) {
    der::Element ext, oid, crit, value;
    if (!Take(r, der::kSequence, &ext)) return Fail(error, "malformed extension");
    der::Reader e(ext.contents);
    if (!Take(e, der::kOid, &oid)) return Fail(error, "malformed extension OID");
    bool critical_present = false;
    if (!TakeOptional(e, der::kBoolean, &crit, &critical_present)) return Fail(error, "malformed extension");
    Extension x;
    x.oid = oid.contents;
    x.full = ext.encoding;
    if (critical_present) {
      if (crit.contents.size() != 1) return Fail(error, "malformed critical flag");
      x.critical = crit.contents[0] != 0;
    }
    if (!Take(e, der::kOctetString, &value) || !e.empty()) return Fail(error, "malformed extension value");
    x.value = value.contents;
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
  der::Reader r(bc->value);
  der::Element seq, ca;
  if (!Take(r, der::kSequence, &seq)) return false;
  der::Reader s(seq.contents);
  bool present = false;
  if (!TakeOptional(s, der::kBoolean, &ca, &present) || !present) return false;
  return ca.contents.size() == 1 && ca.contents[0] != 0;
}

bool CertView::HasEku(ByteView oid) const {
  const Extension* eku = Find(kOidExtKeyUsage);
  if (eku == nullptr) return false;
  der::Reader r(eku->value);
  der::Element seq, o;
  if (!Take(r, der::kSequence, &seq)) return false;
  der::Reader s(seq.contents);
  while (Take(s, der::kOid, &o))
    if (OidEquals(o.contents, oid)) return true;
  return false;
}

bool ParseCertView(ByteView cert_der, CertView* out, std::string* error) {
  *out = CertView{};
  out->der = cert_der;
  der::Reader top(cert_der);
  der::Element cert, tbs, alg, sig;
  if (!Take(top, der::kSequence, &cert) || !top.empty())
    return Fail(error, "not a DER certificate (or trailing bytes)");
  der::Reader c(cert.contents);
  if (!Take(c, der::kSequence, &tbs) || !Take(c, der::kSequence, &alg) ||
      !Take(c, der::kBitString, &sig) || !c.empty())
    return Fail(error, "malformed certificate");
  out->tbs = tbs.encoding;
  der::Reader a(alg.contents);
  der::Element oid;
  if (!Take(a, der::kOid, &oid)) return Fail(error, "malformed signature algorithm");
  out->signature_oid = oid.contents;
  if (sig.contents.empty() || sig.contents[0] != 0) return Fail(error, "malformed signature");
  out->signature = sig.contents.subspan(1);

  der::Reader t(tbs.contents);
  while (!t.empty()) {
    auto f = t.Next();
    if (!f) return Fail(error, "malformed TBSCertificate");
    out->tbs_fields.push_back(*f);
  }
  // [0] version is optional; then serial, signature, issuer, validity, subject, spki.
  size_t i = 0;
  const auto& fs = out->tbs_fields;
  if (i < fs.size() && fs[i].tag == der::ContextConstructed(0)) ++i;
  if (fs.size() < i + 6) return Fail(error, "TBSCertificate too short");
  if (fs[i].tag != der::kInteger || fs[i + 1].tag != der::kSequence || fs[i + 2].tag != der::kSequence ||
      fs[i + 3].tag != der::kSequence || fs[i + 4].tag != der::kSequence || fs[i + 5].tag != der::kSequence)
    return Fail(error, "malformed TBSCertificate");
  out->issuer_field = i + 2;
  out->issuer = fs[i + 2].encoding;
  der::Reader v(fs[i + 3].contents);
  auto nb = v.Next();
  if (!nb) return Fail(error, "malformed validity");
  auto na = v.Next();
  if (!na || !v.empty()) return Fail(error, "malformed validity");
  auto not_before = der::ParseTime(*nb, "notBefore"), not_after = der::ParseTime(*na, "notAfter");
  if (!not_before || !not_after) return Fail(error, "malformed validity time");
  out->not_before = *not_before;
  out->not_after = *not_after;
  out->subject = fs[i + 4].encoding;
  out->spki = fs[i + 5].encoding;
  for (size_t j = i + 6; j < fs.size(); ++j) {
    if (fs[j].tag == der::ContextConstructed(3)) {
      if (out->extensions_field) return Fail(error, "duplicate extensions");
      out->extensions_field = j;
      if (!ParseExtensions(fs[j].contents, out, error)) return false;
    } else if (fs[j].tag != der::ContextPrimitive(1) && fs[j].tag != der::ContextPrimitive(2) &&
               fs[j].tag != der::ContextConstructed(1) && fs[j].tag != der::ContextConstructed(2)) {
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
  der::Writer w(precert.tbs.size() + (final_issuer_name ? final_issuer_name->size() : 0));
  const size_t tbs = w.Begin(der::kSequence);
  for (size_t j = 0; j < precert.tbs_fields.size(); ++j) {
    if (j == precert.issuer_field && final_issuer_name) {
      w.Raw(*final_issuer_name);
    } else if (precert.extensions_field && j == *precert.extensions_field) {
      // RFC 5280 §4.1.2.9: extensions, if present, are one or more; drop the field when empty.
      bool any = std::any_of(precert.extensions.begin(), precert.extensions.end(),
                             [&](const Extension& e) { return !OidEquals(e.oid, drop_oid); });
      if (!any) continue;
      const size_t explicit_tag = w.Begin(der::ContextConstructed(3));
      const size_t seq = w.Begin(der::kSequence);
      for (const auto& e : precert.extensions) {
        if (OidEquals(e.oid, drop_oid)) continue;
        w.Raw(final_aki && OidEquals(e.oid, kOidAuthorityKeyId) ? *final_aki : e.full);
      }
      w.End(seq);
      w.End(explicit_tag);
    } else {
      w.Raw(precert.tbs_fields[j].encoding);
    }
  }
  w.End(tbs);
  return w.Take();
}

}  // namespace autoseal::ct::internal
