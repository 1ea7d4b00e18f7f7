#include "acme/server/validation.h"

#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <mutex>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cctype>
#include <exception>
#include <set>
#include <utility>

#include "acme/server/internal/caa.h"
#include "acme/server/internal/dns_client.h"
#include "core/bytes.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "crypto/ossl.h"

namespace autoseal::acme::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using internal::Deadline;
using internal::DnsClient;
using internal::DnsFailure;

// The most of a response body read: a key authorization is ~90 bytes (Boulder reads 128).
constexpr size_t kMaxBodyBytes = 8192;
constexpr uint32_t kMaxHeaderBytes = 8192;
// RFC 8555 §10.2 leaves the number to the CA; Let's Encrypt follows at most 10.
constexpr int kMaxRedirects = 10;
constexpr std::string_view kAcmeTlsProtocol = "acme-tls/1";
// RFC 8737 §6.1: id-pe-acmeIdentifier.
constexpr const char* kAcmeIdentifierOid = "1.3.6.1.5.5.7.1.31";
constexpr const char* kUserAgent = "autoseal-va/1";
// How long past the deadline the event loop may run to collect the operations' own timeouts.
constexpr auto kLoopGrace = std::chrono::milliseconds(500);

using Outcome = std::optional<Problem>;

Problem Prob(ProblemType type, std::string detail) { return MakeProblem(type, std::move(detail)); }

