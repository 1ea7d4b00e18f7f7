#pragma once

// CMS (RFC 5652) pieces shared by the responder and the verifier. Private to tsa/.

#include "core/bytes.h"
#include "core/error.h"

namespace autoseal::tsa::cms {

// The issuer Name (whole DER) and serialNumber (INTEGER contents) of a DER certificate: what an
// IssuerAndSerialNumber (RFC 5652 §10.2.4) and an ESS IssuerSerial (RFC 5035) name it by.
struct CertIds {
  Bytes issuer;
  Bytes serial;
};
Result<CertIds> ParseCertIds(ByteView certificate_der);

}  // namespace autoseal::tsa::cms
