#pragma once

// An RFC 8555 ACME client with RFC 9773 renewal information (ARI), used by the gateway, the mail
// agent and `autoseal cert obtain`. Synchronous: every call blocks until the server answered or
// its timeout passed. Built on net::HttpFetch; no Boost or OpenSSL types in this header.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/problem.h"
#include "acme/client/helpers.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/key.h"
#include "net/http.h"
#include "x509/certificate.h"

namespace autoseal::acme::client {

// The directory object (RFC 8555 §7.1.1) and its meta fields.
struct Directory {
  std::string new_nonce, new_account, new_order, new_authz, revoke_cert, key_change;
  std::string renewal_info;  // RFC 9773 §3; "" when the server has no ARI
  std::string terms_of_service, website;
  std::vector<std::string> caa_identities;
  bool external_account_required = false;
  std::map<std::string, std::string> profiles;  // name → description
};

// An account object (RFC 8555 §7.1.2) and its URL (the "kid").
struct Account {
  std::string url;
  std::string status;  // "valid", "deactivated", "revoked"
  std::vector<std::string> contact;
  std::string orders;
};

// A challenge object (RFC 8555 §7.1.5, §8).
struct Challenge {
  std::string url, type, status, token;
  std::string error;  // the problem as "type: detail", when the server gave one
};

// An authorization object (RFC 8555 §7.1.4).
struct Authorization {
  std::string url;
  std::string status;  // pending, valid, invalid, deactivated, expired, revoked
  Identifier identifier;
  bool wildcard = false;
  std::optional<TimePoint> expires;
  std::vector<Challenge> challenges;
};

// An order object (RFC 8555 §7.1.3).
struct Order {
  std::string url;
  std::string status;  // pending, ready, processing, valid, invalid
  std::vector<Identifier> identifiers;
  std::vector<std::string> authorizations;
  std::string finalize, certificate;
  std::optional<TimePoint> not_before, not_after, expires;
  std::string profile, replaces;
  std::string error;  // the problem as "type: detail", when the server gave one
  std::optional<TimePoint> retry_after;
};

// What newOrder asks for (RFC 8555 §7.4; profile per draft-ietf-acme-profiles; replaces per
// RFC 9773 §5).
struct NewOrderRequest {
  std::vector<Identifier> identifiers;
  std::optional<TimePoint> not_before, not_after;
  std::string profile;
  std::string replaces;  // ARI certID of the certificate being renewed
};

// A downloaded certificate: the default chain and any alternates (RFC 8555 §7.4.2), leaf first.
struct CertificateChains {
  std::string url;
  std::vector<std::string> pem;  // [0] default, then alternates in the server's order
  std::vector<std::vector<x509::Certificate>> chains;
};

// External Account Binding credentials (RFC 8555 §7.3.4).
struct ExternalAccountBinding {
  std::string kid;
  Bytes hmac_key;
};

// How an account is found or created (see Client::LoadOrCreateAccount).
struct AccountOptions {
  // Directory holding account.key (PKCS#8 PEM, mode 0600) and account.json (the account URL).
  std::string dir;
  std::vector<std::string> contact;  // e.g. "mailto:admin@example.com"
  // Must be true when the directory has termsOfService (RFC 8555 §7.3: termsOfServiceAgreed).
  bool terms_of_service_agreed = false;
  std::optional<ExternalAccountBinding> eab;
  crypto::KeyType key_type = crypto::KeyType::kEcdsaP256;  // for a new account key
};

// Limits and trust for a Client.
struct ClientOptions {
  std::string directory_url;
  // Trust for https: a PEM bundle file and/or inline PEM (system store when both empty).
  std::string ca_file, ca_pem;
  // Per HTTP exchange (connect, TLS, request, response).
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  // Larger response bodies fail the request.
  size_t max_response_bytes = 2 * 1024 * 1024;
  // How many times a request is re-sent with a fresh nonce after a badNonce problem (RFC 8555
  // §6.5: "clients SHOULD retry the request using the new nonce").
  int max_bad_nonce_retries = 5;
  std::string user_agent = "autoseal-acme/0.1";
  // Polling (authorizations, orders): first wait, cap on each wait, and the overall deadline.
  // A server's Retry-After replaces the computed wait (capped at max_poll_interval * 6).
  std::chrono::milliseconds initial_poll_interval{std::chrono::milliseconds(500)};
  std::chrono::milliseconds max_poll_interval{std::chrono::seconds(10)};
  std::chrono::milliseconds poll_timeout{std::chrono::minutes(3)};
  const Clock* clock = &SystemClock::Instance();
  // How waits happen (tests make it instant). Default: std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// A client bound to one ACME server and (after LoadOrCreateAccount/UseAccount) one account.
// Thread-safe: the nonce pool and account state are guarded, so several threads may run orders
// in parallel through one Client. Every server problem document becomes an Error whose message
// is "<problem type URN>: <detail>" (plus subproblems); kPolicy for problems the client caused,
// kNetwork/kTimeout for transport failures, kParse for malformed server answers.
class Client {
 public:
  // Fetches the directory. kNetwork/kTimeout/kParse naming the URL on failure.
  static Result<std::unique_ptr<Client>> Create(ClientOptions options);

