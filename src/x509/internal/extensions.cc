#include "x509/internal/extensions.h"

#include <openssl/x509v3.h>

#include "crypto/digest.h"
#include "x509/internal/openssl_util.h"
#include "x509/names.h"

namespace autoseal::x509::internal {

using crypto::OpenSslError;
using crypto::X509ExtensionPtr;

namespace {

X509ExtensionPtr Encode(int nid, bool critical, void* value) {
  X509ExtensionPtr ext(X509V3_EXT_i2d(nid, critical ? 1 : 0, value));
  CHECK_MSG(ext != nullptr, "cannot encode extension");
  return ext;
}

GENERAL_NAME* Ia5Name(int type, const std::string& text) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  ASN1_IA5STRING* s = ASN1_IA5STRING_new();
  CHECK(gn && s && ASN1_STRING_set(s, text.data(), static_cast<int>(text.size())) == 1);
  GENERAL_NAME_set0_value(gn, type, s);
  return gn;
}

}  // namespace

Result<X509ExtensionPtr> MakeSubjectAltName(const std::vector<std::string>& dns,
                                            const std::vector<std::string>& ips,
                                            const std::vector<std::string>& emails, bool critical) {
  crypto::GeneralNamesPtr names(GENERAL_NAMES_new());
  for (const auto& d : dns) sk_GENERAL_NAME_push(names.get(), Ia5Name(GEN_DNS, d));
  for (const auto& ip : ips) {
    auto bytes = TRY(ParseIpAddress(ip));
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
    CHECK(gn && os && ASN1_OCTET_STRING_set(os, bytes.data(), static_cast<int>(bytes.size())) == 1);
    GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
    sk_GENERAL_NAME_push(names.get(), gn);
  }
  for (const auto& e : emails) sk_GENERAL_NAME_push(names.get(), Ia5Name(GEN_EMAIL, e));
  return Encode(NID_subject_alt_name, critical, names.get());
}

X509ExtensionPtr MakeKeyUsage(uint32_t bits, bool critical) {
  crypto::Asn1BitStringPtr ku(ASN1_BIT_STRING_new());
  uint32_t ossl = ToOpenSslKeyUsage(bits);
  // KU_* values are the DER bit-string bytes: bits 0-7 in the first byte (0x80 = bit 0), bit 8
  // (decipherOnly) is 0x8000, i.e. the top bit of the second byte.
  for (int bit = 0; bit < 9; ++bit) {
    uint32_t mask = bit < 8 ? (0x80u >> bit) : 0x8000u;
    if (ossl & mask) CHECK(ASN1_BIT_STRING_set_bit(ku.get(), bit, 1) == 1);
  }
  return Encode(NID_key_usage, critical, ku.get());
}

X509ExtensionPtr MakeExtKeyUsage(const std::vector<int>& nids, bool critical) {
  crypto::ExtendedKeyUsagePtr eku(sk_ASN1_OBJECT_new_null());
  for (int nid : nids) sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(nid));
  return Encode(NID_ext_key_usage, critical, eku.get());
}

X509ExtensionPtr MakeBasicConstraints(bool ca, int path_length, bool critical) {
  crypto::BasicConstraintsPtr bc(BASIC_CONSTRAINTS_new());
  bc->ca = ca ? 0xff : 0;
  if (ca && path_length >= 0) {
    bc->pathlen = ASN1_INTEGER_new();
    ASN1_INTEGER_set(bc->pathlen, path_length);
  }
  return Encode(NID_basic_constraints, critical, bc.get());
}

X509ExtensionPtr MakeSubjectKeyId(ByteView key_id) {
  crypto::Asn1OctetStringPtr os(ASN1_OCTET_STRING_new());
  CHECK(ASN1_OCTET_STRING_set(os.get(), key_id.data(), static_cast<int>(key_id.size())) == 1);
  return Encode(NID_subject_key_identifier, false, os.get());
}

X509ExtensionPtr MakeAuthorityKeyId(ByteView key_id) {
  crypto::AuthorityKeyIdPtr akid(AUTHORITY_KEYID_new());
  akid->keyid = ASN1_OCTET_STRING_new();
  CHECK(ASN1_OCTET_STRING_set(akid->keyid, key_id.data(), static_cast<int>(key_id.size())) == 1);
  return Encode(NID_authority_key_identifier, false, akid.get());
}

