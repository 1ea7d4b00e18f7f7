#include "ct/submit.h"

#include <boost/json.hpp>

#include <cstring>
#include <future>

#include "core/der.h"
#include "crypto/digest.h"
#include "ct/internal/cert_view.h"
#include "net/client.h"

namespace autoseal::ct {

Result<LogEndpoint> FetchLogEndpoint(const std::string& url, std::chrono::milliseconds timeout) {
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  net::HttpRequest req;
  req.target = base + "/log.json";
  net::HttpClientOptions o;
  o.timeout = timeout;
  auto res = TRY(net::HttpFetch(req, o));
  if (res.status != 200) return Fail(ErrorCode::kNetwork, req.target + " answered " + std::to_string(res.status));
  boost::system::error_code ec;
  auto v = boost::json::parse(res.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("key") || !v.as_object().at("key").is_string())
    return Fail(ErrorCode::kParse, req.target + " has no \"key\"");
  Bytes spki = TRY(Base64Decode(std::string_view(v.as_object().at("key").as_string())));
  return LogEndpoint{base, TRY(LogPublicKey::FromSpki(spki)), base};
}

Result<SignedEntry> EntryForChain(const std::vector<Bytes>& chain, bool precert) {
  if (chain.empty()) return Fail(ErrorCode::kInvalidArgument, "empty chain");
  SignedEntry e;
  if (!precert) {
    e.certificate = chain[0];
    return e;
  }
  if (chain.size() < 2) return Fail(ErrorCode::kInvalidArgument, "a precertificate chain needs its issuer");
  internal::CertView pre, issuer;
  std::string error;
  if (!internal::ParseCertView(chain[0], &pre, &error)) return Fail(ErrorCode::kParse, error);
  if (!internal::ParseCertView(chain[1], &issuer, &error)) return Fail(ErrorCode::kParse, error);
  e.type = LogEntryType::kPrecert;
  e.certificate = internal::PrecertTbs(pre, std::nullopt, std::nullopt);
  Bytes ikh = crypto::Digest(crypto::DigestAlgorithm::kSha256, issuer.spki);
  std::memcpy(e.issuer_key_hash.data(), ikh.data(), 32);
  return e;
}

Result<SubmitResult> SubmitToLogs(const std::vector<LogEndpoint>& logs, const std::vector<Bytes>& chain,
                                  bool precert, const SubmitOptions& options) {
  SignedEntry entry = TRY(EntryForChain(chain, precert));
  boost::json::array a;
  for (const auto& c : chain) a.push_back(boost::json::string(Base64Encode(c)));
  std::string body = boost::json::serialize(boost::json::object{{"chain", a}});
  std::vector<std::future<Result<SignedCertificateTimestamp>>> pending;
  for (const auto& log : logs) {
    pending.push_back(std::async(std::launch::async, [&, url = log.url]() -> Result<SignedCertificateTimestamp> {
      net::HttpRequest req;
      req.method = "POST";
      req.target = url + (precert ? "/ct/v1/add-pre-chain" : "/ct/v1/add-chain");
      req.SetHeader("Content-Type", "application/json");
      req.body = body;
      net::HttpClientOptions o;
      o.timeout = options.timeout;
      auto res = TRY(net::HttpFetch(req, o));
      if (res.status != 200) {
        std::string msg = res.body.substr(0, 200);
        return Fail(ErrorCode::kNetwork, "HTTP " + std::to_string(res.status) + ": " + msg);
      }
      return SignedCertificateTimestamp::FromJson(res.body);
    }));
  }
  SubmitResult out;
  for (size_t i = 0; i < logs.size(); ++i) {
    auto sct = pending[i].get();
    if (!sct) {
      out.failures.push_back(logs[i].url + ": " + sct.error().message());
      continue;
    }
    if (sct->log_id != logs[i].key.log_id()) {
      out.failures.push_back(logs[i].url + ": SCT is from another log (log ID mismatch)");
      continue;
    }
    auto st = logs[i].key.VerifyDigitallySigned(EncodeMerkleTreeLeaf(sct->timestamp_ms, entry, sct->extensions),
                                                sct->signature);
    if (!st) {
      out.failures.push_back(logs[i].url + ": SCT signature does not verify");
      continue;
    }
    out.scts.push_back(std::move(*sct));
  }
  if (static_cast<int>(out.scts.size()) < options.min_scts) {
    std::string msg = "only " + std::to_string(out.scts.size()) + " of the required " + std::to_string(options.min_scts) +
                      " CT logs returned a valid SCT in time";
    for (const auto& f : out.failures) msg += "; " + f;
    return Fail(ErrorCode::kUnsupported, msg);
  }
  return out;
}

namespace {
Bytes ExtensionDer(ByteView oid, bool critical, ByteView value) {
  der::Writer w(value.size() + 32);
  const size_t extension = w.Begin(der::kSequence);
  w.Tlv(der::kOid, oid);
  if (critical) w.Boolean(true);
  w.Tlv(der::kOctetString, value);
  w.End(extension);
  return w.Take();
}
}  // namespace

Bytes SctListExtension(const std::vector<SignedCertificateTimestamp>& scts) {
  // RFC 6962 §3.3: the extnValue is an OCTET STRING wrapping the TLS-encoded list.
  return ExtensionDer(internal::kOidCtSctList, false, der::Tlv(der::kOctetString, EncodeSctList(scts)));
}

Bytes PoisonExtension() {
  static constexpr uint8_t kNull[] = {0x05, 0x00};
  return ExtensionDer(internal::kOidCtPoison, true, kNull);
}

}  // namespace autoseal::ct