  const Directory& directory() const { return directory_; }
  const ClientOptions& options() const { return options_; }

  // Loads the account key from options.dir (or generates and stores one, 0600, never
  // overwriting) and finds its account (newAccount with onlyReturnExisting), creating it when the
  // server does not know it (with contact, termsOfServiceAgreed and EAB). Errors: kPolicy when the
  // server has terms of service not agreed to, or requires EAB and none was given.
  Result<Account> LoadOrCreateAccount(const AccountOptions& options);
  // Uses an existing account key and URL (no request).
  void UseAccount(crypto::PrivateKey key, std::string account_url);
  // The account URL ("" before an account is set) and the JWK thumbprint of its key.
  std::string AccountUrl() const;
  Result<std::string> AccountThumbprint() const;

  // Fetches the account object (POST-as-GET to the account URL).
  Result<Account> FetchAccount();
  // Deactivates the account (RFC 8555 §7.3.6). Irreversible.
  Result<Account> DeactivateAccount();
  // Rolls the account over to new_key (RFC 8555 §7.3.5); from then on requests are signed with it.
  Status ChangeAccountKey(const crypto::PrivateKey& new_key);

  // Creates an order (RFC 8555 §7.4).
  Result<Order> NewOrder(const NewOrderRequest& request);
  Result<Order> FetchOrder(const std::string& url);
  Result<Authorization> FetchAuthorization(const std::string& url);
  // Tells the server a challenge is ready (POST "{}", RFC 8555 §7.5.1).
  Result<Challenge> RespondToChallenge(const std::string& url);
  // Deactivates an authorization (RFC 8555 §7.5.2).
  Result<Authorization> DeactivateAuthorization(const std::string& url);
  // Polls until the authorization is no longer pending (backoff, Retry-After honoured).
  // kTimeout after options.poll_timeout.
  Result<Authorization> PollAuthorization(const std::string& url);
  // Polls until the order is neither pending nor processing (backoff, Retry-After honoured).
  // kTimeout after options.poll_timeout.
  Result<Order> PollOrder(const std::string& url);
  // Sends the CSR (DER) to order.finalize (RFC 8555 §7.4).
  Result<Order> FinalizeOrder(const Order& order, ByteView csr_der);
  // Downloads the certificate chain and its alternates (Link rel="alternate").
  Result<CertificateChains> DownloadCertificate(const std::string& url);

  // Revokes a certificate (RFC 8555 §7.6) with an RFC 5280 reason code. With cert_key the
  // request is signed by the certificate's key (JWK in the header), else by the account key.
  Status RevokeCertificate(const x509::Certificate& cert, std::optional<int> reason,
                           const crypto::PrivateKey* cert_key = nullptr);

  // Fetches the renewal information for cert (RFC 9773 §4, unauthenticated GET). kUnsupported
  // when the directory has no renewalInfo.
  Result<RenewalInfo> FetchRenewalInfo(const x509::Certificate& cert);

  // POST-as-GET (RFC 8555 §6.3) to any URL; the raw response (after problem handling).
  Result<net::HttpResponse> PostAsGet(const std::string& url);

 private:
  explicit Client(ClientOptions options);
  Status FetchDirectory();
  Result<std::string> TakeNonce();
  void StoreNonce(const net::HttpResponse& response);
  Result<net::HttpResponse> Fetch(net::HttpRequest request);
  // Signs payload ("" for POST-as-GET) with the account key (kid) or, when jwk_key is given,
  // with that key and its JWK in the header; retries badNonce. A problem response is an Error.
  Result<net::HttpResponse> Post(const std::string& url, const std::string& payload,
                                 const crypto::PrivateKey* jwk_key = nullptr);
  void Sleep(std::chrono::milliseconds d) const;
  std::chrono::milliseconds NextWait(std::chrono::milliseconds computed,
                                     const net::HttpResponse& response) const;

  ClientOptions options_;
  Directory directory_;

  mutable std::mutex mutex_;  // guards the members below
  std::vector<std::string> nonces_;
  std::optional<crypto::PrivateKey> account_key_;
  std::string account_url_;
};

// Parses a problem document body into an Error (see Client): message
// "urn:ietf:params:acme:error:<type>: <detail>" followed by " [<identifier>: <subproblem>; ...]"
// for subproblems. kNetwork for serverInternal and badNonce (transient), kPolicy otherwise; a body
// that is no problem document gives "HTTP <status> from server". Exposed for tests.
Error ProblemError(std::string_view body, int http_status);

// True if error carries the server problem type (as made by ProblemError, context prefixes allowed).
bool IsProblem(const Error& error, ProblemType type);

}  // namespace autoseal::acme::client
