#include "ct/chain.h"

#include <array>
#include <boost/json.hpp>
#include <cstring>
#include <mutex>
#include <optional>

#include "crypto/digest.h"
#include "crypto/prepared.h"
#include "crypto/signature.h"
#include "ct/internal/cert_view.h"

namespace autoseal::ct {
namespace {

constexpr size_t kMaxCachedIssuers = 4096;

Hash Sha256(ByteView data) {
  Bytes d = crypto::Digest(crypto::DigestAlgorithm::kSha256, data);
  Hash h;
  std::memcpy(h.data(), d.data(), 32);
  return h;
}

std::string Key(ByteView b) { return std::string(AsString(b)); }

bool Equal(ByteView a, ByteView b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Cert(size_t i) { return "certificate " + std::to_string(i); }

}  // namespace

Status ChainValidator::Issuer::VerifyChild(ByteView tbs, ByteView signature,
                                           crypto::DigestAlgorithm digest) const {
  if (verifier && verifier->digest() == digest) return verifier->Verify(tbs, signature);
  return crypto::Verify(key, tbs, signature, digest);
}

namespace {
std::shared_ptr<const crypto::PreparedVerifier> MakeVerifier(const crypto::PublicKey& key) {
  if (key.Family() == crypto::KeyFamily::kEd25519)
    return nullptr;  // one-shot EdDSA: nothing to prepare
  auto v = crypto::PreparedVerifier::Create(key);
  return v ? *v : nullptr;
}
}  // namespace

namespace internal {
namespace {

// RFC 4648 §4 base64 with padding, canonical (§3.5: unused bits zero), not empty, no whitespace:
// the subset of what core's Base64Decode accepts that a JSON encoder writes. nullopt otherwise.
std::optional<Bytes> DecodeCanonicalBase64(std::string_view s) {
  static constexpr auto kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < kAlphabet.size(); ++i)
      t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  size_t padding = s.ends_with("==") ? 2 : s.ends_with("=") ? 1 : 0;
  Bytes out(s.size() / 4 * 3);
  size_t o = 0;
  for (size_t i = 0; i < s.size(); i += 4) {
    int v[4];
    for (int k = 0; k < 4; ++k) v[k] = kTable[static_cast<uint8_t>(s[i + static_cast<size_t>(k)])];
    if (i + 4 == s.size() && padding > 0) {
      v[3] = v[3] < 0 ? 0 : -1;  // '=' stands for zero bits; a symbol after padding is refused
      if (padding == 2) v[2] = v[2] < 0 ? 0 : -1;
      if (s[i + 4 - padding] != '=' || v[2] < 0 || v[3] < 0) return std::nullopt;
      if ((padding == 2 && (v[1] & 0x0f) != 0) || (padding == 1 && (v[2] & 0x03) != 0))
        return std::nullopt;
    }
    if ((v[0] | v[1] | v[2] | v[3]) < 0) return std::nullopt;
    uint32_t n = static_cast<uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out[o++] = static_cast<uint8_t>(n >> 16);
    out[o++] = static_cast<uint8_t>(n >> 8);
    out[o++] = static_cast<uint8_t>(n);
  }
  out.resize(out.size() - padding);
  if (out.empty()) return std::nullopt;
  return out;
}

}  // namespace

std::optional<std::vector<Bytes>> ScanAddChainRequest(std::string_view body) {
  // Only this exact shape: {"chain":["<base64>", ...]} with JSON whitespace anywhere between
  // tokens and strings of base64 characters only (no escapes). Anything else — other members,
  // escapes, an empty chain, any error — is left to the general parser, so this scan never
  // decides an outcome that parser would decide differently.
  size_t i = 0;
  auto ws = [&] {
    while (i < body.size() &&
           (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
      ++i;
  };
  auto take = [&](std::string_view token) {
    ws();
    if (body.substr(i, token.size()) != token) return false;
    i += token.size();
    return true;
  };
  if (!take("{") || !take("\"chain\"") || !take(":") || !take("[")) return std::nullopt;
  std::vector<Bytes> out;
  for (;;) {
    if (!take("\"")) return std::nullopt;
    size_t end = body.find('"', i);
    if (end == std::string_view::npos || end - i > kMaxCertificateBytes * 4 / 3 + 4 ||
        out.size() == kMaxChainLength)
      return std::nullopt;
    auto der = DecodeCanonicalBase64(body.substr(i, end - i));
    if (!der) return std::nullopt;
    out.push_back(std::move(*der));
    i = end;
    ++i;  // the closing quote
    if (take("]")) break;
    if (!take(",")) return std::nullopt;
  }
  if (!take("}")) return std::nullopt;
  ws();
  if (i != body.size()) return std::nullopt;
  return out;
}

Result<std::vector<Bytes>> ParseAddChainRequestJson(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec) return Fail(ErrorCode::kParse, "request body is not JSON: " + ec.message());
  if (!v.is_object()) return Fail(ErrorCode::kParse, "request body must be a JSON object");
  auto* chain = v.as_object().if_contains("chain");
  if (chain == nullptr) return Fail(ErrorCode::kParse, "request has no \"chain\"");
  if (!chain->is_array()) return Fail(ErrorCode::kParse, "\"chain\" must be an array");
  const auto& a = chain->as_array();
  if (a.empty()) return Fail(ErrorCode::kParse, "\"chain\" is empty");
  if (a.size() > kMaxChainLength)
    return Fail(ErrorCode::kParse,
                "\"chain\" has more than " + std::to_string(kMaxChainLength) + " certificates");
  std::vector<Bytes> out;
  out.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string())
      return Fail(ErrorCode::kParse, "chain[" + std::to_string(i) + "] is not a string");
    const auto& s = a[i].as_string();
    if (s.size() > kMaxCertificateBytes * 4 / 3 + 4)
      return Fail(ErrorCode::kParse, "chain[" + std::to_string(i) + "] is too large");
    auto der = Base64Decode(std::string_view(s.data(), s.size()));
    if (!der)
      return Fail(ErrorCode::kParse, "chain[" + std::to_string(i) + "] is not valid base64");
    if (der->empty()) return Fail(ErrorCode::kParse, "chain[" + std::to_string(i) + "] is empty");
    out.push_back(std::move(*der));
  }
  return out;
}

}  // namespace internal

