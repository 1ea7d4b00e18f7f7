#pragma once

#include <string_view>

#include "core/error.h"
#include "crypto/key.h"

namespace autoseal::x509 {

// Issuance profiles: what a certificate is for, which fixes its extensions and limits.
enum class Profile {
  kRootCa,
  kIntermediateCa,
  kTlsServer,       // CA/B Forum TLS BR subscriber: serverAuth, SAN dNSName/iPAddress
  kSmime,           // CA/B Forum S/MIME BR mailbox-validated "strict": emailProtection only
  kTimeStamping,    // RFC 3161 §2.3: critical EKU with id-kp-timeStamping only
  kTlcpEncryption,  // GB/T 38636 TLCP encryption certificate: SM2, key/data encipherment
};

// "root-ca", "intermediate-ca", "tls-server", "smime", "tsa", "tlcp-enc".
std::string_view ProfileName(Profile profile);
// Accepts the names above; kInvalidArgument listing them otherwise.
Result<Profile> ParseProfile(std::string_view name);

struct ProfileLimits {
  int default_days;
  int max_days;
};
ProfileLimits LimitsFor(Profile profile);

// The policy OIDs certificates of this profile assert (CA/B Forum reserved OIDs).
inline constexpr std::string_view kPolicyDomainValidated = "2.23.140.1.2.1";
inline constexpr std::string_view kPolicyMailboxValidatedStrict = "2.23.140.1.5.1.3";

// Checks that a subject key of this type may receive a certificate of this profile: RSA 2048,
// 3072, 4096, ECDSA P-256/P-384 and SM2 broadly; Ed25519 only for S/MIME; TLCP encryption only
// SM2. kPolicy naming the key and profile otherwise.
Status CheckKeyForProfile(const crypto::PublicKey& key, Profile profile);
// The same check for a key whose type is already known.
Status CheckKeyTypeForProfile(crypto::KeyType type, Profile profile);

// The keyUsage bits a leaf of this profile gets for this key (S/MIME BR §7.1.2.3: RSA and SM2
// keyEncipherment, EC keyAgreement, EdDSA signature only).
uint32_t KeyUsageFor(Profile profile, const crypto::PublicKey& key);
uint32_t KeyUsageFor(Profile profile, crypto::KeyFamily family);

}  // namespace autoseal::x509
