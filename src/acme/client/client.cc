#include "acme/client/client.h"

#include <boost/json.hpp>

#include <algorithm>
#include <thread>

#include "acme/jws.h"
#include "core/bytes.h"
#include "core/file.h"
#include "core/log.h"
#include "net/client.h"

namespace autoseal::acme::client {

namespace json = boost::json;

namespace {

constexpr std::string_view kProblemPrefix = "urn:ietf:params:acme:error:";
constexpr size_t kMaxPooledNonces = 32;
constexpr size_t kMaxAlternates = 8;

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) return "";
  return std::string(v->get_string());
}

std::optional<TimePoint> Time(const json::object& o, std::string_view key) {
  std::string s = Str(o, key);
  if (s.empty()) return std::nullopt;
  auto t = ParseRfc3339(s);
  if (!t) return std::nullopt;
  return *t;
}

Result<json::object> ParseObject(std::string_view body, std::string_view what) {
  json::error_code ec;
  json::parse_options opts;
  opts.max_depth = 16;
  json::value v = json::parse(body, ec, {}, opts);
  if (ec || !v.is_object())
    return Fail(ErrorCode::kParse, "the server's " + std::string(what) + " is not a JSON object");
  return std::move(v.get_object());
}

// "type: detail" for a problem object embedded in an order or challenge.
std::string ProblemText(const json::object& o) {
  std::string type = Str(o, "type");
  std::string text = type + ": " + Str(o, "detail");
  if (const json::value* subs = o.if_contains("subproblems"); subs && subs->is_array()) {
    std::string list;
    for (const auto& s : subs->get_array()) {
      if (!s.is_object()) continue;
      const auto& so = s.get_object();
      std::string who;
      if (const json::value* id = so.if_contains("identifier"); id && id->is_object())
        who = Str(id->get_object(), "value") + ": ";
      list += (list.empty() ? "" : "; ") + who + Str(so, "type") + ": " + Str(so, "detail");
    }
    if (!list.empty()) text += " [" + list + "]";
  }
  return text;
}

Identifier ParseIdentifier(const json::value* v) {
  Identifier id;
  if (v && v->is_object()) {
    id.type = Str(v->get_object(), "type");
    id.value = Str(v->get_object(), "value");
  }
  return id;
}

std::vector<std::string> Strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const json::value* v = o.if_contains(key); v && v->is_array())
    for (const auto& s : v->get_array())
      if (s.is_string()) out.emplace_back(s.get_string());
  return out;
}

Result<Order> ParseOrder(std::string_view body, std::string url) {
  auto o = TRY(ParseObject(body, "order"));
  Order order;
  order.url = std::move(url);
  order.status = Str(o, "status");
  if (order.status.empty()) return Fail(ErrorCode::kParse, "the server's order has no status");
  if (const json::value* ids = o.if_contains("identifiers"); ids && ids->is_array())
    for (const auto& id : ids->get_array()) order.identifiers.push_back(ParseIdentifier(&id));
  order.authorizations = Strings(o, "authorizations");
  order.finalize = Str(o, "finalize");
  order.certificate = Str(o, "certificate");
  order.not_before = Time(o, "notBefore");
  order.not_after = Time(o, "notAfter");
  order.expires = Time(o, "expires");
  order.profile = Str(o, "profile");
  order.replaces = Str(o, "replaces");
  if (const json::value* e = o.if_contains("error"); e && e->is_object())
    order.error = ProblemText(e->get_object());
  return order;
}

Challenge ParseChallengeObject(const json::object& o) {
  Challenge c;
  c.url = Str(o, "url");
  c.type = Str(o, "type");
  c.status = Str(o, "status");
  c.token = Str(o, "token");
  if (const json::value* e = o.if_contains("error"); e && e->is_object())
    c.error = ProblemText(e->get_object());
  return c;
}

