#include "ct/service.h"

#include <boost/json.hpp>

#include <cctype>
#include <charconv>

#include "core/file.h"
#include "core/log.h"
#include "ct/internal/http_front.h"

namespace autoseal::ct {
namespace {

net::HttpResponse Json(const boost::json::value& v) {
  return net::HttpResponse::Make(200, "application/json", boost::json::serialize(v));
}

boost::json::array HashArray(const std::vector<Hash>& hs) {
  boost::json::array a;
  for (const auto& h : hs) a.push_back(boost::json::string(Base64Encode(h)));
  return a;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = HexDecode(s.substr(i + 1, 2));
      if (hex && hex->size() == 1) {
        out.push_back(static_cast<char>((*hex)[0]));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// The value of parameter name in a query string, percent-decoded ('+' stays '+': base64).
std::optional<std::string> Param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    auto eq = part.find('=');
    if (part.substr(0, eq) == name) return PercentDecode(eq == std::string_view::npos ? "" : part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

Result<uint64_t> IntParam(std::string_view query, std::string_view name) {
  auto v = Param(query, name);
  if (!v) return Fail(ErrorCode::kInvalidArgument, "missing parameter " + std::string(name));
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || v->empty())
    return Fail(ErrorCode::kInvalidArgument, "parameter " + std::string(name) + " must be a non-negative integer");
  return n;
}

int StatusFor(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kParse:
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kPolicy:
    case ErrorCode::kCrypto:
    case ErrorCode::kNotFound:
      return 400;
    case ErrorCode::kUnsupported:
      return 503;
    default:
      return 500;
  }
}

uint64_t Ms(const Clock& c) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(c.Now().time_since_epoch()).count());
}

}  // namespace

net::HttpResponse JsonError(int status, std::string_view message) {
  boost::json::object o;
  o["success"] = false;
  o["error"] = message;
  return net::HttpResponse::Make(status, "application/json", boost::json::serialize(o));
}

Result<crypto::KeyType> ParseLogKeyType(std::string_view name) {
  if (name == "ecdsa") return crypto::KeyType::kEcdsaP256;
  if (name == "sm2") return crypto::KeyType::kSm2;
  return Fail(ErrorCode::kInvalidArgument, "log key type must be ecdsa or sm2");
}

std::string LogDirectory(const std::string& dir, crypto::KeyType key_type) {
  return dir + "/ct/" + (key_type == crypto::KeyType::kSm2 ? "sm2" : "ecdsa");
}

Result<std::vector<x509::Certificate>> LocalCaRoots(const std::string& dir) {
  std::vector<x509::Certificate> roots;
  for (const char* h : {"ecc", "rsa", "sm2"}) {
    std::string path = dir + "/ca/" + h + "/root.pem";
    if (!FileExists(path)) continue;
    auto pem = TRY(ReadFile(path));
    roots.push_back(TRY_CONTEXT(x509::Certificate::FromPem(pem), path));
  }
  if (roots.empty())
    return Fail(ErrorCode::kNotFound, "no accepted roots: pass --roots FILE or run `autoseal ca init --dir " + dir + "`");
  return roots;
}

