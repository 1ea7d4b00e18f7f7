#include "gateway/internal/tls_server.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/tls1.h>

#include <algorithm>
#include <cstring>

#include "core/log.h"
#include "crypto/ossl.h"

namespace autoseal::gateway::internal {
namespace {

// Mozilla "intermediate" TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only. TLS 1.3's
// suites are all AEAD; OpenSSL's default list (AES-GCM, ChaCha20-Poly1305) is kept.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char kGroups[] = "X25519:P-256:P-384";
constexpr unsigned char kSessionIdContext[] = "autoseal-gateway";

// ALPN wire format: length-prefixed protocol names.
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kAlpnAcme[] = {10, 'a', 'c', 'm', 'e', '-', 't', 'l', 's', '/', '1'};

int ExIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Asio keeps its verify callback in SSL_CTX app data, so ours goes in ex data.
int CtxExIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

Error TlsError(ErrorCode code, std::string_view what) { return crypto::OpenSslError(what, code); }

int NoPassword(char*, int, int, void*) { return -1; }

int SelectHttp11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                 unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnHttp11, sizeof(kAlpnHttp11), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // a client offering only h2 still gets HTTP/1.1 without ALPN
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// RFC 8737 §3: the server negotiates "acme-tls/1" for a challenge handshake.
int SelectAcme(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnAcme, sizeof(kAlpnAcme), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

uint16_t Read16(const unsigned char* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// RFC 6066 §3 server_name extension: ServerNameList with one host_name (type 0). Returns the
// name lower-cased without a trailing dot, or "" when absent or malformed.
std::string ParseServerName(const unsigned char* p, size_t len) {
  if (len < 2 || Read16(p) != len - 2) return "";
  p += 2;
  len -= 2;
  while (len >= 3) {
    uint8_t type = p[0];
    size_t n = Read16(p + 1);
    if (len < 3 + n) return "";
    if (type == 0) {
      std::string name(reinterpret_cast<const char*>(p + 3), n);
      if (!name.empty() && name.back() == '.') name.pop_back();
      if (name.empty() || name.size() > 253) return "";
      for (char& c : name) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
        if (!ok) return "";
      }
      return name;
    }
    p += 3 + n;
    len -= 3 + n;
  }
  return "";
}

// RFC 7301 §3.1 ProtocolNameList: does it contain name?
bool AlpnOffers(const unsigned char* p, size_t len, std::string_view name) {
  if (len < 2 || Read16(p) != len - 2) return false;
  p += 2;
  len -= 2;
  while (len >= 1) {
    size_t n = p[0];
    if (len < 1 + n) return false;
    if (std::string_view(reinterpret_cast<const char*>(p + 1), n) == name) return true;
    p += 1 + n;
    len -= 1 + n;
  }
  return false;
}

Result<SslCtxPtr> NewContext() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return std::unexpected(TlsError(ErrorCode::kInternal, "SSL_CTX_new failed"));
  return ctx;
}

}  // namespace

std::shared_ptr<const CertifiedKey> ChooseCertificate(
    const std::vector<std::shared_ptr<const CertifiedKey>>& keys, std::string_view sigalgs) {
  if (keys.empty()) return nullptr;
  auto offers = [&](uint16_t scheme) {
    for (size_t i = 0; i + 1 < sigalgs.size(); i += 2) {
      if (Read16(reinterpret_cast<const unsigned char*>(sigalgs.data() + i)) == scheme) {
        return true;
      }
    }
    return false;
  };
  // RFC 8446 §4.2.3 SignatureScheme values; in TLS 1.3 an ECDSA scheme names its curve.
  for (const auto& key : keys) {
    if (!key) continue;
    if (key->key_type == crypto::KeyType::kEcdsaP256 && offers(0x0403)) return key;
    if (key->key_type == crypto::KeyType::kEcdsaP384 && offers(0x0503)) return key;
  }
  bool rsa = sigalgs.empty() || offers(0x0804) || offers(0x0805) || offers(0x0806) ||
             offers(0x0401) || offers(0x0501) || offers(0x0601) || offers(0x0201);
  if (rsa) {
    for (const auto& key : keys) {
      if (key && crypto::FamilyOf(key->key_type) == crypto::KeyFamily::kRsa) return key;
    }
  }
  for (const auto& key : keys) {
    if (key) return key;
  }
  return nullptr;
}

TlsServer::TlsServer(const CertificateSource* certificates, const ChallengeResponder* challenges,
                     Options options)
    : certificates_(certificates), challenges_(challenges), options_(options) {}

TlsServer::~TlsServer() = default;

Result<std::unique_ptr<TlsServer>> TlsServer::Create(const CertificateSource* certificates,
                                                     const ChallengeResponder* challenges,
                                                     Options options) {
  CHECK(certificates != nullptr && challenges != nullptr);
  std::unique_ptr<TlsServer> server(new TlsServer(certificates, challenges, options));
  TRY(server->Init());
  return server;
}

Status TlsServer::CommonSetup(SSL_CTX* ctx) const {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    return std::unexpected(TlsError(ErrorCode::kInternal, "cannot set the TLS policy"));
  }
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections then hold no record buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read whatever the socket has (one read(2) per request instead of a header and a body read).
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  // Stateless tickets only: no server-side session cache to lock or grow.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_ex_data(ctx, CtxExIndex(), const_cast<TlsServer*>(this));
  if (options_.session_tickets) {
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, TicketKeyCallback);
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  return Ok();
}

