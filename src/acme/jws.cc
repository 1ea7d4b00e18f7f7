#include "acme/jws.h"

#include <boost/json.hpp>

#include "crypto/digest.h"
#include "crypto/signature.h"

namespace autoseal::acme {

namespace json = boost::json;

namespace {

Problem Malformed(std::string detail) { return MakeProblem(ProblemType::kMalformed, std::move(detail)); }

std::string B64(ByteView b) { return Base64UrlEncode(b); }

// The field size of an EC signature for an algorithm.
size_t FieldBytes(JwsAlgorithm alg) {
  switch (alg) {
    case JwsAlgorithm::kEs256: return 32;
    case JwsAlgorithm::kEs384: return 48;
    case JwsAlgorithm::kEs512: return 66;
    default: return 0;
  }
}

std::optional<JwsAlgorithm> AlgorithmFromName(std::string_view name) {
  for (auto a : {JwsAlgorithm::kRs256, JwsAlgorithm::kEs256, JwsAlgorithm::kEs384, JwsAlgorithm::kEs512,
                 JwsAlgorithm::kEdDsa, JwsAlgorithm::kHs256})
    if (JwsAlgorithmName(a) == name) return a;
  return std::nullopt;
}

const json::string* GetString(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return nullptr;
  return it->value().if_string();
}

Result<crypto::PublicKey> JwkFromObject(const json::object& o) {
  auto field = [&](std::string_view k) -> Result<Bytes> {
    const json::string* s = GetString(o, k);
    if (!s) return Fail(ErrorCode::kInvalidArgument, "JWK lacks \"" + std::string(k) + "\"");
    auto b = Base64UrlDecode(std::string_view(s->data(), s->size()));
    if (!b) return Fail(ErrorCode::kInvalidArgument, "JWK member \"" + std::string(k) + "\" is not base64url");
    return b;
  };
  const json::string* kty = GetString(o, "kty");
  if (!kty) return Fail(ErrorCode::kInvalidArgument, "JWK lacks \"kty\"");
  if (*kty == "RSA") return crypto::PublicKey::FromRsaComponents(TRY(field("n")), TRY(field("e")));
  if (*kty == "EC") {
    const json::string* crv = GetString(o, "crv");
    if (!crv) return Fail(ErrorCode::kInvalidArgument, "JWK lacks \"crv\"");
    return crypto::PublicKey::FromEcComponents(std::string_view(crv->data(), crv->size()), TRY(field("x")), TRY(field("y")));
  }
  if (*kty == "OKP") {
    const json::string* crv = GetString(o, "crv");
    if (!crv || *crv != "Ed25519") return Fail(ErrorCode::kInvalidArgument, "only Ed25519 OKP keys are supported");
    return crypto::PublicKey::FromEd25519(TRY(field("x")));
  }
  return Fail(ErrorCode::kInvalidArgument, "unsupported JWK kty \"" + std::string(kty->data(), kty->size()) + "\"");
}

Result<json::value> ParseJson(std::string_view text) {
  json::error_code ec;
  json::parse_options opts;
  opts.max_depth = 16;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) return Fail(ErrorCode::kParse, "invalid JSON: " + ec.message());
  return v;
}

}  // namespace

std::string_view JwsAlgorithmName(JwsAlgorithm alg) {
  switch (alg) {
    case JwsAlgorithm::kRs256: return "RS256";
    case JwsAlgorithm::kEs256: return "ES256";
    case JwsAlgorithm::kEs384: return "ES384";
    case JwsAlgorithm::kEs512: return "ES512";
    case JwsAlgorithm::kEdDsa: return "EdDSA";
    case JwsAlgorithm::kHs256: return "HS256";
  }
  return "none";
}