Result<std::unique_ptr<CtService>> CtService::Create(ServiceOptions options) {
  std::unique_ptr<CtService> s(new CtService());
  if (options.roots.empty()) options.roots = TRY(LocalCaRoots(options.dir));
  s->options_ = std::move(options);
  s->validator_ = std::make_unique<ChainValidator>(s->options_.roots, s->options_.chain_policy);
  boost::json::array roots;
  for (const auto& r : s->options_.roots) roots.push_back(boost::json::string(Base64Encode(r.Der())));
  s->roots_json_ = boost::json::serialize(boost::json::object{{"certificates", roots}});

  internal::FrontOptions fo;
  fo.listen = s->options_.listen;
  fo.threads = s->options_.threads;
  fo.max_body_bytes = s->options_.max_body_bytes;
  fo.too_large = JsonError(400, "request body exceeds " + std::to_string(s->options_.max_body_bytes) + " bytes");
  fo.malformed = [](int status, std::string_view problem) { return JsonError(status, problem); };
  CtService* self = s.get();
  s->front_ = TRY(internal::HttpFront::Create(
      fo, [self](const net::HttpRequest& r, internal::Respond respond) { self->Handle(r, std::move(respond)); }));

  LogOptions lo;
  lo.dir = LogDirectory(s->options_.dir, s->options_.key_type);
  lo.origin = s->options_.origin.empty() ? s->front_->LocalAddress() : s->options_.origin;
  lo.key_type = s->options_.key_type;
  lo.period = s->options_.period;
  lo.max_pool = s->options_.max_pool;
  lo.clock = s->options_.clock;
  s->log_ = TRY(Log::Open(std::move(lo)));
  return s;
}

CtService::~CtService() { Stop(); }

void CtService::Start() {
  log_->Start();
  front_->Start();
}

void CtService::Stop() {
  if (front_) front_->Stop();
  if (log_) log_->Stop();
}

uint16_t CtService::Port() const { return front_->Port(); }
std::string CtService::LocalAddress() const { return front_->LocalAddress(); }

void CtService::Handle(const net::HttpRequest& request, std::function<void(net::HttpResponse)> respond) {
  std::string_view path = request.Path();
  if (path == "/ct/v1/add-chain" || path == "/ct/v1/add-pre-chain") {
    if (request.method != "POST") {
      respond(JsonError(405, "use POST"));
      return;
    }
    AddChain(request, path == "/ct/v1/add-pre-chain", std::move(respond));
    return;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    respond(JsonError(405, "use GET"));
    return;
  }
  respond(HandleGet(request));
}

void CtService::AddChain(const net::HttpRequest& request, bool precert,
                         std::function<void(net::HttpResponse)> respond) {
  auto chain = ParseAddChainRequest(request.body);
  if (!chain) {
    respond(JsonError(400, chain.error().message()));
    return;
  }
  auto accepted = validator_->Validate(*chain, precert, options_.clock->Now());
  if (!accepted) {
    respond(JsonError(400, accepted.error().message()));
    return;
  }
  log_->Submit(std::move(*accepted), [respond = std::move(respond)](Result<SignedCertificateTimestamp> sct) {
    if (!sct) {
      respond(JsonError(sct.error().code() == ErrorCode::kPolicy || sct.error().code() == ErrorCode::kUnsupported ? 503 : 500,
                        sct.error().message()));
      return;
    }
    respond(net::HttpResponse::Make(200, "application/json", sct->ToJson()));
  });
}