Result<std::vector<Bytes>> ParseAddChainRequest(std::string_view body) {
  if (auto chain = internal::ScanAddChainRequest(body)) return std::move(*chain);
  return internal::ParseAddChainRequestJson(body);
}

ChainValidator::ChainValidator(std::vector<x509::Certificate> roots, ChainPolicy policy)
    : roots_(std::move(roots)), policy_(policy) {
  for (const auto& root : roots_) {
    auto issuer = std::make_shared<Issuer>(Issuer{std::make_shared<const Bytes>(root.Der()),
                                                  {},
                                                  root.PublicKey(),
                                                  {},
                                                  {},
                                                  {},
                                                  false,
                                                  nullptr,
                                                  {},
                                                  {},
                                                  nullptr});
    issuer->fingerprint = Sha256(*issuer->der);
    issuer->verifier = MakeVerifier(issuer->key);
    internal::CertView view;
    std::string error;
    CHECK_MSG(internal::ParseCertView(*issuer->der, &view, &error),
              "a root certificate does not parse");
    issuer->subject.assign(view.subject.begin(), view.subject.end());
    issuer->spki.assign(view.spki.begin(), view.spki.end());
    issuer->path_fingerprints = {issuer->fingerprint};
    issuer->path_ders = {issuer->der};
    roots_by_subject_[Key(issuer->subject)] = issuer;
    std::unique_lock lock(mu_);
    Cache(issuer);
  }
}

void ChainValidator::Cache(const std::shared_ptr<const Issuer>& issuer) const {
  if (cache_.size() < kMaxCachedIssuers) cache_.emplace(AsString(*issuer->der), issuer);
}

size_t ChainValidator::CachedIssuers() const {
  std::shared_lock lock(mu_);
  return cache_.size();
}

