// gateway_tls_driver: runs the gateway's listeners and proxy with certificates from PEM files,
// for the interop script (tests/interop/gateway_tls.sh) and the benchmark (bench/gateway.sh),
// which need a gateway without ACME. Not a product command (that is `autoseal gateway`).
//
//   gateway_tls_driver --https 127.0.0.1:0 [--http ADDR] [--admin ADDR] [--threads N]
//       --site NAME=SERVER_NAME[,SERVER_NAME...]=ORIGIN_URL ...
//       --cert NAME=CHAIN_PEM_FILE,KEY_PEM_FILE ...   (repeat per key type)
//       [--default-site NAME] [--no-tickets] [--access-log]
//
// Prints "https=<port> http=<port> admin=<port>" on one line once listening, serves until
// SIGTERM or SIGINT, then drains and exits 0. Exit 2 on bad arguments, 1 when the gateway
// cannot start.

#include <openssl/pem.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>

#include "core/file.h"
#include "gateway/proxy.h"

namespace {

using namespace autoseal;
using namespace autoseal::gateway;

class FileCertificateSource final : public CertificateSource {
 public:
  std::map<std::string, std::shared_ptr<SiteCertificates>> by_name;
  std::shared_ptr<const SiteCertificates> Lookup(std::string_view server_name) const override {
    auto it = by_name.find(std::string(server_name));
    if (it != by_name.end()) return it->second;
    size_t dot = server_name.find('.');
    if (dot == std::string_view::npos) return nullptr;
    std::string wildcard(1, '*');
    wildcard.append(server_name.substr(dot));
    it = by_name.find(wildcard);
    return it == by_name.end() ? nullptr : it->second;
  }
};

class NoChallenges final : public ChallengeResponder {
 public:
  std::optional<std::string> Http01(std::string_view, std::string_view) const override {
    return std::nullopt;
  }
  std::shared_ptr<const CertifiedKey> TlsAlpn01(std::string_view) const override { return nullptr; }
};

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

int Usage(const std::string& why) {
  std::fprintf(stderr, "gateway_tls_driver: %s\n", why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  GatewayOptions options;
  options.http_address = "";
  options.https_address = "127.0.0.1:0";
  options.threads = 1;
  options.access_log = false;
  std::vector<SiteConfig> sites;
  std::vector<std::pair<std::string, std::string>> certs;  // site name -> "chain,key"
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--https") {
      options.https_address = value();
    } else if (arg == "--http") {
      options.http_address = value();
    } else if (arg == "--admin") {
      options.admin_address = value();
    } else if (arg == "--threads") {
      options.threads = static_cast<unsigned>(std::stoul(value()));
    } else if (arg == "--default-site") {
      options.default_site = value();
    } else if (arg == "--no-tickets") {
      options.session_tickets = false;
    } else if (arg == "--access-log") {
      options.access_log = true;
    } else if (arg == "--site") {
      std::vector<std::string> parts = Split(value(), '=');
      if (parts.size() != 3) return Usage("--site NAME=SERVER_NAMES=ORIGIN_URL");
      SiteConfig site;
      site.name = parts[0];
      site.server_names = Split(parts[1], ',');
      site.origin = parts[2];
      sites.push_back(site);
    } else if (arg == "--cert") {
      std::string v = value();
      size_t eq = v.find('=');
      if (eq == std::string::npos) return Usage("--cert NAME=CHAIN,KEY");
      certs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else {
      std::fprintf(stderr, "gateway_tls_driver: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  FileCertificateSource source;
  for (const SiteConfig& site : sites) {
    auto certificates = std::make_shared<SiteCertificates>();
    certificates->site = site.name;
    for (const auto& [name, files] : certs) {
      if (name != site.name) continue;
      std::vector<std::string> paths = Split(files, ',');
      if (paths.size() != 2) return Usage("--cert NAME=CHAIN,KEY");
      auto chain = ReadFile(paths[0]);
      auto key = ReadFile(paths[1]);
      if (!chain || !key) return Usage("cannot read the files of --cert " + name);
      auto certified = std::make_shared<CertifiedKey>();
      certified->chain_pem = *chain;
      certified->key_pem = *key;
      BIO* bio =
          BIO_new_mem_buf(certified->key_pem.data(), static_cast<int>(certified->key_pem.size()));
      EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
      BIO_free(bio);
      if (pkey == nullptr) return Usage("cannot parse the key of --cert " + name);
      certified->key_type = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA
                                ? crypto::KeyType::kRsa2048
                                : crypto::KeyType::kEcdsaP256;
      EVP_PKEY_free(pkey);
      certificates->keys.push_back(certified);
    }
    for (const std::string& server_name : site.server_names) {
      source.by_name[server_name] = certificates;
    }
  }

  // Signals are taken synchronously by this thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  NoChallenges challenges;
  Metrics metrics;
  auto gateway = Gateway::Create(options, sites, &source, &challenges, &metrics);
  if (!gateway) {
    std::fprintf(stderr, "gateway_tls_driver: %s\n", gateway.error().message().c_str());
    return 1;
  }
  (*gateway)->Start();
  std::printf("https=%u http=%u admin=%u\n", (*gateway)->HttpsPort(), (*gateway)->HttpPort(),
              (*gateway)->AdminPort());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  (*gateway)->Stop();
  return 0;
}