// A value from outside, quoted for a problem detail: printable ASCII kept, the rest escaped,
// cut after max_chars.
std::string Quote(std::string_view s, size_t max_chars = 64) {
  std::string out = "\"";
  size_t n = std::min(s.size(), max_chars);
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += s.size() > max_chars ? "\"…" : "\"";
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// RFC 8555 §8.3: "the server SHOULD ignore whitespace characters at the end of the body".
std::string_view TrimTrailingWhitespace(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string HostPort(const asio::ip::address& address, uint16_t port) {
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

// For URLs and Host headers: IPv6 literals in brackets.
std::string UrlHost(std::string_view host) {
  error_code ec;
  auto address = asio::ip::make_address(std::string(host), ec);
  if (!ec && address.is_v6()) return "[" + std::string(host) + "]";
  return std::string(host);
}

// RFC 8738 §6: the TLS SNI for an IP identifier is its reverse-DNS name.
std::string ReverseDnsName(const asio::ip::address& address) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  if (address.is_v4()) {
    auto bytes = address.to_v4().to_bytes();
    for (int i = 3; i >= 0; --i) out += std::to_string(bytes[i]) + ".";
    return out + "in-addr.arpa";
  }
  auto bytes = address.to_v6().to_bytes();
  for (int i = 15; i >= 0; --i) {
    out += kHex[bytes[i] & 15];
    out += '.';
    out += kHex[bytes[i] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

std::string Milliseconds(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

// RFC 6761 §6.3: "localhost." and names under it are the loopback address and are never sent
// to DNS. This is what lets `autoseal up` validate names like demo.localhost on a machine
// without a resolver.
bool IsLocalhostName(std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  return lower == "localhost" || lower.ends_with(".localhost");
}

// Resolves a host (an IP literal, or a name through c-ares) to addresses, IPv4 first.
// A host that is an IP literal or a localhost name needs no DNS (and no resolver set up).
bool NeedsDns(std::string_view host) {
  std::string bare(host);
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  error_code ec;
  asio::ip::make_address(bare, ec);
  return ec && !IsLocalhostName(bare);
}

// Resolves a host (an IP literal, or a name through c-ares) to addresses, IPv4 first. dns may be
// null when !NeedsDns(host).
std::expected<std::vector<asio::ip::address>, Problem> ResolveHost(DnsClient* dns,
                                                                   std::string_view host) {
  std::string bare(host);
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']')
    bare = bare.substr(1, bare.size() - 2);
  error_code ec;
  auto literal = asio::ip::make_address(bare, ec);
  if (!ec) return std::vector<asio::ip::address>{literal};
  if (IsLocalhostName(bare))
    return std::vector<asio::ip::address>{asio::ip::make_address("127.0.0.1"), asio::ip::make_address("::1")};
  CHECK(dns != nullptr);
  auto found = dns->LookupAddresses(bare);
  if (!found) return std::unexpected(Prob(ProblemType::kDns, found.error().message));
  std::vector<asio::ip::address> out;
  for (const auto* family : {&found->ipv4, &found->ipv6}) {
    for (const std::string& text : *family) {
      auto address = asio::ip::make_address(text, ec);
      if (!ec) out.push_back(address);
    }
  }
  if (out.empty()) return std::unexpected(Prob(ProblemType::kDns, "no usable address for " + bare));
  return out;
}

// What one TCP/TLS exchange produced: a problem, or an HTTP response.
struct Exchange {
  std::optional<Problem> problem;
  unsigned status = 0;
  std::string location;
  std::string body;
  std::string peer;  // "127.0.0.1:5002"
};

std::string DescribeNetworkError(const error_code& ec, const std::string& peer,
                                 std::string_view doing, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) {
    return "no answer from " + peer + " " + std::string(doing) +
           " within the validation timeout (" + Milliseconds(timeout) + ")";
  }
  if (ec == asio::error::connection_refused) return "connection refused by " + peer;
  if (ec == asio::error::connection_reset) return "connection reset by " + peer;
  if (ec == http::error::end_of_stream || ec == asio::error::eof) {
    return peer + " closed the connection " + std::string(doing);
  }
  return "error " + std::string(doing) + " " + peer + ": " + ec.message();
}

// Connects to the first address that accepts, in order.
asio::awaitable<std::optional<Problem>> Connect(beast::tcp_stream& stream,
                                                const std::vector<asio::ip::address>& addresses,
                                                uint16_t port, Deadline deadline,
                                                std::chrono::milliseconds timeout,
                                                std::string& peer) {
  std::string last;
  for (const auto& address : addresses) {
    peer = HostPort(address, port);
    error_code ec;
    stream.expires_at(deadline);
    co_await stream.async_connect(tcp::endpoint(address, port),
                                  asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_return std::nullopt;
    last = ec == beast::error::timeout ? "timed out connecting to " + peer +
                                             " (validation timeout " + Milliseconds(timeout) + ")"
                                       : DescribeNetworkError(ec, peer, "connecting to", timeout);
    if (ec == beast::error::timeout) break;
    error_code ignored;
    stream.socket().close(ignored);
  }
  co_return Prob(ProblemType::kConnection, last);
}

// Sends GET target and reads the response (bounded) on an established stream.
template <typename Stream>
asio::awaitable<Exchange> HttpGet(Stream& stream, beast::tcp_stream& transport,
                                  std::string host_header, std::string target, std::string peer,
                                  Deadline deadline, std::chrono::milliseconds timeout) {
  Exchange out;
  out.peer = peer;
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, host_header);
  request.set(http::field::user_agent, kUserAgent);
  request.set(http::field::accept, "*/*");
  request.set(http::field::connection, "close");
  error_code ec;
  transport.expires_at(deadline);
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out.problem = Prob(ProblemType::kConnection,
                       DescribeNetworkError(ec, peer, "sending the request to", timeout));
    co_return out;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBodyBytes);
  parser.header_limit(kMaxHeaderBytes);
  transport.expires_at(deadline);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  // A TLS peer that closes without close_notify after a complete response is fine here.
  if (ec == ssl::error::stream_truncated && parser.is_done()) ec = {};
  if (ec == http::error::body_limit) {
    out.problem =
        Prob(ProblemType::kIncorrectResponse,
             "the response body from " + peer + " is larger than " + std::to_string(kMaxBodyBytes) +
                 " bytes, expected the key authorization");
    co_return out;
  }
  if (ec) {
    out.problem = Prob(ProblemType::kConnection,
                       DescribeNetworkError(ec, peer, "waiting for the response from", timeout));
    co_return out;
  }
  auto& response = parser.get();
  out.status = response.result_int();
  out.location = std::string(response[http::field::location]);
  out.body = std::move(response.body());
  error_code ignored;
  transport.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return out;
}

// One hop of http-01: connect, optionally TLS (verifying nothing, as Let's Encrypt does for
// redirects to https), GET.
asio::awaitable<Exchange> FetchOnce(std::vector<asio::ip::address> addresses, uint16_t port,
                                    bool https, std::string sni, std::string host_header,
                                    std::string target, ssl::context& tls, Deadline deadline,
                                    std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  beast::tcp_stream stream(executor);
  std::string peer;
  if (auto problem = co_await Connect(stream, addresses, port, deadline, timeout, peer)) {
    Exchange out;
    out.problem = std::move(problem);
    co_return out;
  }
  if (!https) {
    co_return co_await HttpGet(stream, stream, host_header, target, peer, deadline, timeout);
  }
  ssl::stream<beast::tcp_stream> tls_stream(std::move(stream), tls);
  if (!sni.empty()) SSL_set_tlsext_host_name(tls_stream.native_handle(), sni.c_str());
  error_code ec;
  tls_stream.next_layer().expires_at(deadline);
  co_await tls_stream.async_handshake(ssl::stream_base::client,
                                      asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    Exchange out;
    out.problem = Prob(ec == beast::error::timeout ? ProblemType::kConnection : ProblemType::kTls,
                       DescribeNetworkError(ec, peer, "in the TLS handshake with", timeout));
    co_return out;
  }
  co_return co_await HttpGet(tls_stream, tls_stream.next_layer(), host_header, target, peer,
                             deadline, timeout);
}

// Runs a coroutine on a private event loop until it finishes; std::nullopt if it threw or
// outlived the deadline (every operation inside has the deadline as its own expiry, so this is
// only a backstop).
template <typename T>
std::optional<T> RunToCompletion(asio::io_context& io, asio::awaitable<T> coroutine,
                                 Deadline deadline) {
  std::optional<T> result;
  asio::co_spawn(io, std::move(coroutine), [&result](std::exception_ptr error, T value) {
    if (!error) result = std::move(value);
  });
  io.run_until(deadline + kLoopGrace);
  return result;
}

// A URL the http-01 fetcher is about to visit.
struct Location {
  bool https = false;
  std::string host;  // name (lower case) or IP literal without brackets
  uint16_t port = 80;
  bool explicit_port = false;
  std::string target;  // path and query

  std::string HostHeader() const {
    return UrlHost(host) + (explicit_port ? ":" + std::to_string(port) : "");
  }
  // The URL with its port when not the scheme's default (also the base for relative redirects).
  std::string Display() const {
    bool default_port = port == (https ? 443 : 80);
    return (https ? "https://" : "http://") + UrlHost(host) +
           (default_port ? "" : ":" + std::to_string(port)) + target;
  }
  std::string Key() const {
    return (https ? "https://" : "http://") + UrlHost(host) + ":" + std::to_string(port) + target;
  }
};

class ValidatorImpl final : public Validator {
 public:
  explicit ValidatorImpl(ValidationOptions options) : options_(std::move(options)) {}

  // The TLS client context for https redirects of http-01 (RFC 8555 §10.2: the certificate is
  // not checked). Built once: SSL_CTX_new costs hundreds of microseconds in OpenSSL 3.0. Only
  // read after construction, so sharing it between validation threads is safe.
  ssl::context& HttpsClientContext() {
    std::call_once(https_once_, [this] {
      https_ = std::make_unique<ssl::context>(ssl::context::tls_client);
      https_->set_verify_mode(ssl::verify_none);
    });
    return *https_;
  }

  Outcome ValidateHttp01(const Identifier& identifier, std::string_view token,
                         std::string_view key_authorization) override {
    return Guard([&] { return Http01(identifier, token, key_authorization); });
  }
  Outcome ValidateDns01(const Identifier& identifier, std::string_view expected_digest) override {
    return Guard([&] { return Dns01(identifier, expected_digest); });
  }
  Outcome ValidateTlsAlpn01(const Identifier& identifier,
                            std::string_view key_authorization) override {
    return Guard([&] { return TlsAlpn01(identifier, key_authorization); });
  }
  Outcome CheckCaa(const Identifier& identifier, bool wildcard) override {
    // Localhost names have no DNS and so no CAA records (RFC 6761 §6.3).
    if (identifier.type == "dns" && IsLocalhostName(identifier.value)) return std::nullopt;
    return Guard([&] { return Caa(identifier, wildcard); });
  }

 private:
  // No exception leaves the module: whatever escapes a check becomes serverInternal.
  template <typename F>
  static Outcome Guard(F&& check) {
    try {
      return check();
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "validation failed with an exception", {{"what", e.what()}});
    } catch (...) {
      Log(LogLevel::kError, "validation failed with an unknown exception");
    }
    return Prob(ProblemType::kServerInternal, "the validation failed with an internal error");
  }

  Deadline NewDeadline() const { return std::chrono::steady_clock::now() + options_.timeout; }

  std::expected<std::unique_ptr<DnsClient>, Problem> NewDns(Deadline deadline) const {
    auto dns = DnsClient::Create(options_.dns_server, deadline);
    if (!dns) {
      Log(LogLevel::kError, "cannot start the DNS client", {{"error", dns.error().message()}});
      return std::unexpected(Prob(ProblemType::kServerInternal, "the DNS resolver is unavailable"));
    }
    return std::move(*dns);
  }

  bool PortAllowed(uint16_t port) const {
    return port == 80 || port == 443 || port == options_.http01_port ||
           port == options_.tlsalpn01_port;
  }

  std::string AllowedPortsText() const {
    std::set<uint16_t> ports{80, 443, options_.http01_port, options_.tlsalpn01_port};
    std::string out;
    for (uint16_t p : ports) out += (out.empty() ? "" : ", ") + std::to_string(p);
    return out;
  }

  // RFC 8555 §10.2 redirect rules; fills next from a Location header relative to current.
  std::optional<Problem> FollowRedirect(const Location& current, std::string_view header,
                                        Location& next) const {
    std::string from = current.Display();
    auto reference = boost::urls::parse_uri_reference(header);
    boost::urls::url base;
    boost::urls::url resolved;
    if (reference) {
      auto parsed_base = boost::urls::parse_absolute_uri(from);
      if (parsed_base) base = *parsed_base;
    }
    if (!reference || base.empty() || !boost::urls::resolve(base, *reference, resolved)) {
      return Prob(ProblemType::kConnection,
                  from + " redirected to an invalid URL " + Quote(header));
    }
    resolved.remove_fragment();
    std::string to(resolved.buffer());
    if (resolved.scheme_id() == boost::urls::scheme::http) {
      next.https = false;
    } else if (resolved.scheme_id() == boost::urls::scheme::https) {
      next.https = true;
    } else {
      return Prob(ProblemType::kConnection, from + " redirected to " + Quote(to) +
                                                ": only http and https redirects are followed");
    }
    switch (resolved.host_type()) {
      case boost::urls::host_type::name:
        next.host = Lower(resolved.encoded_host());
        break;
      case boost::urls::host_type::ipv4:
        next.host = resolved.host_ipv4_address().to_string();
        break;
      case boost::urls::host_type::ipv6:
        next.host = resolved.host_ipv6_address().to_string();
        break;
      default:
        next.host.clear();
    }
    if (next.host.empty() || next.host.find('%') != std::string::npos) {
      return Prob(ProblemType::kConnection,
                  from + " redirected to " + Quote(to) + ", which has no usable host");
    }
    next.explicit_port = resolved.has_port();
    if (next.explicit_port) {
      if (resolved.port_number() == 0) {
        return Prob(ProblemType::kConnection,
                    from + " redirected to " + Quote(to) + ", which has an invalid port");
      }
      next.port = resolved.port_number();
    } else {
      next.port = next.https ? 443 : 80;
    }
    if (!PortAllowed(next.port)) {
      return Prob(ProblemType::kConnection,
                  from + " redirected to " + Quote(to) + " on port " + std::to_string(next.port) +
                      "; redirects may only go to ports " + AllowedPortsText());
    }
    next.target = std::string(resolved.encoded_target());
    if (next.target.empty()) next.target = "/";
    return std::nullopt;
  }

  Outcome Http01(const Identifier& identifier, std::string_view token,
                 std::string_view key_authorization) {
    if (identifier.type != "dns" && identifier.type != "ip") {
      return Prob(ProblemType::kUnsupportedIdentifier,
                  "http-01 cannot validate identifiers of type " + Quote(identifier.type));
    }
    if (identifier.value.starts_with("*.")) {
      return Prob(ProblemType::kMalformed, "http-01 cannot validate wildcard names");
    }
    Deadline deadline = NewDeadline();
    // Created only when a name needs it: a resolver (c-ares reads its configuration) costs more
    // than the validation of a loopback or IP identifier itself.
    std::unique_ptr<DnsClient> dns;

    Location at;
    at.https = false;
    at.host = identifier.type == "dns" ? Lower(identifier.value) : identifier.value;
    at.port = options_.http01_port;
    // RFC 8555 §8.3 fixes the port; the Host header names just the identifier.
    at.explicit_port = false;
    at.target = "/.well-known/acme-challenge/" + std::string(token);
    std::set<std::string> visited{at.Key()};
    std::string chain;  // "after redirects from …" for messages
    for (int redirects = 0;;) {
      std::string url = at.Display();
      if (!dns && NeedsDns(at.host)) {
        auto created = NewDns(deadline);
        if (!created) return created.error();
        dns = std::move(*created);
      }
      auto addresses = ResolveHost(dns.get(), at.host);
      if (!addresses) return addresses.error();
      std::optional<Exchange> exchange;
      {
        asio::io_context io(1);
        bool is_ip = false;
        {
          error_code ec;
          asio::ip::make_address(at.host, ec);
          is_ip = !ec;
        }
        exchange = RunToCompletion(
            io,
            FetchOnce(*addresses, at.port, at.https, is_ip ? std::string() : at.host,
                      at.HostHeader(), at.target, HttpsClientContext(), deadline, options_.timeout),
            deadline);
      }
      if (!exchange) {
        return Prob(ProblemType::kConnection, "no answer for " + url +
                                                  " within the validation timeout (" +
                                                  Milliseconds(options_.timeout) + ")" + chain);
      }
      if (exchange->problem) {
        exchange->problem->detail += chain;
        return exchange->problem;
      }
      unsigned status = exchange->status;
      if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
        if (exchange->location.empty()) {
          return Prob(ProblemType::kUnauthorized, url + " answered HTTP " + std::to_string(status) +
                                                      " without a Location header" + chain);
        }
        if (++redirects > kMaxRedirects) {
          return Prob(ProblemType::kConnection, "too many redirects: more than " +
                                                    std::to_string(kMaxRedirects) +
                                                    ", the last from " + url);
        }
        Location next;
        if (auto problem = FollowRedirect(at, exchange->location, next)) return problem;
        if (!visited.insert(next.Key()).second) {
          return Prob(ProblemType::kConnection, "redirect loop: " + url + " redirected to " +
                                                    next.Display() + ", which was already visited");
        }
        if (chain.empty()) chain = " (after a redirect from " + url + ")";
        at = std::move(next);
        continue;
      }
      if (status != 200) {
        return Prob(ProblemType::kUnauthorized,
                    url + " answered HTTP " + std::to_string(status) + ", expected 200" + chain);
      }
      std::string_view body = TrimTrailingWhitespace(exchange->body);
      if (body == key_authorization) return std::nullopt;
      return Prob(ProblemType::kIncorrectResponse,
                  "the response body was " + Quote(exchange->body) + " (" +
                      std::to_string(exchange->body.size()) +
                      " bytes), expected the key authorization" + chain);
    }
  }

  Outcome Dns01(const Identifier& identifier, std::string_view expected_digest) {
    if (identifier.type != "dns") {
      return Prob(ProblemType::kUnsupportedIdentifier, "dns-01 validates DNS names only, not " +
                                                           Quote(identifier.type) + " identifiers");
    }
    std::string name = Lower(identifier.value);
    if (name.starts_with("*.")) name = name.substr(2);
    if (!name.empty() && name.back() == '.') name.pop_back();
    // RFC 8555 §8.4: the TXT record lives at "_acme-challenge." prepended to the domain name.
    std::string query = "_acme-challenge." + name;
    auto dns = NewDns(NewDeadline());
    if (!dns) return dns.error();
    auto records = (*dns)->LookupTxt(query);
    if (!records) {
      const internal::DnsError& e = records.error();
      if (e.failure == DnsFailure::kNoData) {
        return Prob(ProblemType::kUnauthorized, "no TXT record at " + query);
      }
      if (e.failure == DnsFailure::kNxDomain) {
        return Prob(ProblemType::kUnauthorized, "no TXT record at " + query + " (NXDOMAIN)");
      }
      return Prob(ProblemType::kDns, e.message);
    }
    for (const std::string& value : *records) {
      if (ConstantTimeEqual(AsBytes(value), AsBytes(expected_digest))) return std::nullopt;
    }
    std::string seen;
    constexpr size_t kShown = 5;
    for (size_t i = 0; i < records->size() && i < kShown; ++i) {
      seen += (i == 0 ? "" : ", ") + Quote((*records)[i]);
    }
    if (records->size() > kShown)
      seen += " and " + std::to_string(records->size() - kShown) + " more";
    return Prob(ProblemType::kIncorrectResponse,
                "the TXT record" + std::string(records->size() == 1 ? "" : "s") + " at " + query +
                    (records->size() == 1 ? " is " : " are ") + seen + ", expected " +
                    Quote(expected_digest));
  }

  Outcome TlsAlpn01(const Identifier& identifier, std::string_view key_authorization) {
    if (identifier.type != "dns" && identifier.type != "ip") {
      return Prob(ProblemType::kUnsupportedIdentifier,
                  "tls-alpn-01 cannot validate identifiers of type " + Quote(identifier.type));
    }
    if (identifier.value.starts_with("*.")) {
      return Prob(ProblemType::kMalformed, "tls-alpn-01 cannot validate wildcard names");
    }
    Deadline deadline = NewDeadline();
    std::vector<asio::ip::address> addresses;
    std::string sni;
    std::optional<asio::ip::address> ip;
    if (identifier.type == "ip") {
      error_code ec;
      auto address = asio::ip::make_address(identifier.value, ec);
      if (ec)
        return Prob(ProblemType::kMalformed, Quote(identifier.value) + " is not an IP address");
      ip = address;
      addresses.push_back(address);
      sni = ReverseDnsName(address);
    } else {
      sni = Lower(identifier.value);
      if (!sni.empty() && sni.back() == '.') sni.pop_back();
      auto dns = NewDns(deadline);
      if (!dns) return dns.error();
      auto resolved = ResolveHost(dns->get(), sni);
      if (!resolved) return resolved.error();
      addresses = std::move(*resolved);
    }
    ssl::context tls(ssl::context::tls_client);
    tls.set_verify_mode(ssl::verify_none);
    // RFC 8737 §4: "ACME servers that implement "acme-tls/1" MUST only negotiate TLS 1.2 [RFC5246]
    // or higher".
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    Bytes expected = crypto::Digest(crypto::DigestAlgorithm::kSha256, AsBytes(key_authorization));
    std::optional<Outcome> result;
    {
      asio::io_context io(1);
      auto verdict = RunToCompletion(
          io, TlsAlpnExchange(addresses, sni, identifier, ip, expected, tls, deadline), deadline);
      if (verdict) result = std::move(verdict->problem);
    }
    if (!result) {
      return Prob(ProblemType::kConnection, "no TLS answer from " + identifier.value +
                                                " within the validation timeout (" +
                                                Milliseconds(options_.timeout) + ")");
    }
    return *result;
  }

  // Connects, handshakes with SNI and ALPN "acme-tls/1", and checks the certificate (RFC 8737 §3).
  asio::awaitable<Exchange> TlsAlpnExchange(std::vector<asio::ip::address> addresses,
                                            std::string sni, Identifier identifier,
                                            std::optional<asio::ip::address> ip, Bytes expected,
                                            ssl::context& tls, Deadline deadline) {
    auto executor = co_await asio::this_coro::executor;
    beast::tcp_stream stream(executor);
    Exchange out;
    std::string peer;
    if (auto problem = co_await Connect(stream, addresses, options_.tlsalpn01_port, deadline,
                                        options_.timeout, peer)) {
      out.problem = std::move(problem);
      co_return out;
    }
    ssl::stream<beast::tcp_stream> tls_stream(std::move(stream), tls);
    SSL* ssl_handle = tls_stream.native_handle();
    SSL_set_tlsext_host_name(ssl_handle, sni.c_str());
    std::string alpn_wire =
        std::string(1, static_cast<char>(kAcmeTlsProtocol.size())) + std::string(kAcmeTlsProtocol);
    SSL_set_alpn_protos(ssl_handle, reinterpret_cast<const unsigned char*>(alpn_wire.data()),
                        static_cast<unsigned>(alpn_wire.size()));
    error_code ec;
    tls_stream.next_layer().expires_at(deadline);
    co_await tls_stream.async_handshake(ssl::stream_base::client,
                                        asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      out.problem =
          Prob(ec == beast::error::timeout ? ProblemType::kConnection : ProblemType::kTls,
               DescribeNetworkError(ec, peer, "in the TLS handshake with", options_.timeout));
      co_return out;
    }
    out.problem = CheckAcmeTlsHandshake(ssl_handle, peer, identifier, ip, expected);
    error_code ignored;
    tls_stream.next_layer().socket().close(ignored);
    co_return out;
  }

  static Outcome CheckAcmeTlsHandshake(SSL* ssl_handle, const std::string& peer,
                                       const Identifier& identifier,
                                       const std::optional<asio::ip::address>& ip,
                                       const Bytes& expected) {
    const unsigned char* alpn = nullptr;
    unsigned alpn_length = 0;
    SSL_get0_alpn_selected(ssl_handle, &alpn, &alpn_length);
    std::string_view negotiated(reinterpret_cast<const char*>(alpn), alpn_length);
    if (negotiated != kAcmeTlsProtocol) {
      return Prob(ProblemType::kTls, peer +
                                         " did not negotiate the ALPN protocol \"acme-tls/1\" (" +
                                         (negotiated.empty() ? std::string("none was negotiated")
                                                             : "it chose " + Quote(negotiated)) +
                                         ")");
    }
    crypto::X509Ptr cert(SSL_get1_peer_certificate(ssl_handle));
    if (!cert) return Prob(ProblemType::kTls, peer + " sent no certificate");

    // RFC 8737 §3: "The client prepares for validation by constructing a self-signed
    // certificate that MUST contain an acmeIdentifier extension and a subjectAlternativeName
    // extension [RFC5280].  The subjectAlternativeName extension MUST contain a single dNSName
    // entry where the value is the domain name being validated."
    std::string want = ip ? "IP:" + ip->to_string() : "DNS:" + Lower(identifier.value);
    int critical = 0;
    crypto::GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert.get(), NID_subject_alt_name, &critical, nullptr)));
    crypto::ClearOpenSslErrors();
    std::vector<std::string> seen;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
      if (name->type == GEN_DNS) {
        const ASN1_IA5STRING* s = name->d.dNSName;
        seen.push_back("DNS:" + Lower(std::string_view(reinterpret_cast<const char*>(s->data),
                                                       static_cast<size_t>(s->length))));
      } else if (name->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = name->d.iPAddress;
        std::string text = "?";
        if (s->length == 4) {
          asio::ip::address_v4::bytes_type b;
          std::copy_n(s->data, 4, b.begin());
          text = asio::ip::address_v4(b).to_string();
        } else if (s->length == 16) {
          asio::ip::address_v6::bytes_type b;
          std::copy_n(s->data, 16, b.begin());
          text = asio::ip::address_v6(b).to_string();
        }
        seen.push_back("IP:" + text);
      } else {
        seen.push_back("(a name of another type)");
      }
    }
    if (seen.size() != 1 || seen[0] != want) {
      std::string listed;
      for (const std::string& s : seen) listed += (listed.empty() ? "" : ", ") + s;
      return Prob(
          ProblemType::kIncorrectResponse,
          "the certificate from " + peer + " has " +
              (seen.empty() ? std::string("no subjectAltName") : "subjectAltName " + listed) +
              ", expected exactly " + want);
    }

    std::unique_ptr<ASN1_OBJECT, decltype(&ASN1_OBJECT_free)> oid(
        OBJ_txt2obj(kAcmeIdentifierOid, 1), &ASN1_OBJECT_free);
    if (!oid) {
      crypto::ClearOpenSslErrors();
      return Prob(ProblemType::kServerInternal, "the validation failed with an internal error");
    }
    int index = X509_get_ext_by_OBJ(cert.get(), oid.get(), -1);
    if (index < 0) {
      return Prob(ProblemType::kIncorrectResponse, "the certificate from " + peer +
                                                       " has no acmeIdentifier extension (" +
                                                       kAcmeIdentifierOid + ")");
    }
    if (X509_get_ext_by_OBJ(cert.get(), oid.get(), index) >= 0) {
      return Prob(ProblemType::kIncorrectResponse,
                  "the certificate from " + peer + " has more than one acmeIdentifier extension");
    }
    X509_EXTENSION* extension = X509_get_ext(cert.get(), index);
    // RFC 8737 §3: "The acmeIdentifier extension MUST be critical so that the certificate isn't
    // inadvertently used by non-ACME software."
    if (X509_EXTENSION_get_critical(extension) != 1) {
      return Prob(ProblemType::kIncorrectResponse,
                  "the acmeIdentifier extension in the certificate from " + peer +
                      " is not marked critical");
    }
    // extnValue holds the DER of: Authorization ::= OCTET STRING (SIZE (32)).
    const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(extension);
    const unsigned char* p = value->data;
    crypto::Asn1OctetStringPtr inner(d2i_ASN1_OCTET_STRING(nullptr, &p, value->length));
    if (!inner || p != value->data + value->length || inner->length != 32) {
      crypto::ClearOpenSslErrors();
      return Prob(ProblemType::kIncorrectResponse,
                  "the acmeIdentifier extension in the certificate from " + peer +
                      " is not an OCTET STRING of 32 bytes");
    }
    ByteView got(inner->data, static_cast<size_t>(inner->length));
    if (!ConstantTimeEqual(got, expected)) {
      return Prob(ProblemType::kIncorrectResponse,
                  "the acmeIdentifier extension in the certificate from " + peer + " holds " +
                      HexEncode(got) + ", expected SHA-256 of the key authorization " +
                      HexEncode(expected));
    }
    return std::nullopt;
  }

  Outcome Caa(const Identifier& identifier, bool wildcard) {
    // RFC 8738 §7 leaves CAA for IP identifiers undefined; there is no tree to climb.
    if (identifier.type == "ip") return std::nullopt;
    if (identifier.type != "dns") {
      return Prob(ProblemType::kUnsupportedIdentifier,
                  "CAA applies to DNS names, not " + Quote(identifier.type) + " identifiers");
    }
    std::string name = Lower(identifier.value);
    if (name.starts_with("*.")) {
      name = name.substr(2);
      wildcard = true;
    }
    if (!name.empty() && name.back() == '.') name.pop_back();
    auto dns = NewDns(NewDeadline());
    if (!dns) return dns.error();
    // RFC 8659 §3: climb from the FQDN towards the root ("up to but not including the DNS root")
    // and use the first non-empty RRset.
    for (std::string at = name; !at.empty();) {
      auto records = (*dns)->LookupCaa(at);
      if (records) return internal::EvaluateCaa(*records, at, wildcard, options_.caa_identities);
      DnsFailure failure = records.error().failure;
      if (failure != DnsFailure::kNoData && failure != DnsFailure::kNxDomain) {
        // RFC 8659 §3: a CA MUST NOT issue when the lookup fails.
        return Prob(ProblemType::kDns, "cannot check CAA: " + records.error().message);
      }
      size_t dot = at.find('.');
      at = dot == std::string::npos ? std::string() : at.substr(dot + 1);
    }
    return std::nullopt;
  }

  std::once_flag https_once_;
  std::unique_ptr<ssl::context> https_;
  const ValidationOptions options_;
};

}  // namespace

Result<std::unique_ptr<Validator>> Validator::Create(const ValidationOptions& options) {
  if (options.timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "the validation timeout must be positive");
  }
  if (options.http01_port == 0 || options.tlsalpn01_port == 0) {
    return Fail(ErrorCode::kInvalidArgument, "validation ports must not be 0");
  }
  // Check the DNS server string now rather than at the first validation.
  TRY(DnsClient::Create(options.dns_server, std::chrono::steady_clock::now() + options.timeout));
  return std::unique_ptr<Validator>(new ValidatorImpl(options));
}

}  // namespace autoseal::acme::server