Status TlsServer::Init() {
  ERR_clear_error();
  base_ = TRY(NewContext());
  TRY(CommonSetup(base_.get()));
  SSL_CTX_set_client_hello_cb(base_.get(), ClientHelloCallback, this);
  SSL_CTX_set_alpn_select_cb(base_.get(), SelectHttp11, nullptr);
  std::lock_guard<std::mutex> lock(mu_);
  return RotateTicketKeysIfDue();
}

void TlsServer::Attach(SSL* ssl, HandshakeChoice* choice) {
  SSL_set_ex_data(ssl, ExIndex(), choice);
}

void TlsServer::SetDefaultServerName(std::string name) {
  std::lock_guard<std::mutex> lock(mu_);
  default_server_name_ = std::move(name);
}

size_t TlsServer::CachedContexts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.size();
}

Result<SSL_CTX*> TlsServer::ContextFor(const std::shared_ptr<const CertifiedKey>& key,
                                       bool alpn_acme) {
  CHECK(key != nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key.get());
    // The caller holds key, so a live weak_ptr to the same address is the same object.
    if (it != cache_.end() && it->second.key.lock() == key && it->second.acme == alpn_acme) {
      return it->second.ctx.get();
    }
  }
  ERR_clear_error();
  SslCtxPtr ctx = TRY(NewContext());
  TRY(CommonSetup(ctx.get()));
  crypto::BioPtr chain_bio = crypto::MemoryBio(key->chain_pem);
  crypto::X509Ptr leaf(PEM_read_bio_X509(chain_bio.get(), nullptr, NoPassword, nullptr));
  if (!leaf || SSL_CTX_use_certificate(ctx.get(), leaf.get()) != 1) {
    return std::unexpected(
        TlsError(ErrorCode::kInvalidArgument, "certificate chain does not load"));
  }
  for (;;) {
    crypto::X509Ptr extra(PEM_read_bio_X509(chain_bio.get(), nullptr, NoPassword, nullptr));
    if (!extra) break;
    if (SSL_CTX_add1_chain_cert(ctx.get(), extra.get()) != 1) {
      return std::unexpected(TlsError(ErrorCode::kInvalidArgument, "chain certificate rejected"));
    }
  }
  ERR_clear_error();  // the end of the PEM text
  crypto::BioPtr key_bio = crypto::MemoryBio(key->key_pem);
  crypto::EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassword, nullptr));
  if (!pkey || SSL_CTX_use_PrivateKey(ctx.get(), pkey.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return std::unexpected(
        TlsError(ErrorCode::kInvalidArgument, "private key does not load or match"));
  }
  if (alpn_acme) {
    SSL_CTX_set_alpn_select_cb(ctx.get(), SelectAcme, nullptr);
  } else {
    SSL_CTX_set_alpn_select_cb(ctx.get(), SelectHttp11, nullptr);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (cache_.size() >= prune_at_) {
    std::erase_if(cache_, [](const auto& entry) { return entry.second.key.expired(); });
    prune_at_ = std::max<size_t>(64, cache_.size() * 2);
  }
  SSL_CTX* raw = ctx.get();
  cache_[key.get()] = CacheEntry{key, std::move(ctx), alpn_acme};
  return raw;
}

int TlsServer::ClientHelloCallback(SSL* ssl, int* alert, void* arg) {
  return static_cast<TlsServer*>(arg)->OnClientHello(ssl, alert);
}

int TlsServer::OnClientHello(SSL* ssl, int* alert) {
  auto* choice = static_cast<HandshakeChoice*>(SSL_get_ex_data(ssl, ExIndex()));
  HandshakeChoice scratch;
  if (choice == nullptr) choice = &scratch;
  const unsigned char* ext = nullptr;
  size_t ext_len = 0;
  std::string name;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &ext_len) == 1) {
    name = ParseServerName(ext, ext_len);
    if (name.empty()) {
      *alert = SSL_AD_DECODE_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
  }
  choice->server_name = name;
  bool acme = SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation,
                                        &ext, &ext_len) == 1 &&
              AlpnOffers(ext, ext_len, "acme-tls/1");
  std::shared_ptr<const CertifiedKey> key;
  if (acme) {
    // RFC 8737 §3: the challenge certificate is presented for the SNI name being validated.
    if (!name.empty()) key = challenges_->TlsAlpn01(name);
    if (!key) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_CLIENT_HELLO_ERROR;
    }
    choice->acme_challenge = true;
  } else {
    if (name.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      name = default_server_name_;
    }
    std::shared_ptr<const SiteCertificates> site =
        name.empty() ? nullptr : certificates_->Lookup(name);
    std::string_view sigalgs;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_signature_algorithms, &ext, &ext_len) == 1 &&
        ext_len >= 2 && Read16(ext) == ext_len - 2) {
      sigalgs = std::string_view(reinterpret_cast<const char*>(ext + 2), ext_len - 2);
    }
    if (site) key = ChooseCertificate(site->keys, sigalgs);
    if (!key) {
      // RFC 6066 §3: a server that does not recognise the name may send unrecognized_name.
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_CLIENT_HELLO_ERROR;
    }
    choice->site = site->site;
  }
  choice->key_type = key->key_type;
  Result<SSL_CTX*> ctx = ContextFor(key, acme);
  if (!ctx) {
    Log(LogLevel::kError, "gateway: cannot use certificate",
        {{"server_name", name}, {"error", ctx.error().message()}});
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  if (SSL_set_SSL_CTX(ssl, *ctx) == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

Status TlsServer::RotateTicketKeysIfDue() {
  return ticket_keys_.Update(std::chrono::steady_clock::now(), options_.ticket_key_rotation);
}

TicketKeyRing::~TicketKeyRing() {
  OPENSSL_cleanse(&current_, sizeof(current_));
  OPENSSL_cleanse(&previous_, sizeof(previous_));
}

Status TicketKeyRing::Update(std::chrono::steady_clock::time_point now,
                             std::chrono::steady_clock::duration interval) {
  if (have_current_ && now - started_at_ < interval) return Ok();
  Key next;
  if (RAND_bytes(next.name, sizeof(next.name)) != 1 ||
      RAND_bytes(next.aes_key, sizeof(next.aes_key)) != 1 ||
      RAND_bytes(next.hmac_key, sizeof(next.hmac_key)) != 1) {
    OPENSSL_cleanse(&next, sizeof(next));
    return std::unexpected(TlsError(ErrorCode::kInternal, "RAND_bytes failed"));
  }
  // The previous key's decrypting interval is over in any case. The current key's encrypting
  // interval ended at started_at_ + interval, so it may still decrypt until one interval after
  // that, not from whenever the next handshake happens to come.
  OPENSSL_cleanse(&previous_, sizeof(previous_));
  have_previous_ = false;
  if (have_current_) {
    if (interval <= std::chrono::steady_clock::duration::zero()) {
      previous_ = current_;  // a new key on every use (no real schedule)
      have_previous_ = true;
      started_at_ = now;
    } else {
      auto periods = (now - started_at_) / interval;
      if (periods < 2) {
        previous_ = current_;
        have_previous_ = true;
      }
      started_at_ += periods * interval;
    }
  } else {
    started_at_ = now;
  }
  OPENSSL_cleanse(&current_, sizeof(current_));
  current_ = next;
  have_current_ = true;
  OPENSSL_cleanse(&next, sizeof(next));
  return Ok();
}

int TlsServer::TicketKeyCallback(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                                 EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
  auto* self = static_cast<TlsServer*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), CtxExIndex()));
  if (self == nullptr) return -1;
  return self->OnTicketKey(key_name, iv, cipher, mac, encrypt);
}