Result<JwsAlgorithm> AlgorithmForKey(const crypto::PublicKey& key) {
  switch (key.Family()) {
    case crypto::KeyFamily::kRsa: return JwsAlgorithm::kRs256;
    case crypto::KeyFamily::kEd25519: return JwsAlgorithm::kEdDsa;
    case crypto::KeyFamily::kEcdsa: {
      int bits = key.Bits();
      if (bits == 256) return JwsAlgorithm::kEs256;
      if (bits == 384) return JwsAlgorithm::kEs384;
      if (bits == 521) return JwsAlgorithm::kEs512;
      break;
    }
    case crypto::KeyFamily::kSm2: break;
  }
  return Fail(ErrorCode::kUnsupported, key.Description() + " keys have no JWS algorithm");
}

Result<std::string> JwkJson(const crypto::PublicKey& key) {
  switch (key.Family()) {
    case crypto::KeyFamily::kRsa: {
      auto c = TRY(key.RsaComponents());
      return "{\"e\":\"" + B64(c.e) + "\",\"kty\":\"RSA\",\"n\":\"" + B64(c.n) + "\"}";
    }
    case crypto::KeyFamily::kEcdsa: {
      auto c = TRY(key.EcComponents());
      return "{\"crv\":\"" + c.curve + "\",\"kty\":\"EC\",\"x\":\"" + B64(c.x) + "\",\"y\":\"" + B64(c.y) + "\"}";
    }
    case crypto::KeyFamily::kEd25519: {
      auto raw = TRY(key.Ed25519Raw());
      return "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"" + B64(raw) + "\"}";
    }
    case crypto::KeyFamily::kSm2: break;
  }
  return Fail(ErrorCode::kUnsupported, key.Description() + " keys have no JWK form");
}

Result<std::string> JwkThumbprint(const crypto::PublicKey& key) {
  auto jwk = TRY(JwkJson(key));
  return B64(crypto::Digest(crypto::DigestAlgorithm::kSha256, AsBytes(jwk)));
}

Result<crypto::PublicKey> ParseJwk(std::string_view text) {
  auto v = TRY(ParseJson(text));
  if (!v.is_object()) return Fail(ErrorCode::kInvalidArgument, "a JWK must be a JSON object");
  return JwkFromObject(v.get_object());
}

AcmeResult<JwsMessage> ParseJws(std::string_view body) {
  auto parsed = ParseJson(body);
  if (!parsed) return std::unexpected(Malformed("request body is not JSON: " + parsed.error().message()));
  if (!parsed->is_object()) return std::unexpected(Malformed("request body must be a JWS JSON object"));
  const json::object& o = parsed->get_object();
  for (const auto& kv : o) {
    if (kv.key() != "protected" && kv.key() != "payload" && kv.key() != "signature")
      return std::unexpected(Malformed("unexpected JWS member \"" + std::string(kv.key()) +
                                       "\" (ACME uses the flattened JSON serialization with a protected header only)"));
  }
  const json::string* prot = GetString(o, "protected");
  const json::string* payload = GetString(o, "payload");
  const json::string* sig = GetString(o, "signature");
  if (!prot || !payload || !sig) return std::unexpected(Malformed("JWS needs string members protected, payload and signature"));
  JwsMessage msg;
  msg.protected_b64.assign(prot->data(), prot->size());
  msg.payload_b64.assign(payload->data(), payload->size());
  auto header_bytes = Base64UrlDecode(msg.protected_b64);
  if (!header_bytes) return std::unexpected(Malformed("protected header is not base64url"));
  auto sig_bytes = Base64UrlDecode(std::string_view(sig->data(), sig->size()));
  if (!sig_bytes || sig_bytes->empty()) return std::unexpected(Malformed("signature is not base64url"));
  msg.signature = std::move(*sig_bytes);
  auto payload_bytes = Base64UrlDecode(msg.payload_b64);
  if (!payload_bytes) return std::unexpected(Malformed("payload is not base64url"));
  msg.payload.assign(payload_bytes->begin(), payload_bytes->end());
  msg.post_as_get = msg.payload_b64.empty();

  auto header = ParseJson(AsString(*header_bytes));
  if (!header || !header->is_object()) return std::unexpected(Malformed("protected header is not a JSON object"));
  const json::object& h = header->get_object();
  const json::string* alg = GetString(h, "alg");
  if (!alg) return std::unexpected(Malformed("protected header lacks \"alg\""));
  auto a = AlgorithmFromName(std::string_view(alg->data(), alg->size()));
  // RFC 8555 §6.2: "MUST NOT be "none" or a Message Authentication Code (MAC)-based algorithm".
  if (!a || *a == JwsAlgorithm::kHs256) {
    Problem p = MakeProblem(ProblemType::kBadSignatureAlgorithm,
                            "JWS algorithm \"" + std::string(alg->data(), alg->size()) +
                                "\" is not supported (use RS256, ES256, ES384, ES512 or EdDSA)");
    return std::unexpected(std::move(p));
  }
  msg.alg = *a;
  if (const json::string* n = GetString(h, "nonce")) msg.nonce.assign(n->data(), n->size());
  if (msg.nonce.empty()) return std::unexpected(MakeProblem(ProblemType::kBadNonce, "protected header lacks \"nonce\""));
  const json::string* url = GetString(h, "url");
  if (!url) return std::unexpected(Malformed("protected header lacks \"url\""));
  msg.url.assign(url->data(), url->size());
  bool has_kid = h.contains("kid"), has_jwk = h.contains("jwk");
  if (has_kid == has_jwk)
    return std::unexpected(Malformed("protected header must contain exactly one of \"jwk\" and \"kid\""));
  if (has_kid) {
    const json::string* kid = GetString(h, "kid");
    if (!kid || kid->empty()) return std::unexpected(Malformed("\"kid\" must be a non-empty string"));
    msg.kid.assign(kid->data(), kid->size());
  } else {
    const json::value& jwk = h.at("jwk");
    if (!jwk.is_object()) return std::unexpected(Malformed("\"jwk\" must be a JSON object"));
    auto key = JwkFromObject(jwk.get_object());
    if (!key) return std::unexpected(MakeProblem(ProblemType::kBadPublicKey, key.error().message()));
    msg.jwk = std::move(*key);
  }
  return msg;
}

