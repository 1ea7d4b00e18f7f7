#pragma once

// A certificate split into the DER pieces the CT log needs, without decoding any key. Views point
// into the buffer given to Parse, which must outlive the CertView. Private to ct/.

#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/der.h"
#include "crypto/digest.h"

namespace autoseal::ct::internal {

// DER contents of the OIDs the log looks at.
inline constexpr uint8_t kOidCtPoison[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03};
inline constexpr uint8_t kOidCtSctList[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02};
inline constexpr uint8_t kOidCtPrecertSigning[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x04};
inline constexpr uint8_t kOidBasicConstraints[] = {0x55, 0x1d, 0x13};
inline constexpr uint8_t kOidExtKeyUsage[] = {0x55, 0x1d, 0x25};
inline constexpr uint8_t kOidAuthorityKeyId[] = {0x55, 0x1d, 0x23};

bool OidEquals(ByteView a, ByteView b);

struct Extension {
  ByteView oid;  // contents
  bool critical = false;
  ByteView value;  // contents of the extnValue OCTET STRING
  ByteView full;
};

struct CertView {
  ByteView der;
  ByteView tbs;            // whole TBSCertificate element
  ByteView signature_oid;  // outer signatureAlgorithm OID contents
  ByteView signature;      // BIT STRING contents without the unused-bits octet
  std::vector<der::Element> tbs_fields;  // TBSCertificate's elements in order
  size_t issuer_field = 0;      // index into tbs_fields
  std::optional<size_t> extensions_field;
  ByteView issuer, subject, spki;  // whole elements
  TimePoint not_before{}, not_after{};
  std::vector<Extension> extensions;

  const Extension* Find(ByteView oid) const;
  bool IsCa() const;  // basicConstraints cA TRUE
  bool HasPoison() const { return Find(kOidCtPoison) != nullptr; }
  bool HasEku(ByteView oid) const;
};

// Splits der into a CertView; on failure returns false and says why in *error.
[[nodiscard]] bool ParseCertView(ByteView der, CertView* out, std::string* error);

// The digest of a signature algorithm OID (ECDSA/RSA PKCS#1 with SHA-2, SM2-with-SM3, Ed25519 →
// kNone), or nullopt for algorithms the log does not verify (RSA-PSS, SHA-1, unknown).
std::optional<crypto::DigestAlgorithm> SignatureDigest(ByteView signature_oid);

// RFC 6962 §3.2: the precertificate's TBSCertificate with the poison extension removed; with a
// Precertificate Signing Certificate, the issuer replaced by final_issuer_name and the
// authorityKeyIdentifier (if any) by final_aki (the PSC's own AKI extension element, if any).
// With drop_oid = kOidCtSctList, the same bytes from a final certificate (RFC 6962 §3.3).
Bytes PrecertTbs(const CertView& precert, std::optional<ByteView> final_issuer_name,
                 std::optional<ByteView> final_aki, ByteView drop_oid = kOidCtPoison);

}  // namespace autoseal::ct::internal