Result<Authorization> ParseAuthorization(std::string_view body, std::string url) {
  auto o = TRY(ParseObject(body, "authorization"));
  Authorization a;
  a.url = std::move(url);
  a.status = Str(o, "status");
  if (a.status.empty()) return Fail(ErrorCode::kParse, "the server's authorization has no status");
  a.identifier = ParseIdentifier(o.if_contains("identifier"));
  if (const json::value* w = o.if_contains("wildcard"); w && w->is_bool()) a.wildcard = w->get_bool();
  a.expires = Time(o, "expires");
  if (const json::value* cs = o.if_contains("challenges"); cs && cs->is_array())
    for (const auto& c : cs->get_array())
      if (c.is_object()) a.challenges.push_back(ParseChallengeObject(c.get_object()));
  return a;
}

Result<Account> ParseAccount(std::string_view body, std::string url) {
  auto o = TRY(ParseObject(body, "account"));
  Account a;
  a.url = std::move(url);
  a.status = Str(o, "status");
  a.contact = Strings(o, "contact");
  a.orders = Str(o, "orders");
  return a;
}

std::string Location(const net::HttpResponse& r) {
  auto v = r.Header("Location");
  return v ? std::string(*v) : std::string();
}

}  // namespace

Error ProblemError(std::string_view body, int http_status) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object() && !Str(v.get_object(), "type").empty()) {
    const json::object& o = v.get_object();
    std::string type = Str(o, "type");
    ErrorCode code = ErrorCode::kPolicy;
    if (type == std::string(kProblemPrefix) + "serverInternal" ||
        type == std::string(kProblemPrefix) + "badNonce")
      code = ErrorCode::kNetwork;
    return Error(code, ProblemText(o));
  }
  std::string snippet(body.substr(0, 200));
  for (char& c : snippet)
    if (c == '\n' || c == '\r') c = ' ';
  return Error(http_status >= 500 ? ErrorCode::kNetwork : ErrorCode::kPolicy,
               "HTTP " + std::to_string(http_status) + " from server" +
                   (snippet.empty() ? "" : ": " + snippet));
}

bool IsProblem(const Error& error, ProblemType type) {
  std::string urn = std::string(kProblemPrefix) + std::string(ProblemTypeName(type)) + ":";
  return error.message().find(urn) != std::string::npos;
}

Client::Client(ClientOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.directory_url.empty())
    return Fail(ErrorCode::kInvalidArgument, "no ACME directory URL given");
  std::unique_ptr<Client> c(new Client(std::move(options)));
  TRY(c->FetchDirectory());
  return c;
}

void Client::Sleep(std::chrono::milliseconds d) const {
  if (d <= std::chrono::milliseconds::zero()) return;
  if (options_.sleep)
    options_.sleep(d);
  else
    std::this_thread::sleep_for(d);
}

Result<net::HttpResponse> Client::Fetch(net::HttpRequest request) {
  net::HttpClientOptions o;
  o.timeout = options_.request_timeout;
  o.max_response_body_bytes = options_.max_response_bytes;
  o.ca_file = options_.ca_file;
  o.ca_pem = options_.ca_pem;
  o.user_agent = options_.user_agent;
  request.SetHeader("Accept-Language", "en");
  return net::HttpFetch(request, o);
}

Status Client::FetchDirectory() {
  net::HttpRequest req;
  req.method = "GET";
  req.target = options_.directory_url;
  auto resp = TRY_CONTEXT(Fetch(req), "ACME directory");
  if (resp.status != 200)
    return Fail(ProblemError(resp.body, resp.status).WithContext("ACME directory " + options_.directory_url));
  auto o = TRY_CONTEXT(ParseObject(resp.body, "directory"), options_.directory_url);
  Directory& d = directory_;
  d.new_nonce = Str(o, "newNonce");
  d.new_account = Str(o, "newAccount");
  d.new_order = Str(o, "newOrder");
  d.new_authz = Str(o, "newAuthz");
  d.revoke_cert = Str(o, "revokeCert");
  d.key_change = Str(o, "keyChange");
  d.renewal_info = Str(o, "renewalInfo");
  while (d.renewal_info.ends_with("/")) d.renewal_info.pop_back();
  if (const json::value* m = o.if_contains("meta"); m && m->is_object()) {
    const json::object& meta = m->get_object();
    d.terms_of_service = Str(meta, "termsOfService");
    d.website = Str(meta, "website");
    d.caa_identities = Strings(meta, "caaIdentities");
    if (const json::value* e = meta.if_contains("externalAccountRequired"); e && e->is_bool())
      d.external_account_required = e->get_bool();
    if (const json::value* p = meta.if_contains("profiles"); p && p->is_object())
      for (const auto& [name, desc] : p->get_object())
        d.profiles[std::string(name)] = desc.is_string() ? std::string(desc.get_string()) : "";
  }
  if (d.new_nonce.empty() || d.new_account.empty() || d.new_order.empty())
    return Fail(ErrorCode::kParse, "ACME directory " + options_.directory_url +
                                       " lacks newNonce, newAccount or newOrder");
  return Ok();
}

