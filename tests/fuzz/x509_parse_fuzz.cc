// Fuzz target: the certificate, CSR and CRL parsers (DER and PEM), which read untrusted input
// from ACME clients, CT submissions, S/MIME messages and the command line. Invariants: parsing
// never crashes; what parses re-encodes to the same DER (OpenSSL keeps the received encoding)
// and re-parses; every accessor is safe on whatever parsed.

#include <cstdint>
#include <cstdlib>

#include "core/bytes.h"
#include "x509/certificate.h"
#include "x509/crl.h"
#include "x509/csr.h"
#include "x509/verify.h"

using namespace autoseal;

namespace {

void Require(bool cond) {
  if (!cond) std::abort();
}

void Exercise(const x509::Certificate& c) {
  (void)c.Subject(), (void)c.Issuer(), (void)c.CommonName(), (void)c.SerialHex();
  (void)c.NotBefore(), (void)c.NotAfter(), (void)c.SignatureAlgorithm();
  (void)c.DnsNames(), (void)c.IpAddresses(), (void)c.EmailAddresses();
  (void)c.KeyUsageBits(), (void)c.ExtendedKeyUsages(), (void)c.IsCa(), (void)c.PathLength();
  (void)c.PolicyOids(), (void)c.CrlDistributionPoints(), (void)c.SubjectKeyId(), (void)c.AuthorityKeyId();
  (void)c.PublicKey().Description(), (void)c.IsSelfIssued(), (void)x509::DetectProfile(c);
  (void)c.VerifySignature(c.PublicKey());
  std::vector<std::string> problems;
  x509::CheckProfile(c, x509::Profile::kTlsServer, &problems);
  (void)x509::VerifyChain({c}, {c}, {});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView in(data, size);
  if (auto cert = x509::Certificate::FromDer(in)) {
    Bytes der = cert->Der();
    Require(der == Bytes(in.begin(), in.end()));
    Require(x509::Certificate::FromDer(der).has_value());
    Require(x509::Certificate::FromPem(cert->Pem()).has_value());
    Exercise(*cert);
  }
  if (auto csr = x509::CertificateRequest::FromDer(in)) {
    Require(x509::CertificateRequest::FromDer(csr->Der()).has_value());
    (void)csr->Subject(), (void)csr->DnsNames(), (void)csr->IpAddresses(), (void)csr->EmailAddresses();
    (void)csr->PublicKey().Description(), (void)csr->VerifySignature(), (void)csr->SignatureAlgorithm();
  }
  if (auto crl = x509::Crl::FromDer(in)) {
    Require(x509::Crl::FromDer(crl->Der()).has_value());
    (void)crl->Issuer(), (void)crl->Number(), (void)crl->Revoked(), (void)crl->ThisUpdate();
  }
  std::string_view text = AsString(in);
  if (auto certs = x509::Certificate::ParseAll(text)) {
    for (const auto& c : *certs) Exercise(c);
  }
  (void)x509::CertificateRequest::Parse(text);
  return 0;
}