std::shared_ptr<const ChainValidator::Issuer> ChainValidator::Lookup(ByteView der) const {
  std::shared_lock lock(mu_);
  auto it = cache_.find(AsString(der));
  return it == cache_.end() ? nullptr : it->second;
}

Result<std::shared_ptr<const ChainValidator::Issuer>> ChainValidator::IssuerFor(
    const std::vector<Bytes>& chain, size_t index, ByteView expected_subject, int depth) const {
  if (depth > static_cast<int>(kMaxChainLength))
    return Fail(ErrorCode::kPolicy, "chain is too long");
  if (index >= chain.size()) {
    // RFC 6962 §4.1: the submitter may omit the root.
    auto it = roots_by_subject_.find(Key(expected_subject));
    if (it == roots_by_subject_.end())
      return Fail(ErrorCode::kPolicy, "chain does not lead to an accepted root (see get-roots)");
    return it->second;
  }
  if (auto cached = Lookup(chain[index])) {
    if (!Equal(cached->subject, expected_subject))
      return Fail(ErrorCode::kPolicy, Cert(index) + " is not the issuer of " + Cert(index - 1));
    // The cached path stands for this submission only if the rest of the submitted chain is that
    // path (or leaves out its root, RFC 6962 §4.1); otherwise the rest is checked as if nothing
    // were cached, so that the same submission gets the same answer whatever came before it.
    size_t rest = chain.size() - index;
    bool same = rest <= cached->path_ders.size();
    for (size_t k = 1; same && k < rest; ++k) same = Equal(*cached->path_ders[k], chain[index + k]);
    if (same) return cached;
  }
  internal::CertView view;
  std::string error;
  if (!internal::ParseCertView(chain[index], &view, &error))
    return Fail(ErrorCode::kParse, Cert(index) + ": " + error);
  if (!Equal(view.subject, expected_subject))
    return Fail(ErrorCode::kPolicy, Cert(index) + " is not the issuer of " + Cert(index - 1));
  if (!view.IsCa()) return Fail(ErrorCode::kPolicy, Cert(index) + " is not a CA certificate");
  auto digest = internal::SignatureDigest(view.signature_oid);
  if (!digest) return Fail(ErrorCode::kPolicy, Cert(index) + ": unsupported signature algorithm");
  auto key = crypto::PublicKey::FromDer(view.spki);
  if (!key) return Fail(ErrorCode::kParse, Cert(index) + ": unsupported public key");
  auto parent = TRY(IssuerFor(chain, index + 1, view.issuer, depth + 1));
  if (!parent->VerifyChild(view.tbs, view.signature, *digest))
    return Fail(ErrorCode::kCrypto, Cert(index) + " is not signed by its issuer");
  auto issuer = std::make_shared<Issuer>(Issuer{std::make_shared<const Bytes>(chain[index]),
                                                Sha256(chain[index]),
                                                *key,
                                                {},
                                                {},
                                                {},
                                                false,
                                                parent,
                                                {},
                                                {},
                                                MakeVerifier(*key)});
  issuer->subject.assign(view.subject.begin(), view.subject.end());
  issuer->spki.assign(view.spki.begin(), view.spki.end());
  if (const auto* aki = view.Find(internal::kOidAuthorityKeyId))
    issuer->aki_extension.assign(aki->full.begin(), aki->full.end());
  issuer->precert_signing = view.HasEku(internal::kOidCtPrecertSigning);
  issuer->path_fingerprints = {issuer->fingerprint};
  issuer->path_fingerprints.insert(issuer->path_fingerprints.end(),
                                   parent->path_fingerprints.begin(),
                                   parent->path_fingerprints.end());
  issuer->path_ders = {issuer->der};
  issuer->path_ders.insert(issuer->path_ders.end(), parent->path_ders.begin(),
                           parent->path_ders.end());
  std::unique_lock lock(mu_);
  Cache(issuer);
  return std::shared_ptr<const Issuer>(issuer);
}