net::HttpResponse CtService::HandleGet(const net::HttpRequest& request) {
  std::string_view path = request.Path();
  std::string_view q = request.Query();
  auto fail = [](const Error& e) { return JsonError(StatusFor(e), e.message()); };
  if (path == "/ct/v1/get-sth") {
    SignedTreeHead h = log_->LatestTreeHead();
    return Json(boost::json::object{{"tree_size", h.tree_size},
                                    {"timestamp", h.timestamp_ms},
                                    {"sha256_root_hash", Base64Encode(h.root)},
                                    {"tree_head_signature", Base64Encode(h.signature)}});
  }
  if (path == "/ct/v1/get-sth-consistency") {
    auto first = IntParam(q, "first");
    if (!first) return fail(first.error());
    auto second = IntParam(q, "second");
    if (!second) return fail(second.error());
    auto proof = log_->ConsistencyProof(*first, *second);
    if (!proof) return fail(proof.error());
    return Json(boost::json::object{{"consistency", HashArray(*proof)}});
  }
  if (path == "/ct/v1/get-proof-by-hash") {
    auto hash_b64 = Param(q, "hash");
    if (!hash_b64) return JsonError(400, "missing parameter hash");
    auto hash_bytes = Base64Decode(*hash_b64);
    if (!hash_bytes || hash_bytes->size() != 32) return JsonError(400, "hash must be a base64 SHA-256 leaf hash");
    auto size = IntParam(q, "tree_size");
    if (!size) return fail(size.error());
    auto r = log_->ProofByHash(*HashFromBytes(*hash_bytes), *size);
    if (!r) return fail(r.error());
    return Json(boost::json::object{{"leaf_index", r->first}, {"audit_path", HashArray(r->second)}});
  }
  if (path == "/ct/v1/get-entries") {
    auto start = IntParam(q, "start");
    if (!start) return fail(start.error());
    auto end = IntParam(q, "end");
    if (!end) return fail(end.error());
    auto entries = log_->GetEntries(*start, *end);
    if (!entries) return fail(entries.error());
    boost::json::array a;
    for (const auto& e : *entries)
      a.push_back(boost::json::object{{"leaf_input", Base64Encode(e.leaf_input)}, {"extra_data", Base64Encode(e.extra_data)}});
    return Json(boost::json::object{{"entries", a}});
  }
  if (path == "/ct/v1/get-roots") return net::HttpResponse::Make(200, "application/json", roots_json_);
  if (path == "/ct/v1/get-entry-and-proof") {
    auto index = IntParam(q, "leaf_index");
    if (!index) return fail(index.error());
    auto size = IntParam(q, "tree_size");
    if (!size) return fail(size.error());
    auto proof = log_->InclusionProof(*index, *size);
    if (!proof) return fail(proof.error());
    auto entries = log_->GetEntries(*index, *index, 1);
    if (!entries || entries->empty()) return fail(entries ? Error(ErrorCode::kNotFound, "no such entry") : entries.error());
    const LogEntry& e = entries->front();
    return Json(boost::json::object{{"leaf_input", Base64Encode(e.leaf_input)},
                                    {"extra_data", Base64Encode(e.extra_data)},
                                    {"audit_path", HashArray(*proof)}});
  }
  if (path == "/log.json") {
    const auto& pub = log_->signer().public_key();
    return Json(boost::json::object{{"log_id", Base64Encode(pub.log_id())},
                                    {"key", Base64Encode(pub.spki())},
                                    {"key_type", pub.is_sm2() ? "sm2" : "ecdsa"},
                                    {"signature_algorithm", pub.is_sm2() ? "sm2sig_sm3 (0x0708)" : "ecdsa_secp256r1_sha256 (4,3)"},
                                    {"mmd", 60}});
  }
  if (path == "/health") {
    SignedTreeHead h = log_->LatestTreeHead();
    uint64_t age = Ms(*options_.clock) - std::min(Ms(*options_.clock), h.timestamp_ms);
    return Json(boost::json::object{{"status", "ok"}, {"tree_size", h.tree_size}, {"sth_age_ms", age}});
  }
  if (path == "/checkpoint") {
    auto r = net::HttpResponse::Make(200, "text/plain; charset=utf-8", log_->Checkpoint());
    r.SetHeader("Cache-Control", "no-store");
    return r;
  }
  if (path.starts_with("/tile/") || path.starts_with("/issuer/")) return ServeStatic(path);
  return JsonError(404, "no such endpoint");
}

net::HttpResponse CtService::ServeStatic(std::string_view path) {
  // Only the names the log writes: digits, x, '.', 'p', '/', "data", lower-case hex.
  for (char c : path)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' ) ) return JsonError(404, "no such file");
  if (path.find("..") != std::string_view::npos) return JsonError(404, "no such file");
  auto data = ReadFile(log_->static_dir() + std::string(path), 64 << 20);
  if (!data) return JsonError(404, "no such file");
  bool issuer = path.starts_with("/issuer/");
  auto r = net::HttpResponse::Make(200, issuer ? "application/pkix-cert" : "application/octet-stream", std::move(*data));
  if (path.find(".p/") == std::string_view::npos) r.SetHeader("Cache-Control", "public, max-age=604800, immutable");
  return r;
}

}  // namespace autoseal::ct
