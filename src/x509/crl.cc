#include "x509/crl.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cctype>

#include "crypto/ossl.h"
#include "crypto/sign_context.h"
#include "crypto/signature.h"
#include "x509/internal/extensions.h"
#include "x509/internal/openssl_util.h"

namespace autoseal::x509 {

using crypto::OpenSslError;

namespace {
constexpr std::pair<RevocationReason, std::string_view> kReasonNames[] = {
    {RevocationReason::kUnspecified, "unspecified"},
    {RevocationReason::kKeyCompromise, "keyCompromise"},
    {RevocationReason::kCaCompromise, "cACompromise"},
    {RevocationReason::kAffiliationChanged, "affiliationChanged"},
    {RevocationReason::kSuperseded, "superseded"},
    {RevocationReason::kCessationOfOperation, "cessationOfOperation"},
    {RevocationReason::kCertificateHold, "certificateHold"},
    {RevocationReason::kPrivilegeWithdrawn, "privilegeWithdrawn"},
    {RevocationReason::kAaCompromise, "aACompromise"},
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

Result<crypto::DigestAlgorithm> DigestOfSignature(const X509_ALGOR* alg) {
  int md_nid = NID_undef, pk_nid = NID_undef;
  if (!OBJ_find_sigid_algs(OBJ_obj2nid(alg->algorithm), &md_nid, &pk_nid))
    return Fail(ErrorCode::kUnsupported, "unknown signature algorithm");
  switch (md_nid) {
    case NID_undef: return crypto::DigestAlgorithm::kNone;
    case NID_sha256: return crypto::DigestAlgorithm::kSha256;
    case NID_sha384: return crypto::DigestAlgorithm::kSha384;
    case NID_sha512: return crypto::DigestAlgorithm::kSha512;
    case NID_sm3: return crypto::DigestAlgorithm::kSm3;
  }
  return Fail(ErrorCode::kUnsupported, "unsupported signature digest " + internal::NidName(md_nid));
}
}  // namespace

std::string_view RevocationReasonName(RevocationReason reason) {
  for (auto [r, n] : kReasonNames)
    if (r == reason) return n;
  return "unspecified";
}

Result<RevocationReason> ParseRevocationReason(std::string_view text) {
  for (auto [r, n] : kReasonNames) {
    if (EqualsIgnoreCase(n, text) || text == std::to_string(static_cast<int>(r))) return r;
  }
  return Fail(ErrorCode::kInvalidArgument,
              "unknown revocation reason '" + std::string(text) +
                  "' (expected unspecified, keyCompromise, cACompromise, affiliationChanged, "
                  "superseded, cessationOfOperation, certificateHold, privilegeWithdrawn or aACompromise)");
}

Result<Crl> Crl::FromDer(ByteView der) {
  const unsigned char* p = der.data();
  X509_CRL* c = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
  if (!c) return Fail(OpenSslError("cannot parse CRL DER", ErrorCode::kParse));
  if (p != der.data() + der.size()) {
    X509_CRL_free(c);
    return Fail(ErrorCode::kParse, "trailing data after CRL DER");
  }
  return Crl(std::shared_ptr<X509_CRL>(c, X509_CRL_free));
}

Result<Crl> Crl::FromPem(std::string_view pem) {
  auto bio = crypto::MemoryBio(pem);
  X509_CRL* c = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
  if (!c) return Fail(OpenSslError("cannot parse CRL PEM", ErrorCode::kParse));
  return Crl(std::shared_ptr<X509_CRL>(c, X509_CRL_free));
}

Bytes Crl::Der() const {
  unsigned char* out = nullptr;
  int n = i2d_X509_CRL(crl_.get(), &out);
  CHECK(n > 0);
  Bytes der(out, out + n);
  OPENSSL_free(out);
  return der;
}

std::string Crl::Pem() const {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  CHECK(PEM_write_bio_X509_CRL(bio.get(), crl_.get()) == 1);
  return crypto::BioContents(bio.get());
}

std::string Crl::Issuer() const { return internal::NameToString(X509_CRL_get_issuer(crl_.get())); }
TimePoint Crl::ThisUpdate() const { return internal::ToTimePoint(X509_CRL_get0_lastUpdate(crl_.get())); }
TimePoint Crl::NextUpdate() const { return internal::ToTimePoint(X509_CRL_get0_nextUpdate(crl_.get())); }

std::optional<uint64_t> Crl::Number() const {
  crypto::Asn1IntegerPtr n(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl_.get(), NID_crl_number, nullptr, nullptr)));
  if (!n) return std::nullopt;
  uint64_t v = 0;
  if (ASN1_INTEGER_get_uint64(&v, n.get()) != 1) return std::nullopt;
  return v;
}