Result<AcceptedChain> ChainValidator::Validate(const std::vector<Bytes>& chain, bool precert,
                                               TimePoint now) const {
  if (chain.empty()) return Fail(ErrorCode::kParse, "empty chain");
  if (chain.size() > kMaxChainLength) return Fail(ErrorCode::kParse, "chain is too long");
  internal::CertView leaf;
  std::string error;
  if (!internal::ParseCertView(chain[0], &leaf, &error))
    return Fail(ErrorCode::kParse, Cert(0) + ": " + error);
  const internal::Extension* poison = leaf.Find(internal::kOidCtPoison);
  if (precert) {
    // RFC 6962 §3.1: "critical poison extension ... whose extnValue OCTET STRING contains ASN.1
    // NULL data (0x05 0x00)".
    if (poison == nullptr)
      return Fail(
          ErrorCode::kPolicy,
          "add-pre-chain needs a precertificate (poison extension 1.3.6.1.4.1.11129.2.4.3)");
    if (!poison->critical)
      return Fail(ErrorCode::kPolicy, "the precertificate poison extension must be critical");
    static constexpr uint8_t kNull[] = {0x05, 0x00};
    if (!Equal(poison->value, kNull))
      return Fail(ErrorCode::kPolicy, "the poison extension must contain ASN.1 NULL");
  } else if (poison != nullptr) {
    return Fail(ErrorCode::kPolicy, "a precertificate must be submitted with add-pre-chain");
  }
  if (policy_.reject_expired && leaf.not_after < now)
    return Fail(ErrorCode::kPolicy,
                "certificate has expired (notAfter " + FormatRfc3339(leaf.not_after) + ")");
  if (policy_.reject_not_yet_valid && leaf.not_before > now)
    return Fail(ErrorCode::kPolicy,
                "certificate is not yet valid (notBefore " + FormatRfc3339(leaf.not_before) + ")");
  auto digest = internal::SignatureDigest(leaf.signature_oid);
  if (!digest) return Fail(ErrorCode::kPolicy, Cert(0) + ": unsupported signature algorithm");
  auto issuer = TRY(IssuerFor(chain, 1, leaf.issuer, 0));
  if (!issuer->VerifyChild(leaf.tbs, leaf.signature, *digest))
    return Fail(ErrorCode::kCrypto, Cert(0) + " is not signed by its issuer");

  AcceptedChain out;
  out.issuers = issuer->path_fingerprints;
  out.issuer_ders = issuer->path_ders;
  if (precert) {
    out.entry.type = LogEntryType::kPrecert;
    out.precertificate = chain[0];
    if (issuer->precert_signing) {
      // RFC 6962 §3.2: with a Precertificate Signing Certificate, the TBS names the final issuer
      // and carries its authority key identifier, and issuer_key_hash is the final issuer's key.
      const auto& final_issuer = issuer->parent;
      if (final_issuer == nullptr)
        return Fail(ErrorCode::kPolicy, "a precertificate signing certificate cannot be a root");
      std::optional<ByteView> aki;
      if (!issuer->aki_extension.empty()) aki = ByteView(issuer->aki_extension);
      out.entry.certificate = internal::PrecertTbs(leaf, ByteView(final_issuer->subject), aki);
      out.entry.issuer_key_hash = Sha256(final_issuer->spki);
    } else {
      out.entry.certificate = internal::PrecertTbs(leaf, std::nullopt, std::nullopt);
      out.entry.issuer_key_hash = Sha256(issuer->spki);
    }
  } else {
    if (issuer->precert_signing)
      return Fail(ErrorCode::kPolicy,
                  "a precertificate signing certificate cannot issue certificates");
    out.entry.type = LogEntryType::kX509;
    out.entry.certificate = chain[0];
  }
  Bytes id;
  id.push_back(0);
  id.push_back(static_cast<uint8_t>(out.entry.type));
  if (out.entry.type == LogEntryType::kPrecert)
    id.insert(id.end(), out.entry.issuer_key_hash.begin(), out.entry.issuer_key_hash.end());
  id.insert(id.end(), out.entry.certificate.begin(), out.entry.certificate.end());
  out.identity = Sha256(id);
  return out;
}

}  // namespace autoseal::ct
