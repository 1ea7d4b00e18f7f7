#pragma once

// Private to x509/: builds X.509v3 extensions from their structures (no config-string parsing,
// which is slow and hides errors).

#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "crypto/key.h"
#include "crypto/ossl.h"

namespace autoseal::x509::internal {

Result<crypto::X509ExtensionPtr> MakeSubjectAltName(const std::vector<std::string>& dns,
                                                    const std::vector<std::string>& ips,
                                                    const std::vector<std::string>& emails,
                                                    bool critical);
crypto::X509ExtensionPtr MakeKeyUsage(uint32_t bits, bool critical);
crypto::X509ExtensionPtr MakeExtKeyUsage(const std::vector<int>& nids, bool critical);
crypto::X509ExtensionPtr MakeBasicConstraints(bool ca, int path_length, bool critical);
crypto::X509ExtensionPtr MakeSubjectKeyId(ByteView key_id);
crypto::X509ExtensionPtr MakeAuthorityKeyId(ByteView key_id);
crypto::X509ExtensionPtr MakeCertificatePolicies(const std::vector<std::string>& oids);
crypto::X509ExtensionPtr MakeCrlDistributionPoints(const std::vector<std::string>& urls);

// Sets cert's subjectPublicKeyInfo from its DER without decoding the key (OpenSSL 3.0's
// X509_set_pubkey round-trips through the provider encoder and decoder, ~250 µs).
Status SetSubjectPublicKeyInfo(X509* cert, ByteView spki_der);

// RFC 5280 §4.2.1.2 method (1): SHA-1 of the BIT STRING subjectPublicKey.
Bytes KeyIdentifier(const crypto::PublicKey& key);

}  // namespace autoseal::x509::internal