void Client::StoreNonce(const net::HttpResponse& response) {
  auto n = response.Header("Replay-Nonce");
  if (!n || n->empty()) return;
  std::lock_guard lock(mutex_);
  if (nonces_.size() >= kMaxPooledNonces) nonces_.erase(nonces_.begin());
  nonces_.emplace_back(*n);
}

Result<std::string> Client::TakeNonce() {
  {
    std::lock_guard lock(mutex_);
    if (!nonces_.empty()) {
      std::string n = std::move(nonces_.back());
      nonces_.pop_back();
      return n;
    }
  }
  // RFC 8555 §7.2: HEAD newNonce answers 200 with a Replay-Nonce.
  net::HttpRequest req;
  req.method = "HEAD";
  req.target = directory_.new_nonce;
  auto resp = TRY_CONTEXT(Fetch(req), "newNonce");
  auto n = resp.Header("Replay-Nonce");
  if (resp.status >= 400 || !n || n->empty())
    return Fail(ErrorCode::kNetwork, "newNonce " + directory_.new_nonce + " gave no Replay-Nonce (HTTP " +
                                         std::to_string(resp.status) + ")");
  return std::string(*n);
}

Result<net::HttpResponse> Client::Post(const std::string& url, const std::string& payload,
                                       const crypto::PrivateKey* jwk_key) {
  for (int attempt = 0;; ++attempt) {
    std::optional<crypto::PrivateKey> key;
    std::string kid;
    if (jwk_key) {
      key = *jwk_key;
    } else {
      std::lock_guard lock(mutex_);
      if (!account_key_ || account_url_.empty())
        return Fail(ErrorCode::kInvalidArgument, "no ACME account (call LoadOrCreateAccount first)");
      key = *account_key_;
      kid = account_url_;
    }
    std::string nonce = TRY(TakeNonce());
    net::HttpRequest req;
    req.method = "POST";
    req.target = url;
    req.SetHeader("Content-Type", "application/jose+json");
    req.body = TRY(SignJws(*key, url, nonce, kid, payload));
    auto resp = TRY(Fetch(std::move(req)));
    StoreNonce(resp);
    if (resp.status < 400) return resp;
    Error e = ProblemError(resp.body, resp.status);
    // RFC 8555 §6.5: on badNonce "clients SHOULD retry the request using the new nonce".
    if (IsProblem(e, ProblemType::kBadNonce) && attempt < options_.max_bad_nonce_retries) {
      Log(LogLevel::kDebug, "acme: badNonce, retrying", {{"url", url}});
      continue;
    }
    return Fail(std::move(e));
  }
}

Result<net::HttpResponse> Client::PostAsGet(const std::string& url) { return Post(url, ""); }

void Client::UseAccount(crypto::PrivateKey key, std::string account_url) {
  std::lock_guard lock(mutex_);
  account_key_ = std::move(key);
  account_url_ = std::move(account_url);
}

std::string Client::AccountUrl() const {
  std::lock_guard lock(mutex_);
  return account_url_;
}

Result<std::string> Client::AccountThumbprint() const {
  std::optional<crypto::PrivateKey> key;
  {
    std::lock_guard lock(mutex_);
    key = account_key_;
  }
  if (!key) return Fail(ErrorCode::kInvalidArgument, "no ACME account key");
  return JwkThumbprint(*key);
}

