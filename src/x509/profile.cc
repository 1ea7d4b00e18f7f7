#include "x509/profile.h"

#include "x509/certificate.h"

namespace autoseal::x509 {

using crypto::KeyFamily;

std::string_view ProfileName(Profile profile) {
  switch (profile) {
    case Profile::kRootCa: return "root-ca";
    case Profile::kIntermediateCa: return "intermediate-ca";
    case Profile::kTlsServer: return "tls-server";
    case Profile::kSmime: return "smime";
    case Profile::kTimeStamping: return "tsa";
    case Profile::kTlcpEncryption: return "tlcp-enc";
  }
  return "unknown";
}

Result<Profile> ParseProfile(std::string_view name) {
  for (Profile p : {Profile::kRootCa, Profile::kIntermediateCa, Profile::kTlsServer, Profile::kSmime,
                    Profile::kTimeStamping, Profile::kTlcpEncryption}) {
    if (ProfileName(p) == name) return p;
  }
  return Fail(ErrorCode::kInvalidArgument,
              "unknown profile '" + std::string(name) + "' (expected tls-server, smime, tsa or tlcp-enc)");
}

ProfileLimits LimitsFor(Profile profile) {
  switch (profile) {
    case Profile::kRootCa: return {25 * 365, 25 * 365 + 7};
    case Profile::kIntermediateCa: return {10 * 365, 15 * 365};
    case Profile::kTlsServer: return {90, 398};                 // TLS BR §6.3.2
    case Profile::kSmime: return {365, 825};                    // S/MIME BR §6.3.2 (strict)
    case Profile::kTimeStamping: return {3 * 365, 4110};        // CSBR §6.3.2: ≤ 135 months
    case Profile::kTlcpEncryption: return {90, 398};            // paired with a TLS certificate
  }
  return {90, 398};
}

namespace {

std::string_view TypeDescription(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::kRsa2048: return "RSA 2048";
    case crypto::KeyType::kRsa3072: return "RSA 3072";
    case crypto::KeyType::kRsa4096: return "RSA 4096";
    case crypto::KeyType::kEcdsaP256: return "ECDSA P-256";
    case crypto::KeyType::kEcdsaP384: return "ECDSA P-384";
    case crypto::KeyType::kEd25519: return "Ed25519";
    case crypto::KeyType::kSm2: return "SM2";
  }
  return "unknown";
}

}  // namespace

Status CheckKeyForProfile(const crypto::PublicKey& key, Profile profile) {
  auto type = key.Type();
  if (!type) return Fail(ErrorCode::kPolicy, "key not allowed: " + type.error().message());
  return CheckKeyTypeForProfile(*type, profile);
}

Status CheckKeyTypeForProfile(crypto::KeyType type, Profile profile) {
  KeyFamily family = crypto::FamilyOf(type);
  auto refuse = [&] {
    return Fail(ErrorCode::kPolicy, std::string(TypeDescription(type)) +
                                        " keys are not allowed for the " +
                                        std::string(ProfileName(profile)) + " profile");
  };
  switch (profile) {
    case Profile::kTlcpEncryption:
      if (family != KeyFamily::kSm2) return refuse();
      break;
    case Profile::kSmime:
      break;  // RSA, ECDSA, Ed25519 (S/MIME BR §6.1.5) and SM2 between autoseal users
    default:
      if (family == KeyFamily::kEd25519) return refuse();
  }
  return Ok();
}

uint32_t KeyUsageFor(Profile profile, const crypto::PublicKey& key) {
  return KeyUsageFor(profile, key.Family());
}

uint32_t KeyUsageFor(Profile profile, KeyFamily f) {
  switch (profile) {
    case Profile::kRootCa:
    case Profile::kIntermediateCa: return kKeyCertSign | kCrlSign | kDigitalSignature;
    case Profile::kTlsServer:
      return f == KeyFamily::kRsa ? (kDigitalSignature | kKeyEncipherment) : kDigitalSignature;
    case Profile::kSmime:
      if (f == KeyFamily::kEd25519) return kDigitalSignature;
      if (f == KeyFamily::kEcdsa) return kDigitalSignature | kKeyAgreement;
      return kDigitalSignature | kKeyEncipherment;
    case Profile::kTimeStamping: return kDigitalSignature;
    case Profile::kTlcpEncryption: return kKeyEncipherment | kDataEncipherment | kKeyAgreement;
  }
  return kDigitalSignature;
}

}  // namespace autoseal::x509
