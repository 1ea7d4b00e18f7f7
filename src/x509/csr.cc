#include "x509/csr.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crypto/ossl.h"
#include "crypto/sign_context.h"
#include "x509/internal/openssl_util.h"
#include "x509/internal/extensions.h"
#include "x509/names.h"

namespace autoseal::x509 {

using crypto::OpenSslError;

Result<CertificateRequest> CertificateRequest::Adopt(X509_REQ* req) {
  std::shared_ptr<X509_REQ> owned(req, X509_REQ_free);
  if (X509_REQ_get0_pubkey(req) == nullptr)
    return Fail(OpenSslError("CSR has an unusable public key", ErrorCode::kParse));
  internal::AttachSm2IdIfNeeded(req);
  return CertificateRequest(std::move(owned));
}

Result<CertificateRequest> CertificateRequest::FromDer(ByteView der) {
  if (der.empty()) return Fail(ErrorCode::kParse, "empty CSR");
  const unsigned char* p = der.data();
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  if (req == nullptr) return Fail(OpenSslError("cannot parse CSR DER", ErrorCode::kParse));
  if (p != der.data() + der.size()) {
    X509_REQ_free(req);
    return Fail(ErrorCode::kParse, "trailing data after CSR DER");
  }
  return Adopt(req);
}

Result<CertificateRequest> CertificateRequest::FromPem(std::string_view pem) {
  auto bio = crypto::MemoryBio(pem);
  X509_REQ* req = PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr);
  if (req == nullptr) return Fail(OpenSslError("cannot parse CSR PEM", ErrorCode::kParse));
  return Adopt(req);
}

Result<CertificateRequest> CertificateRequest::Parse(std::string_view input) {
  if (input.find("-----BEGIN") != std::string_view::npos) return FromPem(input);
  return FromDer(AsBytes(input));
}

Bytes CertificateRequest::Der() const {
  unsigned char* out = nullptr;
  int n = i2d_X509_REQ(req_.get(), &out);
  CHECK(n > 0);
  Bytes der(out, out + n);
  OPENSSL_free(out);
  return der;
}

std::string CertificateRequest::Pem() const {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  CHECK(PEM_write_bio_X509_REQ(bio.get(), req_.get()) == 1);
  return crypto::BioContents(bio.get());
}

std::string CertificateRequest::Subject() const {
  return internal::NameToString(X509_REQ_get_subject_name(req_.get()));
}
std::string CertificateRequest::CommonName() const {
  return internal::FirstCommonName(X509_REQ_get_subject_name(req_.get()));
}

crypto::PublicKey CertificateRequest::PublicKey() const {
  auto key = crypto::PublicKey::FromEvp(X509_REQ_get0_pubkey(req_.get()));
  CHECK(key.has_value());
  return *key;
}

Bytes CertificateRequest::SubjectPublicKeyInfoDer() const {
  unsigned char* out = nullptr;
  int n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req_.get()), &out);
  CHECK(n > 0);
  Bytes der(out, out + n);
  OPENSSL_free(out);
  return der;
}

std::string CertificateRequest::SignatureAlgorithm() const {
  return internal::NidName(X509_REQ_get_signature_nid(req_.get()));
}

namespace {
std::vector<std::string> RequestedNames(X509_REQ* req, int type) {
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  std::vector<std::string> out;
  if (!exts) return out;
  int idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
  if (idx >= 0) {
    crypto::GeneralNamesPtr names(
        static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, idx))));
    out = internal::GeneralNameEntries(names.get(), type);
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return out;
}
}  // namespace

std::vector<std::string> CertificateRequest::DnsNames() const { return RequestedNames(req_.get(), GEN_DNS); }
std::vector<std::string> CertificateRequest::IpAddresses() const { return RequestedNames(req_.get(), GEN_IPADD); }
std::vector<std::string> CertificateRequest::EmailAddresses() const { return RequestedNames(req_.get(), GEN_EMAIL); }

Status CertificateRequest::VerifySignature() const {
  EVP_PKEY* pkey = X509_REQ_get0_pubkey(req_.get());
  if (X509_REQ_verify(req_.get(), pkey) != 1) {
    crypto::ClearOpenSslErrors();
    return Fail(ErrorCode::kCrypto, "CSR signature does not verify (proof of possession failed)");
  }
  return Ok();
}

Result<CertificateRequest> CreateCertificateRequest(const crypto::PrivateKey& key,
                                                    const CsrOptions& options) {
  for (const auto& n : options.dns_names) TRY(ValidateDnsName(n, true));
  for (const auto& e : options.email_addresses) TRY(ValidateEmailAddress(e));
  crypto::X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1)
    return Fail(OpenSslError("X509_REQ_new"));
  if (!options.common_name.empty()) {
    X509_NAME* name = X509_REQ_get_subject_name(req.get());
    if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(options.common_name.c_str()),
                                   -1, -1, 0) != 1)
      return Fail(OpenSslError("invalid common name", ErrorCode::kInvalidArgument));
  }
  if (X509_REQ_set_pubkey(req.get(), key.evp()) != 1) return Fail(OpenSslError("X509_REQ_set_pubkey"));
  if (!options.dns_names.empty() || !options.ip_addresses.empty() || !options.email_addresses.empty()) {
    auto san = TRY(internal::MakeSubjectAltName(options.dns_names, options.ip_addresses,
                                                options.email_addresses, false));
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, san.get());
    int ok = X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_free(exts);
    if (ok != 1) return Fail(OpenSslError("cannot add subjectAltName to CSR"));
  }
  auto ctx = TRY(crypto::NewSignContext(key));
  if (X509_REQ_sign_ctx(req.get(), ctx.md_ctx.get()) <= 0) return Fail(OpenSslError("cannot sign CSR"));
  // Re-parse so the result is exactly what a receiver sees (and carries the SM2 ID).
  unsigned char* der = nullptr;
  int n = i2d_X509_REQ(req.get(), &der);
  if (n <= 0) return Fail(OpenSslError("cannot encode CSR"));
  Bytes bytes(der, der + n);
  OPENSSL_free(der);
  return CertificateRequest::FromDer(bytes);
}

}  // namespace autoseal::x509
