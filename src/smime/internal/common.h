#pragma once

// Helpers shared by the CMS signing, verifying, encrypting and decrypting code. Private to smime/.

#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/der.h"
#include "core/error.h"
#include "crypto/digest.h"
#include "smime/cms.h"
#include "smime/internal/ber.h"

namespace autoseal::smime::internal {

// The digest an AlgorithmIdentifier OID names, or nullopt.
std::optional<crypto::DigestAlgorithm> DigestFromOid(ByteView oid);
ByteView OidForDigest(crypto::DigestAlgorithm d);
// AlgorithmIdentifier { digest OID } with absent parameters (RFC 5754 §2; GM/T 0010 for SM3).
Bytes DigestAlgorithmIdentifier(crypto::DigestAlgorithm d);

// The content cipher an OID names, and back.
std::optional<ContentCipher> CipherFromOid(ByteView oid);
ByteView OidForCipher(ContentCipher c);
size_t CipherKeyLength(ContentCipher c);

// What identifies a certificate in a SignerIdentifier / RecipientIdentifier (RFC 5652 §10.2.4,
// §5.3): the issuer Name (whole DER), the serialNumber INTEGER contents, and the
// subjectKeyIdentifier (empty if absent).
struct CertIds {
  Bytes issuer;
  Bytes serial;
  Bytes subject_key_id;
};
Result<CertIds> ParseCertIds(const x509::Certificate& cert);
// IssuerAndSerialNumber DER for a certificate.
Bytes IssuerAndSerial(const CertIds& ids);

// The outer ContentInfo (RFC 5652 §3): its contentType OID contents and the [0] EXPLICIT content.
struct ContentInfo {
  ByteView type;
  ber::Element content;
  int depth = 0;  // nesting level of content
};
Result<ContentInfo> ParseContentInfo(ByteView input);
std::optional<CmsType> TypeFromOid(ByteView oid);

// An attribute (RFC 5652 §5.3) as DER: SEQUENCE { type, SET { value } }.
Bytes Attribute(ByteView type, ByteView value_tlv);

}  // namespace autoseal::smime::internal