Result<Account> Client::LoadOrCreateAccount(const AccountOptions& options) {
  if (options.dir.empty()) return Fail(ErrorCode::kInvalidArgument, "no account directory given");
  TRY(MakeDirectories(options.dir, 0700));
  const std::string key_path = options.dir + "/account.key";
  std::optional<crypto::PrivateKey> key;
  if (FileExists(key_path)) {
    key = TRY(crypto::LoadPrivateKey(key_path));
  } else {
    auto generated = TRY(crypto::PrivateKey::Generate(options.key_type));
    auto saved = crypto::SavePrivateKey(key_path, generated);
    if (!saved && saved.error().code() == ErrorCode::kAlreadyExists)
      key = TRY(crypto::LoadPrivateKey(key_path));  // another process made one first
    else if (!saved)
      return Fail(saved.error());
    else
      key = std::move(generated);
  }
  TRY_CONTEXT(AlgorithmForKey(*key), "account key " + key_path);

  // RFC 8555 §7.3.1: onlyReturnExisting finds the account for this key without creating one.
  auto existing = Post(directory_.new_account, R"({"onlyReturnExisting":true})", &*key);
  std::optional<net::HttpResponse> resp;
  if (existing) {
    resp = std::move(*existing);
  } else if (IsProblem(existing.error(), ProblemType::kAccountDoesNotExist)) {
    if (!directory_.terms_of_service.empty() && !options.terms_of_service_agreed)
      return Fail(ErrorCode::kPolicy, "the CA's terms of service (" + directory_.terms_of_service +
                                          ") must be agreed to before an account is created");
    if (directory_.external_account_required && !options.eab)
      return Fail(ErrorCode::kPolicy,
                  "the CA requires External Account Binding (give an EAB key id and HMAC key)");
    json::object p;
    if (!options.contact.empty()) {
      json::array c;
      for (const auto& s : options.contact) c.emplace_back(s);
      p["contact"] = std::move(c);
    }
    if (options.terms_of_service_agreed) p["termsOfServiceAgreed"] = true;
    if (options.eab) {
      auto eab = TRY(SignExternalAccountBinding(options.eab->hmac_key, options.eab->kid,
                                                directory_.new_account, *key));
      p["externalAccountBinding"] = json::parse(eab);
    }
    resp = TRY_CONTEXT(Post(directory_.new_account, json::serialize(p), &*key), "newAccount");
  } else {
    return Fail(existing.error().WithContext("newAccount"));
  }
  std::string url = Location(*resp);
  if (url.empty()) return Fail(ErrorCode::kParse, "newAccount answer has no Location");
  auto account = TRY(ParseAccount(resp->body, url));
  if (account.status != "valid")
    return Fail(ErrorCode::kPolicy, "ACME account " + url + " is " + account.status);
  json::object meta{{"url", url}, {"directory", options_.directory_url}};
  TRY(WriteFileAtomic(options.dir + "/account.json", json::serialize(meta) + "\n", 0600));
  UseAccount(std::move(*key), url);
  return account;
}

Result<Account> Client::FetchAccount() {
  std::string url = AccountUrl();
  auto resp = TRY_CONTEXT(PostAsGet(url), "account");
  return ParseAccount(resp.body, url);
}

Result<Account> Client::DeactivateAccount() {
  std::string url = AccountUrl();
  // RFC 8555 §7.3.6: POST {"status": "deactivated"} to the account URL.
  auto resp = TRY_CONTEXT(Post(url, R"({"status":"deactivated"})"), "account deactivation");
  return ParseAccount(resp.body, url);
}

