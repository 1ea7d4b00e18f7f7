#include "x509/verify.h"

#include <openssl/x509_vfy.h>

#include <algorithm>

#include "crypto/ossl.h"
#include "x509/names.h"

namespace autoseal::x509 {

namespace {

struct CollectState {
  std::vector<std::string>* problems;
};

int CollectIndex() {
  static const int index = X509_STORE_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Records every error and continues, so the report lists all reasons rather than the first.
int CollectCallback(int ok, X509_STORE_CTX* ctx) {
  if (ok) return 1;
  auto* state = static_cast<CollectState*>(X509_STORE_CTX_get_ex_data(ctx, CollectIndex()));
  int err = X509_STORE_CTX_get_error(ctx);
  int depth = X509_STORE_CTX_get_error_depth(ctx);
  std::string who = "certificate " + std::to_string(depth);
  if (X509* cur = X509_STORE_CTX_get_current_cert(ctx)) {
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(cur), buf, sizeof buf);
    who += " (" + std::string(buf) + ")";
  }
  std::string line = who + ": " + X509_verify_cert_error_string(err);
  if (std::find(state->problems->begin(), state->problems->end(), line) == state->problems->end())
    state->problems->push_back(line);
  // An untrusted or unbuildable path cannot be continued meaningfully.
  if (err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
      err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN || err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
    return 0;
  return 1;
}

int PurposeFor(Profile p) {
  switch (p) {
    case Profile::kTlsServer: return X509_PURPOSE_SSL_SERVER;
    case Profile::kSmime: return X509_PURPOSE_SMIME_SIGN;
    case Profile::kTimeStamping: return X509_PURPOSE_TIMESTAMP_SIGN;
    default: return 0;
  }
}

}  // namespace

std::optional<Profile> DetectProfile(const Certificate& cert) {
  if (cert.IsCa()) return std::nullopt;
  auto eku = cert.ExtendedKeyUsages();
  auto has = [&](std::string_view n) { return std::find(eku.begin(), eku.end(), n) != eku.end(); };
  if (has(kEkuTimeStamping)) return Profile::kTimeStamping;
  if (has(kEkuEmailProtection)) return Profile::kSmime;
  if (has(kEkuServerAuth)) return Profile::kTlsServer;
  auto ku = cert.KeyUsageBits().value_or(0);
  if (eku.empty() && (ku & kKeyEncipherment) && (ku & kDataEncipherment) &&
      cert.PublicKey().Family() == crypto::KeyFamily::kSm2)
    return Profile::kTlcpEncryption;
  return std::nullopt;
}

void CheckProfile(const Certificate& cert, Profile profile, std::vector<std::string>* problems) {
  auto add = [&](std::string p) { problems->push_back(std::string(ProfileName(profile)) + " profile: " + p); };
  auto key_ok = CheckKeyForProfile(cert.PublicKey(), profile);
  if (!key_ok) add(key_ok.error().message());
  bool ca_profile = profile == Profile::kRootCa || profile == Profile::kIntermediateCa;
  if (cert.IsCa() != ca_profile) add(ca_profile ? "not a CA certificate" : "a CA certificate used as a leaf");
  auto ku = cert.KeyUsageBits();
  if (!ku) {
    add("keyUsage extension missing");
  } else {
    uint32_t want = KeyUsageFor(profile, cert.PublicKey());
    if (ca_profile) {
      if ((*ku & (kKeyCertSign | kCrlSign)) != (kKeyCertSign | kCrlSign)) add("keyUsage lacks keyCertSign/cRLSign");
    } else if ((*ku & want) != want) {
      add("keyUsage is " + KeyUsageNames(*ku) + ", expected " + KeyUsageNames(want));
    } else if ((*ku & (kKeyCertSign | kCrlSign)) != 0) {
      add("a leaf must not have keyCertSign or cRLSign");
    }
  }
  auto eku = cert.ExtendedKeyUsages();
  auto only = [&](std::string_view want, bool critical) {
    if (eku.size() != 1 || eku[0] != want) add("extendedKeyUsage must be exactly " + std::string(want));
    if (critical && !cert.ExtendedKeyUsageCritical()) add("extendedKeyUsage must be critical");
  };
  switch (profile) {
    case Profile::kTlsServer:
      if (std::find(eku.begin(), eku.end(), kEkuServerAuth) == eku.end()) add("extendedKeyUsage lacks serverAuth");
      if (cert.DnsNames().empty() && cert.IpAddresses().empty()) add("no DNS name or IP address");
      for (const auto& n : cert.DnsNames())
        if (auto st = ValidateDnsName(n, true); !st) add(st.error().message());
      break;
    case Profile::kSmime:
      only(kEkuEmailProtection, false);
      if (cert.EmailAddresses().empty()) add("no rfc822Name in subjectAltName");
      break;
    case Profile::kTimeStamping:
      only(kEkuTimeStamping, true);
      break;
    case Profile::kTlcpEncryption:
    case Profile::kRootCa:
    case Profile::kIntermediateCa:
      break;
  }
  auto days = (ToUnixSeconds(cert.NotAfter()) - ToUnixSeconds(cert.NotBefore()) + 1 + 86399) / 86400;
  if (days > LimitsFor(profile).max_days)
    add("validity of " + std::to_string(days) + " days exceeds " + std::to_string(LimitsFor(profile).max_days));
  if (!ca_profile && cert.Serial().size() < 8) add("serial number has fewer than 64 bits");
}

VerifyReport VerifyChain(const std::vector<Certificate>& chain, const std::vector<Certificate>& roots,
                         const VerifyOptions& options) {
  VerifyReport report;
  if (chain.empty()) {
    report.problems.push_back("no certificate to verify");
    return report;
  }
  if (roots.empty()) {
    report.problems.push_back("no trusted roots given");
    return report;
  }
  crypto::X509StorePtr store(X509_STORE_new());
  for (const auto& r : roots) X509_STORE_add_cert(store.get(), r.raw());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].raw());
  crypto::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  CHECK(X509_STORE_CTX_init(ctx.get(), store.get(), chain[0].raw(), untrusted) == 1);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(ToUnixSeconds(options.at)));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  if (options.profile) {
    if (int purpose = PurposeFor(*options.profile); purpose != 0)
      X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  }
  CollectState state{&report.problems};
  X509_STORE_CTX_set_ex_data(ctx.get(), CollectIndex(), &state);
  X509_STORE_CTX_set_verify_cb(ctx.get(), CollectCallback);
  int rc = X509_verify_cert(ctx.get());
  if (rc != 1 && report.problems.empty())
    report.problems.push_back(crypto::OpenSslError("path validation failed").message());
  crypto::ClearOpenSslErrors();
  if (STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(ctx.get())) {
    for (int i = 0; i < sk_X509_num(built); ++i) {
      auto c = Certificate::FromX509(sk_X509_value(built, i));
      if (c) report.path.push_back(std::move(*c));
    }
  }
  sk_X509_free(untrusted);
  if (options.profile) CheckProfile(chain[0], *options.profile, &report.problems);
  return report;
}

}  // namespace autoseal::x509
