#include "ct/verifier.h"

#include <boost/json.hpp>

#include <cstring>

#include "core/der.h"
#include "core/file.h"
#include "crypto/digest.h"
#include "ct/internal/cert_view.h"
#include "net/client.h"

namespace autoseal::ct {
namespace {

uint64_t Ms(TimePoint t) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

Result<boost::json::object> FetchJson(const std::string& url, std::chrono::milliseconds timeout) {
  net::HttpRequest req;
  req.target = url;
  net::HttpClientOptions o;
  o.timeout = timeout;
  auto res = TRY(net::HttpFetch(req, o));
  if (res.status != 200) return Fail(ErrorCode::kNetwork, url + " answered " + std::to_string(res.status));
  boost::system::error_code ec;
  auto v = boost::json::parse(res.body, ec);
  if (ec || !v.is_object()) return Fail(ErrorCode::kParse, url + " did not return a JSON object");
  return v.as_object();
}

Result<Bytes> B64Field(const boost::json::object& o, const char* name) {
  auto* f = o.if_contains(name);
  if (f == nullptr || !f->is_string()) return Fail(ErrorCode::kParse, std::string("missing ") + name);
  return Base64Decode(std::string_view(f->as_string()));
}

// RFC 6962 §4.5 + §4.3: the log's current tree head (signature checked) and an audit path for
// the leaf in it.
std::string CheckInclusion(const KnownLog& log, const Bytes& leaf, std::chrono::milliseconds timeout) {
  auto sth = FetchJson(log.url + "/ct/v1/get-sth", timeout);
  if (!sth) return "get-sth failed: " + sth.error().message();
  auto* size_v = sth->if_contains("tree_size");
  auto* ts_v = sth->if_contains("timestamp");
  auto root_b = B64Field(*sth, "sha256_root_hash");
  auto sig = B64Field(*sth, "tree_head_signature");
  if (size_v == nullptr || ts_v == nullptr || !root_b || !sig || root_b->size() != 32) return "malformed get-sth";
  uint64_t size = size_v->to_number<uint64_t>(), ts = ts_v->to_number<uint64_t>();
  Hash root = *HashFromBytes(*root_b);
  if (!log.key.VerifyDigitallySigned(TreeHeadSignatureInput(ts, size, root), *sig)) return "tree head signature does not verify";
  Hash lh = HashLeaf(leaf);
  std::string hash_param;
  for (char c : Base64Encode(lh)) {
    if (c == '+') hash_param += "%2B";
    else if (c == '/') hash_param += "%2F";
    else if (c == '=') hash_param += "%3D";
    else hash_param += c;
  }
  auto proof = FetchJson(log.url + "/ct/v1/get-proof-by-hash?hash=" + hash_param + "&tree_size=" + std::to_string(size), timeout);
  if (!proof) return "get-proof-by-hash failed: " + proof.error().message();
  auto* idx = proof->if_contains("leaf_index");
  auto* path = proof->if_contains("audit_path");
  if (idx == nullptr || path == nullptr || !path->is_array()) return "malformed get-proof-by-hash";
  std::vector<Hash> nodes;
  for (const auto& n : path->as_array()) {
    if (!n.is_string()) return "malformed audit path";
    auto b = Base64Decode(std::string_view(n.as_string()));
    if (!b || b->size() != 32) return "malformed audit path";
    nodes.push_back(*HashFromBytes(*b));
  }
  auto st = VerifyInclusion(lh, idx->to_number<uint64_t>(), size, nodes, root);
  if (!st) return "inclusion proof does not verify: " + st.error().message();
  return "included in tree of size " + std::to_string(size);
}

}  // namespace

Result<LogList> LogList::Parse(std::string_view json) {
  boost::system::error_code ec;
  auto v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return Fail(ErrorCode::kParse, "log list is not a JSON object");
  auto* logs = v.as_object().if_contains("logs");
  if (logs == nullptr || !logs->is_array()) return Fail(ErrorCode::kParse, "log list has no \"logs\" array");
  LogList out;
  size_t i = 0;
  for (const auto& e : logs->as_array()) {
    std::string where = "logs[" + std::to_string(i++) + "]";
    if (!e.is_object()) return Fail(ErrorCode::kParse, where + " is not an object");
    const auto& o = e.as_object();
    auto str = [&](const char* k) -> std::string {
      auto* f = o.if_contains(k);
      return f && f->is_string() ? std::string(f->as_string()) : std::string();
    };
    auto key_der = Base64Decode(str("key"));
    if (!key_der || key_der->empty()) return Fail(ErrorCode::kParse, where + ": \"key\" must be a base64 DER SubjectPublicKeyInfo");
    auto key = LogPublicKey::FromSpki(*key_der);
    if (!key) return Fail(key.error().WithContext(where));
    std::string url = str("url");
    while (!url.empty() && url.back() == '/') url.pop_back();
    out.logs_.push_back(KnownLog{str("description"), url, str("operator"), std::move(*key)});
  }
  return out;
}

Result<LogList> LogList::Load(const std::string& path) {
  auto text = TRY(ReadFile(path, 4 << 20));
  return TRY_CONTEXT(Parse(text), path);
}

const KnownLog* LogList::Find(const Hash& log_id) const {
  for (const auto& l : logs_)
    if (l.key.log_id() == log_id) return &l;
  return nullptr;
}

std::string LogList::ToJson() const {
  boost::json::array a;
  for (const auto& l : logs_)
    a.push_back(boost::json::object{{"description", l.description},
                                    {"url", l.url},
                                    {"operator", l.operator_name},
                                    {"key", Base64Encode(l.key.spki())},
                                    {"log_id", Base64Encode(l.key.log_id())}});
  return boost::json::serialize(boost::json::object{{"logs", a}});
}

Result<std::optional<std::vector<SignedCertificateTimestamp>>> EmbeddedScts(ByteView cert_der) {
  internal::CertView view;
  std::string error;
  if (!internal::ParseCertView(cert_der, &view, &error)) return Fail(ErrorCode::kParse, error);
  const auto* ext = view.Find(internal::kOidCtSctList);
  if (ext == nullptr) return std::optional<std::vector<SignedCertificateTimestamp>>();
  // RFC 6962 §3.3: the extnValue holds an OCTET STRING wrapping the TLS-encoded list.
  auto inner = der::ParseSingle(ext->value, der::kOctetString, "SCT list extension");
  if (!inner) return Fail(ErrorCode::kParse, "SCT list extension is not an OCTET STRING");
  return std::optional(TRY(ParseSctList(inner->contents)));
}

Result<SignedEntry> PrecertEntryFromFinal(ByteView cert_der, ByteView issuer_der) {
  internal::CertView leaf, issuer;
  std::string error;
  if (!internal::ParseCertView(cert_der, &leaf, &error)) return Fail(ErrorCode::kParse, error);
  if (!internal::ParseCertView(issuer_der, &issuer, &error)) return Fail(ErrorCode::kParse, "issuer: " + error);
  SignedEntry e;
  e.type = LogEntryType::kPrecert;
  e.certificate = internal::PrecertTbs(leaf, std::nullopt, std::nullopt, internal::kOidCtSctList);
  Bytes ikh = crypto::Digest(crypto::DigestAlgorithm::kSha256, issuer.spki);
  std::memcpy(e.issuer_key_hash.data(), ikh.data(), 32);
  return e;
}

SctReport VerifyEmbeddedScts(const x509::Certificate& leaf, const x509::Certificate& issuer,
                             const LogList& logs, const SctPolicy& policy, TimePoint now) {
  SctReport report;
  Bytes der = leaf.Der();
  auto scts = EmbeddedScts(der);
  if (!scts) {
    report.problems.push_back("embedded SCT list: " + scts.error().message());
    return report;
  }
  if (!*scts || (*scts)->empty()) {
    if (policy.min_valid > 0) report.problems.push_back("the certificate has no embedded SCTs");
    return report;
  }
  auto entry = PrecertEntryFromFinal(der, issuer.Der());
  if (!entry) {
    report.problems.push_back(entry.error().message());
    return report;
  }
  std::vector<Hash> valid_logs;
  for (const auto& s : **scts) {
    SctCheck c;
    c.sct = s;
    const KnownLog* log = logs.Find(s.log_id);
    c.log = log ? (log->description.empty() ? Base64Encode(s.log_id) : log->description) : Base64Encode(s.log_id);
    Bytes signed_data = EncodeMerkleTreeLeaf(s.timestamp_ms, *entry, s.extensions);
    if (log == nullptr) {
      c.status = "unknown log";
    } else if (s.timestamp_ms > Ms(now)) {
      c.status = "future timestamp";  // RFC 6962 §3.2: clients MUST reject SCTs in the future
    } else if (auto st = log->key.VerifyDigitallySigned(signed_data, s.signature); !st) {
      c.status = "invalid";
    } else {
      c.status = "valid";
      bool seen = false;
      for (const auto& v : valid_logs) seen = seen || v == s.log_id;
      if (!seen) valid_logs.push_back(s.log_id);
      if (policy.online) c.inclusion = CheckInclusion(*log, signed_data, policy.timeout);
    }
    if (policy.online && c.status == "valid" && !c.inclusion.starts_with("included"))
      report.problems.push_back("SCT from " + c.log + ": " + c.inclusion);
    report.scts.push_back(std::move(c));
  }
  report.valid_distinct_logs = static_cast<int>(valid_logs.size());
  if (report.valid_distinct_logs < policy.min_valid)
    report.problems.push_back("CT policy needs " + std::to_string(policy.min_valid) +
                              " valid SCTs from distinct known logs, found " + std::to_string(report.valid_distinct_logs));
  return report;
}

}  // namespace autoseal::ct