std::vector<RevokedCertificate> Crl::Revoked() const {
  std::vector<RevokedCertificate> out;
  STACK_OF(X509_REVOKED)* revs = X509_CRL_get_REVOKED(crl_.get());
  for (int i = 0; i < sk_X509_REVOKED_num(revs); ++i) {
    X509_REVOKED* r = sk_X509_REVOKED_value(revs, i);
    RevokedCertificate rc;
    rc.serial = internal::IntegerBytes(X509_REVOKED_get0_serialNumber(r));
    rc.revocation_date = internal::ToTimePoint(X509_REVOKED_get0_revocationDate(r));
    crypto::Asn1EnumeratedPtr reason(static_cast<ASN1_ENUMERATED*>(
        X509_REVOKED_get_ext_d2i(r, NID_crl_reason, nullptr, nullptr)));
    if (reason) rc.reason = static_cast<RevocationReason>(ASN1_ENUMERATED_get(reason.get()));
    out.push_back(std::move(rc));
  }
  return out;
}

Status Crl::VerifySignature(const crypto::PublicKey& issuer_key) const {
  const ASN1_BIT_STRING* sig = nullptr;
  const X509_ALGOR* alg = nullptr;
  X509_CRL_get0_signature(crl_.get(), &sig, &alg);
  auto digest = TRY(DigestOfSignature(alg));
  unsigned char* tbs = nullptr;
  int n = i2d_re_X509_CRL_tbs(crl_.get(), &tbs);
  if (n <= 0) return Fail(OpenSslError("cannot encode CRL"));
  Bytes tbs_bytes(tbs, tbs + n);
  OPENSSL_free(tbs);
  auto st = crypto::Verify(issuer_key, tbs_bytes,
                           ByteView(ASN1_STRING_get0_data(sig), static_cast<size_t>(ASN1_STRING_length(sig))),
                           digest);
  if (!st) return Fail(ErrorCode::kCrypto, "CRL signature does not verify");
  return Ok();
}

Result<Crl> CreateCrl(const Certificate& issuer, const crypto::PrivateKey& issuer_key,
                      const std::vector<RevokedCertificate>& revoked, TimePoint this_update,
                      TimePoint next_update, uint64_t crl_number) {
  if (!issuer.IsCa() || !(issuer.KeyUsageBits().value_or(0) & kCrlSign))
    return Fail(ErrorCode::kPolicy, "the issuer may not sign CRLs");
  if (!issuer.PublicKey().Equals(issuer_key))
    return Fail(ErrorCode::kInvalidArgument, "the key does not match the CRL issuer certificate");
  if (next_update <= this_update) return Fail(ErrorCode::kInvalidArgument, "nextUpdate must follow thisUpdate");
  crypto::X509CrlPtr crl(X509_CRL_new());
  if (!crl || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer.raw())) != 1)
    return Fail(OpenSslError("cannot start CRL"));
  crypto::Asn1TimePtr t(ASN1_TIME_set(nullptr, static_cast<time_t>(ToUnixSeconds(this_update))));
  crypto::Asn1TimePtr nt(ASN1_TIME_set(nullptr, static_cast<time_t>(ToUnixSeconds(next_update))));
  if (!t || !nt || X509_CRL_set1_lastUpdate(crl.get(), t.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), nt.get()) != 1)
    return Fail(OpenSslError("cannot set CRL times"));
  for (const auto& r : revoked) {
    crypto::X509RevokedPtr entry(X509_REVOKED_new());
    crypto::BignumPtr bn(BN_bin2bn(r.serial.data(), static_cast<int>(r.serial.size()), nullptr));
    crypto::Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    crypto::Asn1TimePtr when(ASN1_TIME_set(nullptr, static_cast<time_t>(ToUnixSeconds(r.revocation_date))));
    if (!entry || !serial || !when || X509_REVOKED_set_serialNumber(entry.get(), serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(entry.get(), when.get()) != 1)
      return Fail(OpenSslError("cannot add CRL entry"));
    // RFC 5280 §5.3.1: "the reason code CRL entry extension SHOULD be absent instead of using
    // the unspecified (0) reasonCode value."
    if (r.reason != RevocationReason::kUnspecified) {
      crypto::Asn1EnumeratedPtr reason(ASN1_ENUMERATED_new());
      ASN1_ENUMERATED_set(reason.get(), static_cast<long>(r.reason));
      if (X509_REVOKED_add1_ext_i2d(entry.get(), NID_crl_reason, reason.get(), 0, 0) != 1)
        return Fail(OpenSslError("cannot add reason code"));
    }
    if (X509_CRL_add0_revoked(crl.get(), entry.get()) != 1) return Fail(OpenSslError("cannot add CRL entry"));
    entry.release();
  }
  X509_CRL_sort(crl.get());
  Bytes akid = issuer.SubjectKeyId();
  if (akid.empty()) akid = internal::KeyIdentifier(issuer_key);
  auto akid_ext = internal::MakeAuthorityKeyId(akid);
  crypto::Asn1IntegerPtr number(ASN1_INTEGER_new());
  ASN1_INTEGER_set_uint64(number.get(), crl_number);
  if (X509_CRL_add_ext(crl.get(), akid_ext.get(), -1) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1)
    return Fail(OpenSslError("cannot add CRL extensions"));
  auto ctx = TRY(crypto::NewSignContext(issuer_key));
  if (X509_CRL_sign_ctx(crl.get(), ctx.md_ctx.get()) <= 0) return Fail(OpenSslError("cannot sign CRL"));
  return Crl(std::shared_ptr<X509_CRL>(crl.release(), X509_CRL_free));
}

}  // namespace autoseal::x509
