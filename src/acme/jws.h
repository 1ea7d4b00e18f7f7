#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "acme/problem.h"
#include "core/bytes.h"
#include "crypto/key.h"
#include "crypto/prepared.h"

namespace autoseal::acme {

// JWS algorithms (RFC 7518 §3.1) ACME accounts may use (RFC 8555 §6.2); HS256 only inside an
// External Account Binding (§7.3.4).
enum class JwsAlgorithm { kRs256, kEs256, kEs384, kEs512, kEdDsa, kHs256 };

std::string_view JwsAlgorithmName(JwsAlgorithm alg);
// The algorithm a key signs with: RSA → RS256, P-256 → ES256, P-384 → ES384, P-521 → ES512,
// Ed25519 → EdDSA. kUnsupported for SM2 and others (no JOSE name exists).
Result<JwsAlgorithm> AlgorithmForKey(const crypto::PublicKey& key);

// The JWK of a public key with only the required members in lexicographic order and no
// whitespace (RFC 7638 §3), which is also its thumbprint input.
Result<std::string> JwkJson(const crypto::PublicKey& key);
// base64url(SHA-256(JwkJson(key))) (RFC 7638), used in key authorizations (RFC 8555 §8.1).
Result<std::string> JwkThumbprint(const crypto::PublicKey& key);
// Parses a JWK (RSA, EC P-256/384/521, OKP Ed25519). badPublicKey-worthy errors are kInvalidArgument.
Result<crypto::PublicKey> ParseJwk(std::string_view json);

// A parsed flattened JWS (RFC 7515 §7.2.2) as ACME requires it (RFC 8555 §6.2).
struct JwsMessage {
  std::string protected_b64, payload_b64;  // as received: the signing input is "<p>.<q>"
  Bytes signature;
  JwsAlgorithm alg = JwsAlgorithm::kEs256;
  std::string nonce, url, kid;
  std::optional<crypto::PublicKey> jwk;
  std::string payload;       // decoded payload ("" for POST-as-GET)
  bool post_as_get = false;  // payload_b64 is the empty string (RFC 8555 §6.3)
};

// Parses and checks the structure: JSON object with protected, payload, signature only; the
// protected header has alg (not "none", not a MAC), nonce, url, and exactly one of jwk and kid;
// base64url everywhere. Problems: malformed, badSignatureAlgorithm, badPublicKey, badNonce
// (missing nonce). Does not check the signature, the nonce's validity or the url.
AcmeResult<JwsMessage> ParseJws(std::string_view body);

// Verifies msg's signature with key, the algorithm fitting the key. nullopt if valid, else a
// malformed ("JWS signature does not verify") or badSignatureAlgorithm problem.
// With prepared (a verifier made for key with its default digest), skips OpenSSL's per-call
// context set-up, which costs about as much as the verification itself; the server keeps one
// per account.
std::optional<Problem> VerifyJws(const JwsMessage& msg, const crypto::PublicKey& key,
                                 const crypto::PreparedVerifier* prepared = nullptr);

// Produces a flattened JWS signed by key (client side). kid empty: the key's JWK goes in the
// header (newAccount, revocation by certificate key). payload "" → POST-as-GET; nonce "" is
// omitted (keyChange's inner JWS, RFC 8555 §7.3.5).
Result<std::string> SignJws(const crypto::PrivateKey& key, std::string_view url,
                            std::string_view nonce, std::string_view kid, std::string_view payload);

// The externalAccountBinding value for newAccount (RFC 8555 §7.3.4): an HS256 JWS over the
// account key's JWK, with kid and url in its protected header.
Result<std::string> SignExternalAccountBinding(ByteView mac_key, std::string_view kid,
                                               std::string_view url,
                                               const crypto::PublicKey& account_key);

// Checks an externalAccountBinding JSON value: HS256, url equal to url, payload equal to the
// account key's JWK, MAC valid with mac_key (compared in constant time). Returns the EAB kid on
// success, else the problem (malformed / unauthorized).
AcmeResult<std::string> ParseExternalAccountBindingKid(std::string_view eab_json);
std::optional<Problem> VerifyExternalAccountBinding(std::string_view eab_json, ByteView mac_key,
                                                    std::string_view url,
                                                    const crypto::PublicKey& account_key);

}  // namespace autoseal::acme