X509ExtensionPtr MakeCertificatePolicies(const std::vector<std::string>& oids) {
  crypto::CertificatePoliciesPtr policies(sk_POLICYINFO_new_null());
  for (const auto& oid : oids) {
    POLICYINFO* pi = POLICYINFO_new();
    pi->policyid = OBJ_txt2obj(oid.c_str(), 1);
    CHECK_MSG(pi->policyid != nullptr, "bad policy OID");
    sk_POLICYINFO_push(policies.get(), pi);
  }
  return Encode(NID_certificate_policies, false, policies.get());
}

X509ExtensionPtr MakeCrlDistributionPoints(const std::vector<std::string>& urls) {
  CRL_DIST_POINTS* dps = sk_DIST_POINT_new_null();
  for (const auto& url : urls) {
    DIST_POINT* dp = DIST_POINT_new();
    dp->distpoint = DIST_POINT_NAME_new();
    dp->distpoint->type = 0;
    dp->distpoint->name.fullname = GENERAL_NAMES_new();
    sk_GENERAL_NAME_push(dp->distpoint->name.fullname, Ia5Name(GEN_URI, url));
    sk_DIST_POINT_push(dps, dp);
  }
  auto ext = Encode(NID_crl_distribution_points, false, dps);
  CRL_DIST_POINTS_free(dps);
  return ext;
}

Status SetSubjectPublicKeyInfo(X509* cert, ByteView spki_der) {
  auto bad = [] { return Fail(ErrorCode::kParse, "malformed SubjectPublicKeyInfo"); };
  const unsigned char* p = spki_der.data();
  long len = 0;
  int tag = 0, cls = 0;
  int rc = ASN1_get_object(&p, &len, &tag, &cls, static_cast<long>(spki_der.size()));
  if ((rc & 0x80) || tag != V_ASN1_SEQUENCE || p + len != spki_der.data() + spki_der.size()) return bad();
  const unsigned char* end = p + len;
  std::unique_ptr<X509_ALGOR, decltype(&X509_ALGOR_free)> alg(d2i_X509_ALGOR(nullptr, &p, end - p), X509_ALGOR_free);
  crypto::Asn1BitStringPtr bits(alg ? d2i_ASN1_BIT_STRING(nullptr, &p, end - p) : nullptr);
  if (!alg || !bits || p != end) {
    crypto::ClearOpenSslErrors();
    return bad();
  }
  const ASN1_OBJECT* aobj = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&aobj, &ptype, &pval, alg.get());
  void* params = nullptr;
  switch (ptype) {
    case V_ASN1_OBJECT: params = OBJ_dup(static_cast<const ASN1_OBJECT*>(pval)); break;
    case V_ASN1_NULL:
    case V_ASN1_UNDEF: break;
    case V_ASN1_SEQUENCE: params = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(pval)); break;
    default: return Fail(ErrorCode::kUnsupported, "unsupported public key parameters");
  }
  unsigned char* key_bits = static_cast<unsigned char*>(OPENSSL_memdup(bits->data, static_cast<size_t>(bits->length)));
  if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), OBJ_dup(aobj), ptype, params, key_bits,
                             bits->length) != 1)
    return Fail(OpenSslError("cannot set the subject public key"));
  return Ok();
}

Bytes KeyIdentifier(const crypto::PublicKey& key) {
  X509_PUBKEY* xpk = nullptr;
  CHECK(X509_PUBKEY_set(&xpk, key.evp()) == 1);
  const unsigned char* pk = nullptr;
  int pk_len = 0;
  CHECK(X509_PUBKEY_get0_param(nullptr, &pk, &pk_len, nullptr, xpk) == 1);
  Bytes id = crypto::Digest(crypto::DigestAlgorithm::kSha1, ByteView(pk, static_cast<size_t>(pk_len)));
  X509_PUBKEY_free(xpk);
  return id;
}

}  // namespace autoseal::x509::internal
