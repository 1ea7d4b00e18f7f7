// Names, SMIMECapabilities, type detection and PEM handling (smime/cms.h).

#include <algorithm>

#include "core/der.h"
#include "smime/cms.h"
#include "smime/internal/ber.h"
#include "smime/internal/common.h"
#include "smime/internal/oids.h"

namespace autoseal::smime {

std::string_view ContentCipherName(ContentCipher cipher) {
  switch (cipher) {
    case ContentCipher::kAes128Cbc: return "AES-128-CBC";
    case ContentCipher::kAes192Cbc: return "AES-192-CBC";
    case ContentCipher::kAes256Cbc: return "AES-256-CBC";
    case ContentCipher::kAes128Gcm: return "AES-128-GCM";
    case ContentCipher::kAes256Gcm: return "AES-256-GCM";
    case ContentCipher::kSm4Cbc: return "SM4-CBC";
  }
  return "?";
}

bool IsAuthenticated(ContentCipher cipher) {
  return cipher == ContentCipher::kAes128Gcm || cipher == ContentCipher::kAes256Gcm;
}

std::string_view KeyEncryptionName(KeyEncryption alg) {
  switch (alg) {
    case KeyEncryption::kRsaPkcs1v15: return "RSA PKCS#1 v1.5";
    case KeyEncryption::kRsaOaep: return "RSA-OAEP (SHA-256)";
    case KeyEncryption::kEcdhSha256Kdf: return "ECDH";  // the KDF: Decrypted::kdf_digest
    case KeyEncryption::kSm2: return "SM2";
  }
  return "?";
}

bool Capabilities::Supports(ContentCipher c) const {
  return std::find(ciphers.begin(), ciphers.end(), c) != ciphers.end();
}

Result<Capabilities> ParseSmimeCapabilities(ByteView encoded) {
  ber::Element seq = TRY(ber::ParseFirst(encoded, "SMIMECapabilities"));
  if (seq.tag != der::kSequence) return Fail(ErrorCode::kParse, "SMIMECapabilities: not a SEQUENCE");
  Capabilities caps;
  ber::Reader r(seq.contents, 1);
  while (!r.empty()) {
    ber::Element cap = TRY(r.Expect(der::kSequence, "SMIMECapability"));
    ber::Reader cr(cap.contents, 2);
    ber::Element id = TRY(cr.Expect(der::kOid, "SMIMECapability.capabilityID"));
    if (auto c = internal::CipherFromOid(id.contents)) {
      if (!caps.Supports(*c)) caps.ciphers.push_back(*c);
    } else if (oid::Equal(id.contents, oid::kRsaesOaep)) {
      caps.rsa_oaep = true;
    } else if (oid::Equal(id.contents, oid::kEcdhSha256Kdf)) {
      caps.ecdh_sha256 = true;
    } else {
      std::string dotted = der::OidToString(id.contents);
      if (dotted.empty()) return Fail(ErrorCode::kParse, "SMIMECapability: malformed OID");
      caps.other_oids.push_back(std::move(dotted));
    }
  }
  return caps;
}

Bytes OurSmimeCapabilities(bool sm2) {
  auto cap = [](ByteView o, ByteView params = {}) {
    return der::Wrap(der::kSequence, {der::Tlv(der::kOid, o), params});
  };
  static constexpr uint8_t kNull[] = {der::kNull, 0};
  std::vector<Bytes> caps;
  if (sm2) {
    caps.push_back(cap(oid::kSm4Cbc));
    caps.push_back(cap(oid::kSm2Encrypt));
  }
  // RFC 8551 §2.7.1: ordered by preference. We decrypt all of these.
  caps.push_back(cap(oid::kAes256Gcm));
  caps.push_back(cap(oid::kAes128Gcm));
  caps.push_back(cap(oid::kAes256Cbc));
  caps.push_back(cap(oid::kAes128Cbc));
  // RFC 4055 §4.1 / RFC 8551: RSAES-OAEP with the parameters we use (SHA-256, MGF1-SHA-256).
  Bytes sha256 = internal::DigestAlgorithmIdentifier(crypto::DigestAlgorithm::kSha256);
  Bytes oaep_params = der::Wrap(
      der::kSequence,
      {der::Tlv(der::ContextConstructed(0), sha256),
       der::Tlv(der::ContextConstructed(1),
                der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::kMgf1), sha256}))});
  caps.push_back(cap(oid::kRsaesOaep, oaep_params));
  caps.push_back(cap(oid::kRsaEncryption, ByteView(kNull, 2)));
  // RFC 5753 §7.2: the parameters of a key agreement capability name the key wrap algorithm.
  caps.push_back(cap(oid::kEcdhSha256Kdf,
                     der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::kAes256Wrap)})));
  Bytes body;
  for (const Bytes& c : caps) body.insert(body.end(), c.begin(), c.end());
  return der::Tlv(der::kSequence, body);
}

std::string_view MicAlg(crypto::DigestAlgorithm digest) {
  switch (digest) {
    case crypto::DigestAlgorithm::kSha1: return "sha-1";
    case crypto::DigestAlgorithm::kSha384: return "sha-384";
    case crypto::DigestAlgorithm::kSha512: return "sha-512";
    case crypto::DigestAlgorithm::kSm3: return "sm3";
    default: return "sha-256";
  }
}

std::string_view SmimeType(CmsType type) {
  switch (type) {
    case CmsType::kSignedData:
    case CmsType::kSm2SignedData: return "signed-data";
    case CmsType::kEnvelopedData:
    case CmsType::kSm2EnvelopedData: return "enveloped-data";
    case CmsType::kAuthEnvelopedData: return "authEnveloped-data";
  }
  return "";
}

Result<Bytes> Unarmor(ByteView input) {
  std::string_view text = AsString(input);
  size_t start = 0;
  while (start < text.size() && (text[start] == ' ' || text[start] == '\r' || text[start] == '\n' ||
                                 text[start] == '\t'))
    ++start;
  if (text.substr(start, 11) != "-----BEGIN ") return Bytes(input.begin(), input.end());
  size_t body = text.find('\n', start);
  if (body == std::string_view::npos) return Fail(ErrorCode::kParse, "PEM: no body");
  size_t end = text.find("-----END ", body);
  if (end == std::string_view::npos) return Fail(ErrorCode::kParse, "PEM: no END line (truncated?)");
  return TRY_CONTEXT(Base64Decode(text.substr(body + 1, end - body - 1)), "PEM");
}

Result<CmsType> DetectType(ByteView cms) {
  Bytes decoded = TRY(Unarmor(cms));
  internal::ContentInfo ci = TRY(internal::ParseContentInfo(decoded));
  auto type = internal::TypeFromOid(ci.type);
  if (!type)
    return Fail(ErrorCode::kUnsupported,
                "CMS content type " + der::OidToString(ci.type) + " is not supported");
  return *type;
}

}  // namespace autoseal::smime