Status Client::ChangeAccountKey(const crypto::PrivateKey& new_key) {
  if (directory_.key_change.empty()) return Fail(ErrorCode::kUnsupported, "the CA has no keyChange");
  std::optional<crypto::PrivateKey> old_key;
  std::string kid;
  {
    std::lock_guard lock(mutex_);
    old_key = account_key_;
    kid = account_url_;
  }
  if (!old_key || kid.empty()) return Fail(ErrorCode::kInvalidArgument, "no ACME account");
  TRY_CONTEXT(AlgorithmForKey(new_key), "new account key");
  // RFC 8555 §7.3.5: the inner JWS is signed by the new key, carries its jwk and the keyChange
  // url but no nonce; its payload names the account and the old key.
  json::object inner_payload{{"account", kid}, {"oldKey", json::parse(TRY(JwkJson(*old_key)))}};
  auto inner = TRY(SignJws(new_key, directory_.key_change, "", "", json::serialize(inner_payload)));
  TRY_CONTEXT(Post(directory_.key_change, inner), "keyChange");
  std::lock_guard lock(mutex_);
  account_key_ = new_key;
  return Ok();
}

Result<Order> Client::NewOrder(const NewOrderRequest& request) {
  if (request.identifiers.empty()) return Fail(ErrorCode::kInvalidArgument, "an order needs identifiers");
  json::object p;
  json::array ids;
  for (const auto& id : request.identifiers) ids.push_back(json::object{{"type", id.type}, {"value", id.value}});
  p["identifiers"] = std::move(ids);
  if (request.not_before) p["notBefore"] = FormatRfc3339(*request.not_before);
  if (request.not_after) p["notAfter"] = FormatRfc3339(*request.not_after);
  if (!request.profile.empty()) p["profile"] = request.profile;
  if (!request.replaces.empty()) p["replaces"] = request.replaces;
  auto resp = TRY_CONTEXT(Post(directory_.new_order, json::serialize(p)), "newOrder");
  std::string url = Location(resp);
  if (url.empty()) return Fail(ErrorCode::kParse, "newOrder answer has no Location");
  return ParseOrder(resp.body, ResolveUrl(directory_.new_order, url));
}

Result<Order> Client::FetchOrder(const std::string& url) {
  auto resp = TRY_CONTEXT(PostAsGet(url), "order " + url);
  auto order = TRY(ParseOrder(resp.body, url));
  if (auto ra = resp.Header("Retry-After"))
    if (auto t = ParseRetryAfter(*ra, options_.clock->Now())) order.retry_after = *t;
  return order;
}

Result<Authorization> Client::FetchAuthorization(const std::string& url) {
  auto resp = TRY_CONTEXT(PostAsGet(url), "authorization " + url);
  return ParseAuthorization(resp.body, url);
}

Result<Challenge> Client::RespondToChallenge(const std::string& url) {
  auto resp = TRY_CONTEXT(Post(url, "{}"), "challenge " + url);
  auto o = TRY(ParseObject(resp.body, "challenge"));
  auto c = ParseChallengeObject(o);
  if (c.url.empty()) c.url = url;
  return c;
}

Result<Authorization> Client::DeactivateAuthorization(const std::string& url) {
  auto resp = TRY_CONTEXT(Post(url, R"({"status":"deactivated"})"), "authorization " + url);
  return ParseAuthorization(resp.body, url);
}

std::chrono::milliseconds Client::NextWait(std::chrono::milliseconds computed,
                                           const net::HttpResponse& response) const {
  std::chrono::milliseconds wait = computed;
  if (auto ra = response.Header("Retry-After")) {
    if (auto t = ParseRetryAfter(*ra, options_.clock->Now())) {
      wait = std::chrono::duration_cast<std::chrono::milliseconds>(*t - options_.clock->Now());
      wait = std::min(wait, options_.max_poll_interval * 6);
    }
  }
  return std::max(wait, options_.initial_poll_interval);
}

Result<Authorization> Client::PollAuthorization(const std::string& url) {
  auto interval = options_.initial_poll_interval;
  std::chrono::milliseconds waited{0};
  while (true) {
    auto resp = TRY_CONTEXT(PostAsGet(url), "authorization " + url);
    auto authz = TRY(ParseAuthorization(resp.body, url));
    if (authz.status != "pending") return authz;
    auto wait = NextWait(interval, resp);
    if (waited + wait > options_.poll_timeout)
      return Fail(ErrorCode::kTimeout, "authorization for " + authz.identifier.value +
                                           " still pending after polling for " +
                                           std::to_string(waited.count() / 1000) + " s");
    Sleep(wait);
    waited += wait;
    interval = std::min(interval * 2, options_.max_poll_interval);
  }
}

