#include "tsa/service.h"

#include "core/file.h"
#include "core/log.h"
#include "store/sqlite.h"
#include "tsa/client.h"

namespace autoseal::tsa {
namespace {

std::string FamilyDir(crypto::KeyType type) {
  switch (crypto::FamilyOf(type)) {
    case crypto::KeyFamily::kRsa: return "rsa";
    case crypto::KeyFamily::kSm2: return "sm2";
    default: return "ecdsa";
  }
}

Result<std::vector<x509::Certificate>> LoadChain(const std::string& path) {
  std::string pem = TRY(ReadFile(path));
  return TRY_CONTEXT(x509::Certificate::ParseAll(pem), path);
}

}  // namespace

Result<crypto::KeyType> ParseTsaKeyType(std::string_view name) {
  if (name == "ecdsa" || name == "ecdsa-p256") return crypto::KeyType::kEcdsaP256;
  if (name == "rsa" || name == "rsa3072") return crypto::KeyType::kRsa3072;
  if (name == "sm2") return crypto::KeyType::kSm2;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown TSA key type '" + std::string(name) + "' (ecdsa, rsa or sm2)");
}

Result<Identity> LoadOrCreateIdentity(const ServiceOptions& options) {
  if (!options.cert_file.empty() || !options.key_file.empty()) {
    if (options.cert_file.empty() || options.key_file.empty())
      return Fail(ErrorCode::kInvalidArgument, "--cert and --key go together");
    crypto::PrivateKey key = TRY(crypto::LoadPrivateKey(options.key_file));
    std::vector<x509::Certificate> chain = TRY(LoadChain(options.cert_file));
    return Identity{.key = key, .chain = chain, .key_path = options.key_file,
                    .chain_path = options.cert_file};
  }
  std::string dir = options.dir + "/tsa/" + FamilyDir(options.key_type);
  std::string key_path = dir + "/tsa.key";
  std::string chain_path = dir + "/tsa-chain.pem";
  if (FileExists(chain_path)) {
    crypto::PrivateKey key = TRY(crypto::LoadPrivateKey(key_path));
    std::vector<x509::Certificate> chain = TRY(LoadChain(chain_path));
    return Identity{.key = key, .chain = chain, .key_path = key_path, .chain_path = chain_path};
  }
  if (!options.issuer)
    return Fail(ErrorCode::kNotFound, "no TSA certificate in " + dir +
                                          ": pass --ca-dir DIR to have the local CA issue one, "
                                          "or --cert FILE --key FILE");
  TRY(MakeDirectories(dir, 0700));
  if (!FileExists(key_path)) {
    crypto::PrivateKey fresh = TRY(crypto::PrivateKey::Generate(options.key_type));
    auto saved = crypto::SavePrivateKey(key_path, fresh);
    if (!saved && saved.error().code() != ErrorCode::kAlreadyExists) return Fail(saved.error());
  }
  // Whatever is on disk is the key: ours, one an interrupted earlier start left without its
  // certificate, or one a concurrent first start wrote first. It is never replaced.
  crypto::PrivateKey key = TRY(crypto::LoadPrivateKey(key_path));
  x509::CsrOptions csr_options;
  csr_options.common_name = "autoseal TSA (" + FamilyDir(options.key_type) + ")";
  x509::CertificateRequest csr = TRY(x509::CreateCertificateRequest(key, csr_options));
  std::vector<x509::Certificate> chain =
      TRY_CONTEXT(options.issuer(csr), "cannot have the CA issue the TSA certificate");
  if (chain.empty() || !chain.front().PublicKey().Equals(key.Public()))
    return Fail(ErrorCode::kInternal, "the CA returned a certificate for another key");
  bool created = true;
  auto written = WriteFileAtomic(chain_path, x509::ToPemBundle(chain), 0644, Overwrite::kNo);
  if (!written) {
    if (written.error().code() != ErrorCode::kAlreadyExists) return Fail(written.error());
    chain = TRY(LoadChain(chain_path));  // a concurrent first start stored one first
    created = false;
  }
  return Identity{.key = key, .chain = chain, .key_path = key_path, .chain_path = chain_path,
                  .created = created};
}

Result<std::unique_ptr<TsaService>> TsaService::Create(ServiceOptions options) {
  auto service = std::unique_ptr<TsaService>(new TsaService());
  TRY(MakeDirectories(options.dir + "/tsa", 0700));
  service->db_ = TRY(store::OpenSqlite(options.dir + "/tsa/tsa.db", TsaMigrations()));
  service->serials_ = TRY(EpochSerialSource::Create(*service->db_));
  if (options.clock_status == nullptr) {
    service->own_clock_status_ = std::make_unique<KernelClockStatus>();
    service->clock_status_ = service->own_clock_status_.get();
  } else {
    service->clock_status_ = options.clock_status;
  }
  service->identity_ = TRY(LoadOrCreateIdentity(options));

  ResponderOptions r{.key = service->identity_->key, .chain = service->identity_->chain};
  r.policy_oid = options.policy_oid;
  r.accuracy_micros = options.accuracy_micros;
  r.precision_digits = options.precision_digits;
  r.clock = options.clock;
  r.serials = service->serials_.get();
  r.clock_status = service->clock_status_;
  r.require_synced_clock = options.require_synced_clock;
  service->responder_ = TRY(Responder::Create(std::move(r)));

  net::HttpServerOptions http;
  http.listen_address = options.listen;
  http.threads = options.threads;
  http.max_body_bytes = options.max_body_bytes;
  service->options_ = std::move(options);
  const TsaService* self = service.get();
  service->server_ = TRY(net::HttpServer::Create(
      http, [self](const net::HttpRequest& request) { return self->Handle(request); }));
  return service;
}

TsaService::~TsaService() { Stop(); }

void TsaService::Start() { server_->Start(); }

void TsaService::Stop() {
  if (server_) server_->Stop();
}

net::HttpResponse TsaService::Health() const {
  ClockState clock = clock_status_->Check();
  ResponderStats stats = responder_->Stats();
  bool serving = clock.synchronized || !options_.require_synced_clock;
  const x509::Certificate& cert = identity_->chain.front();
  std::string body = "{\"status\":\"";
  body += !serving ? "unavailable" : clock.synchronized ? "ok" : "degraded";
  body += "\",\"clock\":{\"synchronized\":";
  body += clock.synchronized ? "true" : "false";
  body += ",\"max_error_us\":" + std::to_string(clock.max_error_us);
  body += ",\"estimated_error_us\":" + std::to_string(clock.estimated_error_us);
  body += ",\"detail\":\"" + JsonEscape(clock.detail) + "\"}";
  body += ",\"require_synced_clock\":";
  body += options_.require_synced_clock ? "true" : "false";
  body += ",\"policy\":\"" + JsonEscape(options_.policy_oid) + "\"";
  body += ",\"key\":\"" + JsonEscape(identity_->key.Description()) + "\"";
  body += ",\"certificate\":{\"subject\":\"" + JsonEscape(cert.Subject()) +
          "\",\"serial\":\"" + cert.SerialHex() + "\",\"not_after\":\"" +
          FormatRfc3339(cert.NotAfter()) + "\"}";
  body += ",\"serial_epoch\":" + std::to_string(serials_->epoch());
  body += ",\"granted\":" + std::to_string(stats.granted);
  body += ",\"rejected\":" + std::to_string(stats.rejected) + "}\n";
  return net::HttpResponse::Make(serving ? 200 : 503, "application/json", std::move(body));
}

net::HttpResponse TsaService::Handle(const net::HttpRequest& request) const {
  if (request.method == "GET" || request.method == "HEAD") {
    if (request.Path() == "/health") return Health();
    return net::HttpResponse::Text(404, "not found; POST application/timestamp-query here\n");
  }
  if (request.method != "POST") {
    net::HttpResponse r = net::HttpResponse::Text(405, "method not allowed\n");
    r.SetHeader("Allow", "GET, HEAD, POST");
    return r;
  }
  // RFC 3161 §3.4: the request is "Content-Type: application/timestamp-query". A body of another
  // type is not a TimeStampReq to us, so there is no DER answer to give: 415.
  auto type = request.Header("Content-Type");
  std::string_view t = type.value_or("");
  if (size_t semi = t.find(';'); semi != std::string_view::npos) t = t.substr(0, semi);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  if (!net::EqualsIgnoreCase(t, kTimestampQueryType))
    return net::HttpResponse::Text(415, "Content-Type must be application/timestamp-query\n");
  Bytes reply = responder_->Respond(AsBytes(request.body));
  return net::HttpResponse::Make(200, kTimestampReplyType, std::string(AsString(reply)));
}

}  // namespace autoseal::tsa