std::optional<Problem> VerifyJws(const JwsMessage& msg, const crypto::PublicKey& key,
                                 const crypto::PreparedVerifier* prepared) {
  auto expected = AlgorithmForKey(key);
  if (!expected || *expected != msg.alg)
    return MakeProblem(ProblemType::kBadSignatureAlgorithm,
                       "JWS algorithm " + std::string(JwsAlgorithmName(msg.alg)) + " does not fit the " +
                           key.Description() + " key");
  std::string input = msg.protected_b64 + "." + msg.payload_b64;
  Bytes sig = msg.signature;
  size_t field = FieldBytes(msg.alg);
  if (field != 0) {
    if (sig.size() != 2 * field) return Malformed("JWS signature has the wrong length for " + std::string(JwsAlgorithmName(msg.alg)));
    if (!prepared) {
      auto der = crypto::EcdsaSignatureFromRaw(sig);
      if (!der) return Malformed("JWS signature is malformed");
      sig = std::move(*der);
    }
  }
  // A prepared verifier takes ES* signatures in their JWS r||s form (P-256 without a DER round trip).
  bool ok = !prepared     ? crypto::Verify(key, AsBytes(input), sig).has_value()
            : field != 0 ? prepared->VerifyEcdsaRaw(AsBytes(input), sig).has_value()
                         : prepared->Verify(AsBytes(input), sig).has_value();
  if (!ok) return Malformed("JWS signature does not verify");
  return std::nullopt;
}

Result<std::string> SignJws(const crypto::PrivateKey& key, std::string_view url, std::string_view nonce,
                            std::string_view kid, std::string_view payload) {
  auto alg = TRY(AlgorithmForKey(key));
  json::object h;
  h["alg"] = JwsAlgorithmName(alg);
  if (kid.empty()) {
    auto jwk = TRY(JwkJson(key));
    h["jwk"] = json::parse(jwk);
  } else {
    h["kid"] = kid;
  }
  if (!nonce.empty()) h["nonce"] = nonce;
  h["url"] = url;
  std::string prot = B64(AsBytes(json::serialize(h)));
  std::string pay = B64(AsBytes(payload));
  std::string input = prot + "." + pay;
  auto sig = TRY(crypto::Sign(key, AsBytes(input)));
  if (size_t field = FieldBytes(alg); field != 0) sig = TRY(crypto::EcdsaSignatureToRaw(sig, field));
  return "{\"protected\":\"" + prot + "\",\"payload\":\"" + pay + "\",\"signature\":\"" + B64(sig) + "\"}";
}

