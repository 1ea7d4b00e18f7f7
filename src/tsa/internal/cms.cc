#include "tsa/internal/cms.h"

#include "tsa/internal/der.h"

namespace autoseal::tsa::cms {

Result<CertIds> ParseCertIds(ByteView certificate_der) {
  der::Element cert = TRY(der::ParseSingle(certificate_der, der::kSequence, "Certificate"));
  der::Reader c(cert.contents);
  der::Element tbs = TRY(c.Expect(der::kSequence, "TBSCertificate"));
  der::Reader t(tbs.contents);
  TRY(t.Optional(der::ContextConstructed(0)));  // version
  der::Element serial = TRY(t.Expect(der::kInteger, "serialNumber"));
  TRY(t.Expect(der::kSequence, "signature"));
  der::Element issuer = TRY(t.Expect(der::kSequence, "issuer"));
  CertIds ids;
  ids.issuer.assign(issuer.encoding.begin(), issuer.encoding.end());
  ids.serial.assign(serial.contents.begin(), serial.contents.end());
  return ids;
}

}  // namespace autoseal::tsa::cms
