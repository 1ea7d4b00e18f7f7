#include "ct/sct.h"

#include <boost/json.hpp>
#include <cstring>

#include "crypto/digest.h"
#include "crypto/signature.h"

namespace autoseal::ct {
namespace {

// Out of line: g++ 12 reports false -Warray-bounds/-Wstringop-overflow for inlined vector growth.
[[gnu::noinline]] void Put(Bytes& out, uint64_t v, int n) {
  size_t old = out.size();
  out.resize(old + static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    out[old + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}
[[gnu::noinline]] void PutBytes(Bytes& out, ByteView b) {
  size_t old = out.size();
  out.resize(old + b.size());
  if (!b.empty()) std::memcpy(out.data() + old, b.data(), b.size());
}

// Reads big-endian integers and length-prefixed vectors; every read is bounds-checked.
class TlsReader {
 public:
  explicit TlsReader(ByteView d) : d_(d) {}
  bool Int(int n, uint64_t* v) {
    if (d_.size() < static_cast<size_t>(n)) return false;
    *v = 0;
    for (int i = 0; i < n; ++i) *v = (*v << 8) | d_[i];
    d_ = d_.subspan(n);
    return true;
  }
  bool Fixed(size_t n, ByteView* out) {
    if (d_.size() < n) return false;
    *out = d_.subspan(0, n);
    d_ = d_.subspan(n);
    return true;
  }
  bool Vector(int len_bytes, ByteView* out) {
    uint64_t n;
    return Int(len_bytes, &n) && Fixed(n, out);
  }
  bool empty() const { return d_.empty(); }

 private:
  ByteView d_;
};

constexpr uint8_t kHashSha256 = 4;
constexpr uint8_t kSigRsa = 1;
constexpr uint8_t kSigEcdsa = 3;
// sm2sig_sm3 = 0x0708 (RFC 8998 §3.2.1), written into DigitallySigned's two algorithm bytes.
constexpr uint8_t kSm2SchemeHigh = 0x07;
constexpr uint8_t kSm2SchemeLow = 0x08;

void EncodeSignedEntry(Bytes& out, const SignedEntry& e) {
  Put(out, static_cast<uint16_t>(e.type), 2);
  if (e.type == LogEntryType::kPrecert) PutBytes(out, e.issuer_key_hash);
  Put(out, e.certificate.size(), 3);
  PutBytes(out, e.certificate);
}

}  // namespace

Bytes LeafIndexExtension(uint64_t index) {
  Bytes out;
  out.push_back(0);  // leaf_index(0)
  Put(out, 5, 2);
  Put(out, index, 5);
  return out;
}

std::optional<uint64_t> ParseLeafIndexExtension(ByteView extensions) {
  TlsReader r(extensions);
  while (!r.empty()) {
    uint64_t type;
    ByteView data;
    if (!r.Int(1, &type) || !r.Vector(2, &data)) return std::nullopt;
    if (type == 0) {
      if (data.size() != 5) return std::nullopt;
      uint64_t v = 0;
      for (uint8_t b : data) v = (v << 8) | b;
      return v;
    }
  }
  return std::nullopt;
}

Bytes EncodeTimestampedEntry(uint64_t timestamp_ms, const SignedEntry& entry, ByteView extensions) {
  Bytes out;
  out.reserve(entry.certificate.size() + 64);
  Put(out, timestamp_ms, 8);
  EncodeSignedEntry(out, entry);
  Put(out, extensions.size(), 2);
  PutBytes(out, extensions);
  return out;
}

Bytes EncodeMerkleTreeLeaf(uint64_t timestamp_ms, const SignedEntry& entry, ByteView extensions) {
  Bytes out;
  out.reserve(entry.certificate.size() + 64);
  out.push_back(0);  // v1
  out.push_back(0);  // timestamped_entry / certificate_timestamp
  Put(out, timestamp_ms, 8);
  EncodeSignedEntry(out, entry);
  Put(out, extensions.size(), 2);
  PutBytes(out, extensions);
  return out;
}

Result<ParsedLeaf> ParseMerkleTreeLeaf(ByteView leaf) {
  TlsReader r(leaf);
  uint64_t version, leaf_type, type;
  ParsedLeaf p;
  ByteView cert, ext, ikh;
  if (!r.Int(1, &version) || !r.Int(1, &leaf_type) || version != 0 || leaf_type != 0 ||
      !r.Int(8, &p.timestamp_ms) || !r.Int(2, &type) || type > 1)
    return Fail(ErrorCode::kParse, "malformed MerkleTreeLeaf");
  p.entry.type = static_cast<LogEntryType>(type);
  if (p.entry.type == LogEntryType::kPrecert) {
    if (!r.Fixed(32, &ikh)) return Fail(ErrorCode::kParse, "malformed MerkleTreeLeaf");
    std::copy(ikh.begin(), ikh.end(), p.entry.issuer_key_hash.begin());
  }
  if (!r.Vector(3, &cert) || !r.Vector(2, &ext) || !r.empty())
    return Fail(ErrorCode::kParse, "malformed MerkleTreeLeaf");
  p.entry.certificate.assign(cert.begin(), cert.end());
  p.extensions.assign(ext.begin(), ext.end());
  return p;
}

Bytes TreeHeadSignatureInput(uint64_t timestamp_ms, uint64_t tree_size, const Hash& root) {
  Bytes out;
  out.push_back(0);  // v1
  out.push_back(1);  // tree_hash
  Put(out, timestamp_ms, 8);
  Put(out, tree_size, 8);
  PutBytes(out, root);
  return out;
}

Bytes SignedCertificateTimestamp::Serialize() const {
  Bytes out;
  out.push_back(version);
  PutBytes(out, log_id);
  Put(out, timestamp_ms, 8);
  Put(out, extensions.size(), 2);
  PutBytes(out, extensions);
  PutBytes(out, signature);
  return out;
}

Result<SignedCertificateTimestamp> SignedCertificateTimestamp::Parse(ByteView data) {
  TlsReader r(data);
  SignedCertificateTimestamp s;
  uint64_t version, alg;
  ByteView id, ext, sig;
  if (!r.Int(1, &version)) return Fail(ErrorCode::kParse, "empty SCT");
  if (version != 0) return Fail(ErrorCode::kUnsupported, "SCT version is not v1");
  s.version = 0;
  if (!r.Fixed(32, &id) || !r.Int(8, &s.timestamp_ms) || !r.Vector(2, &ext) || !r.Int(2, &alg) ||
      !r.Vector(2, &sig) || !r.empty())
    return Fail(ErrorCode::kParse, "malformed SCT");
  std::copy(id.begin(), id.end(), s.log_id.begin());
  s.extensions.assign(ext.begin(), ext.end());
  Put(s.signature, alg, 2);
  Put(s.signature, sig.size(), 2);
  PutBytes(s.signature, sig);
  return s;
}

std::string SignedCertificateTimestamp::ToJson() const {
  // RFC 6962 §4.1 response, written directly (one per add-chain): base64 and decimal digits
  // need no JSON escaping.
  std::string out;
  out.reserve(160 + (signature.size() + extensions.size()) * 4 / 3);
  out.append("{\"sct_version\":").append(std::to_string(static_cast<int>(version)));
  out.append(",\"id\":\"").append(Base64Encode(log_id));
  out.append("\",\"timestamp\":").append(std::to_string(timestamp_ms));
  out.append(",\"extensions\":\"").append(Base64Encode(extensions));
  out.append("\",\"signature\":\"").append(Base64Encode(signature)).append("\"}");
  return out;
}

Result<SignedCertificateTimestamp> SignedCertificateTimestamp::FromJson(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return Fail(ErrorCode::kParse, "SCT response is not a JSON object");
  const auto& o = v.as_object();
  auto str = [&](const char* k) -> Result<Bytes> {
    auto* f = o.if_contains(k);
    if (f == nullptr || !f->is_string())
      return Fail(ErrorCode::kParse, std::string("SCT response lacks ") + k);
    auto s = f->as_string();
    return TRY_CONTEXT(Base64Decode(std::string_view(s.data(), s.size())), k);
  };
  SignedCertificateTimestamp s;
  auto* ver = o.if_contains("sct_version");
  auto* ts = o.if_contains("timestamp");
  if (ver == nullptr || !ver->is_number() || ts == nullptr || !ts->is_number())
    return Fail(ErrorCode::kParse, "SCT response lacks sct_version or timestamp");
  if (ver->to_number<int64_t>() != 0) return Fail(ErrorCode::kUnsupported, "SCT version is not v1");
  s.timestamp_ms = ts->to_number<uint64_t>();
  Bytes id = TRY(str("id"));
  if (id.size() != 32) return Fail(ErrorCode::kParse, "SCT log id must be 32 bytes");
  std::copy(id.begin(), id.end(), s.log_id.begin());
  s.extensions = TRY(str("extensions"));
  s.signature = TRY(str("signature"));
  TRY(ParseDigitallySigned(s.signature));
  return s;
}

Bytes EncodeSctList(const std::vector<SignedCertificateTimestamp>& scts) {
  Bytes body;
  for (const auto& s : scts) {
    Bytes one = s.Serialize();
    Put(body, one.size(), 2);
    PutBytes(body, one);
  }
  Bytes out;
  Put(out, body.size(), 2);
  PutBytes(out, body);
  return out;
}

Result<std::vector<SignedCertificateTimestamp>> ParseSctList(ByteView data) {
  TlsReader r(data);
  ByteView body;
  if (!r.Vector(2, &body) || !r.empty()) return Fail(ErrorCode::kParse, "malformed SCT list");
  TlsReader b(body);
  std::vector<SignedCertificateTimestamp> out;
  while (!b.empty()) {
    ByteView one;
    if (!b.Vector(2, &one)) return Fail(ErrorCode::kParse, "malformed SCT list entry");
    out.push_back(TRY(SignedCertificateTimestamp::Parse(one)));
  }
  if (out.empty()) return Fail(ErrorCode::kParse, "empty SCT list");
  return out;
}

Result<DigitallySigned> ParseDigitallySigned(ByteView data) {
  TlsReader r(data);
  uint64_t h, s;
  ByteView sig;
  if (!r.Int(1, &h) || !r.Int(1, &s) || !r.Vector(2, &sig) || !r.empty() || sig.empty())
    return Fail(ErrorCode::kParse, "malformed DigitallySigned");
  DigitallySigned d;
  d.hash = static_cast<uint8_t>(h);
  d.signature_alg = static_cast<uint8_t>(s);
  d.signature.assign(sig.begin(), sig.end());
  return d;
}

Result<LogPublicKey> LogPublicKey::FromSpki(ByteView spki_der) {
  LogPublicKey k;
  k.key_ = TRY(crypto::PublicKey::FromDer(spki_der));
  auto family = k.key_->Family();
  if (family != crypto::KeyFamily::kEcdsa && family != crypto::KeyFamily::kRsa &&
      family != crypto::KeyFamily::kSm2)
    return Fail(ErrorCode::kUnsupported, "log keys are ECDSA, RSA or SM2");
  k.spki_ = k.key_->PublicKeyDer();
  Bytes id = crypto::Digest(crypto::DigestAlgorithm::kSha256, k.spki_);
  std::copy(id.begin(), id.end(), k.log_id_.begin());
  return k;
}

Status LogPublicKey::VerifyDigitallySigned(ByteView data, ByteView digitally_signed) const {
  auto ds = ParseDigitallySigned(digitally_signed);
  if (!ds) return Fail(ErrorCode::kCrypto, ds.error().message());
  crypto::DigestAlgorithm digest;
  switch (key_->Family()) {
    case crypto::KeyFamily::kSm2:
      if (ds->hash != kSm2SchemeHigh || ds->signature_alg != kSm2SchemeLow)
        return Fail(ErrorCode::kCrypto, "SM2 log signature must be labelled sm2sig_sm3 (0x0708)");
      digest = crypto::DigestAlgorithm::kSm3;
      break;
    case crypto::KeyFamily::kEcdsa:
      if (ds->hash != kHashSha256 || ds->signature_alg != kSigEcdsa)
        return Fail(ErrorCode::kCrypto, "ECDSA log signature must be labelled SHA-256/ECDSA (4,3)");
      digest = crypto::DigestAlgorithm::kSha256;
      break;
    case crypto::KeyFamily::kRsa:
      if (ds->hash != kHashSha256 || ds->signature_alg != kSigRsa)
        return Fail(ErrorCode::kCrypto, "RSA log signature must be labelled SHA-256/RSA (4,1)");
      digest = crypto::DigestAlgorithm::kSha256;
      break;
    default:
      return Fail(ErrorCode::kUnsupported, "unsupported log key");
  }
  return crypto::Verify(*key_, data, ds->signature, digest);
}

Result<LogSigner> LogSigner::Create(crypto::PrivateKey key) {
  auto type = TRY(key.Type());
  if (type != crypto::KeyType::kEcdsaP256 && type != crypto::KeyType::kSm2)
    return Fail(ErrorCode::kPolicy, "a log key is ECDSA P-256 (RFC 6962 §2.1.4) or SM2");
  auto pub = TRY(LogPublicKey::FromSpki(key.PublicKeyDer()));
  auto digest = type == crypto::KeyType::kSm2 ? crypto::DigestAlgorithm::kSm3
                                              : crypto::DigestAlgorithm::kSha256;
  auto prepared = TRY(crypto::PreparedSigner::Create(key, digest));
  LogSigner signer(std::move(key), std::move(pub));
  signer.prepared_ = std::move(prepared);
  return signer;
}

Result<Bytes> LogSigner::SignDigitallySigned(ByteView data) const {
  bool sm2 = public_.is_sm2();
  Bytes sig = TRY(prepared_->Sign(data));
  Bytes out;
  out.push_back(sm2 ? kSm2SchemeHigh : kHashSha256);
  out.push_back(sm2 ? kSm2SchemeLow : kSigEcdsa);
  Put(out, sig.size(), 2);
  PutBytes(out, sig);
  return out;
}

Result<SignedCertificateTimestamp> LogSigner::SignSct(uint64_t timestamp_ms,
                                                      const SignedEntry& entry,
                                                      ByteView extensions) const {
  SignedCertificateTimestamp s;
  s.log_id = log_id();
  s.timestamp_ms = timestamp_ms;
  s.extensions.assign(extensions.begin(), extensions.end());
  s.signature = TRY(SignDigitallySigned(EncodeMerkleTreeLeaf(timestamp_ms, entry, extensions)));
  return s;
}

}  // namespace autoseal::ct