Result<std::string> SignExternalAccountBinding(ByteView mac_key, std::string_view kid, std::string_view url,
                                               const crypto::PublicKey& account_key) {
  json::object h{{"alg", "HS256"}, {"kid", kid}, {"url", url}};
  std::string prot = B64(AsBytes(json::serialize(h)));
  std::string pay = B64(AsBytes(TRY(JwkJson(account_key))));
  auto mac = crypto::HmacSha256(mac_key, AsBytes(prot + "." + pay));
  return "{\"protected\":\"" + prot + "\",\"payload\":\"" + pay + "\",\"signature\":\"" + B64(mac) + "\"}";
}

namespace {
struct EabParts {
  std::string prot, pay, kid, url;
  Bytes mac;
  std::string payload;
};

AcmeResult<EabParts> ParseEab(std::string_view text) {
  auto bad = [](std::string d) { return std::unexpected(Malformed("externalAccountBinding: " + std::move(d))); };
  auto v = ParseJson(text);
  if (!v || !v->is_object()) return bad("not a JSON object");
  const json::object& o = v->get_object();
  const json::string* prot = GetString(o, "protected");
  const json::string* pay = GetString(o, "payload");
  const json::string* sig = GetString(o, "signature");
  if (!prot || !pay || !sig) return bad("needs protected, payload and signature");
  EabParts parts;
  parts.prot.assign(prot->data(), prot->size());
  parts.pay.assign(pay->data(), pay->size());
  auto hb = Base64UrlDecode(parts.prot);
  auto pb = Base64UrlDecode(parts.pay);
  auto mac = Base64UrlDecode(std::string_view(sig->data(), sig->size()));
  if (!hb || !pb || !mac) return bad("not base64url");
  parts.mac = std::move(*mac);
  parts.payload.assign(pb->begin(), pb->end());
  auto h = ParseJson(AsString(*hb));
  if (!h || !h->is_object()) return bad("protected header is not a JSON object");
  const json::object& ho = h->get_object();
  const json::string* alg = GetString(ho, "alg");
  const json::string* kid = GetString(ho, "kid");
  const json::string* url = GetString(ho, "url");
  // RFC 8555 §7.3.4: "The "alg" field MUST indicate a MAC-based algorithm" and MUST NOT carry a nonce.
  if (!alg || *alg != "HS256") return bad("alg must be HS256");
  if (ho.contains("nonce")) return bad("must not contain a nonce");
  if (!kid || kid->empty() || !url) return bad("protected header needs kid and url");
  parts.kid.assign(kid->data(), kid->size());
  parts.url.assign(url->data(), url->size());
  return parts;
}
}  // namespace

AcmeResult<std::string> ParseExternalAccountBindingKid(std::string_view eab_json) {
  auto parts = ParseEab(eab_json);
  if (!parts) return std::unexpected(parts.error());
  return parts->kid;
}

std::optional<Problem> VerifyExternalAccountBinding(std::string_view eab_json, ByteView mac_key, std::string_view url,
                                                    const crypto::PublicKey& account_key) {
  auto parts = ParseEab(eab_json);
  if (!parts) return parts.error();
  if (parts->url != url) return Malformed("externalAccountBinding url does not match the newAccount URL");
  auto jwk = ParseJwk(parts->payload);
  if (!jwk || !jwk->Equals(account_key))
    return Malformed("externalAccountBinding payload is not the account's JWK");
  auto mac = crypto::HmacSha256(mac_key, AsBytes(parts->prot + "." + parts->pay));
  if (!ConstantTimeEqual(mac, parts->mac))
    return MakeProblem(ProblemType::kUnauthorized, "externalAccountBinding MAC does not verify");
  return std::nullopt;
}

}  // namespace autoseal::acme
