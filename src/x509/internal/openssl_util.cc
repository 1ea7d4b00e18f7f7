#include "x509/internal/openssl_util.h"

#include <openssl/objects.h>

#include "crypto/ossl.h"
#include "crypto/sign_context.h"
#include "x509/names.h"

namespace autoseal::x509::internal {

void AttachSm2IdIfNeeded(X509* x) {
  if (X509_get_signature_nid(x) == NID_SM2_with_SM3)
    X509_set0_distinguishing_id(x, crypto::NewSm2IdOctetString().release());
}

std::string NameToString(const X509_NAME* name) {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  return crypto::BioContents(bio.get());
}

std::string FirstCommonName(const X509_NAME* name) {
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return "";
  return Asn1StringText(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
}

Bytes IntegerBytes(const ASN1_INTEGER* i) {
  crypto::BignumPtr bn(ASN1_INTEGER_to_BN(i, nullptr));
  if (!bn) return {};
  Bytes out(static_cast<size_t>(BN_num_bytes(bn.get())));
  BN_bn2bin(bn.get(), out.data());
  return out;
}

TimePoint ToTimePoint(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return TimePoint{};
  return FromUnixSeconds(timegm(&tm));
}

std::string NidName(int nid) {
  const char* ln = OBJ_nid2ln(nid);
  return ln ? ln : "unknown (nid " + std::to_string(nid) + ")";
}

std::string ObjectText(const ASN1_OBJECT* obj) {
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof buf, obj, 1);
  return n > 0 ? std::string(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1)) : "";
}

std::string ObjectName(const ASN1_OBJECT* obj) {
  int nid = OBJ_obj2nid(obj);
  if (nid != NID_undef) {
    const char* sn = OBJ_nid2sn(nid);
    if (sn) return sn;
  }
  return ObjectText(obj);
}

std::string Asn1StringText(const ASN1_STRING* s) {
  if (!s) return "";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

namespace {
constexpr std::pair<uint32_t, uint32_t> kKuMap[] = {
    {1u << 0, KU_DIGITAL_SIGNATURE}, {1u << 1, KU_NON_REPUDIATION}, {1u << 2, KU_KEY_ENCIPHERMENT},
    {1u << 3, KU_DATA_ENCIPHERMENT}, {1u << 4, KU_KEY_AGREEMENT},   {1u << 5, KU_KEY_CERT_SIGN},
    {1u << 6, KU_CRL_SIGN},          {1u << 7, KU_ENCIPHER_ONLY},   {1u << 8, KU_DECIPHER_ONLY}};
}  // namespace

uint32_t FromOpenSslKeyUsage(uint32_t openssl_bits) {
  uint32_t out = 0;
  for (auto [ours, theirs] : kKuMap)
    if (openssl_bits & theirs) out |= ours;
  return out;
}

uint32_t ToOpenSslKeyUsage(uint32_t bits) {
  uint32_t out = 0;
  for (auto [ours, theirs] : kKuMap)
    if (bits & ours) out |= theirs;
  return out;
}

bool ExtensionCritical(const X509* x, int nid) {
  int idx = X509_get_ext_by_NID(x, nid, -1);
  if (idx < 0) return false;
  return X509_EXTENSION_get_critical(X509_get_ext(x, idx)) == 1;
}

std::vector<std::string> GeneralNameEntries(const GENERAL_NAMES* names, int type) {
  std::vector<std::string> out;
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != type) continue;
    if (type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
      out.push_back(FormatIpAddress(ByteView(ASN1_STRING_get0_data(ip), static_cast<size_t>(ASN1_STRING_length(ip)))));
    } else {
      out.push_back(Asn1StringText(gn->d.ia5));
    }
  }
  return out;
}

std::vector<std::string> SanEntries(const X509* x, int type) {
  crypto::GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
  return GeneralNameEntries(names.get(), type);
}

}  // namespace autoseal::x509::internal