// RFC 5077 §4's recommended ticket construction as OpenSSL implements it: key_name selects the
// key, AES-256-CBC encrypts, HMAC-SHA256 authenticates. Returns 1 (use), 2 (use and renew: the
// previous key), 0 (unknown key: full handshake) or -1 (error).
int TlsServer::OnTicketKey(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                           EVP_MAC_CTX* mac, int encrypt) {
  TicketKeyRing::Key key;
  struct Wipe {
    TicketKeyRing::Key* key;
    ~Wipe() { OPENSSL_cleanse(key, sizeof(*key)); }
  } wipe{&key};
  int result = 1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!RotateTicketKeysIfDue()) return -1;
    const TicketKeyRing::Key* previous = ticket_keys_.previous();
    if (encrypt) {
      key = ticket_keys_.current();
    } else if (std::memcmp(key_name, ticket_keys_.current().name, 16) == 0) {
      key = ticket_keys_.current();
    } else if (previous != nullptr && std::memcmp(key_name, previous->name, 16) == 0) {
      key = *previous;
      result = 2;
    } else {
      return 0;
    }
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac_key, sizeof(key.hmac_key)),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  if (encrypt) {
    std::memcpy(key_name, key.name, 16);
    if (RAND_bytes(iv, 16) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key, iv) != 1) return -1;
  } else {
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key, iv) != 1) return -1;
  }
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  return result;
}

}  // namespace autoseal::gateway::internal