Result<Order> Client::PollOrder(const std::string& url) {
  auto interval = options_.initial_poll_interval;
  std::chrono::milliseconds waited{0};
  while (true) {
    auto resp = TRY_CONTEXT(PostAsGet(url), "order " + url);
    auto order = TRY(ParseOrder(resp.body, url));
    if (order.status != "pending" && order.status != "processing") return order;
    auto wait = NextWait(interval, resp);
    if (waited + wait > options_.poll_timeout)
      return Fail(ErrorCode::kTimeout, "order " + url + " still " + order.status +
                                           " after polling for " + std::to_string(waited.count() / 1000) +
                                           " s");
    Sleep(wait);
    waited += wait;
    interval = std::min(interval * 2, options_.max_poll_interval);
  }
}

Result<Order> Client::FinalizeOrder(const Order& order, ByteView csr_der) {
  if (order.finalize.empty()) return Fail(ErrorCode::kParse, "order has no finalize URL");
  json::object p{{"csr", Base64UrlEncode(csr_der)}};
  auto resp = TRY_CONTEXT(Post(order.finalize, json::serialize(p)), "finalize");
  auto updated = TRY(ParseOrder(resp.body, order.url));
  if (auto ra = resp.Header("Retry-After"))
    if (auto t = ParseRetryAfter(*ra, options_.clock->Now())) updated.retry_after = *t;
  return updated;
}

Result<CertificateChains> Client::DownloadCertificate(const std::string& url) {
  CertificateChains out;
  out.url = url;
  auto resp = TRY_CONTEXT(PostAsGet(url), "certificate download");
  auto add = [&out](const net::HttpResponse& r, const std::string& from) -> Status {
    auto certs = TRY_CONTEXT(x509::Certificate::ParseAll(r.body), "certificate chain from " + from);
    out.pem.push_back(r.body);
    out.chains.push_back(std::move(certs));
    return Ok();
  };
  TRY(add(resp, url));
  auto alternates = LinkTargets(resp.headers, "alternate", url);
  if (alternates.size() > kMaxAlternates) alternates.resize(kMaxAlternates);
  for (const auto& alt : alternates) {
    auto r = TRY_CONTEXT(PostAsGet(alt), "alternate chain");
    TRY(add(r, alt));
  }
  return out;
}

Status Client::RevokeCertificate(const x509::Certificate& cert, std::optional<int> reason,
                                 const crypto::PrivateKey* cert_key) {
  if (directory_.revoke_cert.empty()) return Fail(ErrorCode::kUnsupported, "the CA has no revokeCert");
  json::object p{{"certificate", Base64UrlEncode(cert.Der())}};
  if (reason) p["reason"] = *reason;
  TRY_CONTEXT(Post(directory_.revoke_cert, json::serialize(p), cert_key), "revokeCert");
  return Ok();
}

Result<RenewalInfo> Client::FetchRenewalInfo(const x509::Certificate& cert) {
  if (directory_.renewal_info.empty())
    return Fail(ErrorCode::kUnsupported, "the CA does not offer renewal information (ARI)");
  std::string id = TRY(RenewalCertId(cert));
  net::HttpRequest req;
  req.method = "GET";
  req.target = directory_.renewal_info + "/" + id;
  auto resp = TRY_CONTEXT(Fetch(req), "renewalInfo");
  if (resp.status != 200) return Fail(ProblemError(resp.body, resp.status).WithContext("renewalInfo"));
  auto info = TRY_CONTEXT(ParseRenewalInfo(resp.body), "renewalInfo");
  if (auto ra = resp.Header("Retry-After"))
    if (auto t = ParseRetryAfter(*ra, options_.clock->Now())) info.retry_after = *t;
  return info;
}

}  // namespace autoseal::acme::client
