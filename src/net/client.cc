#include "net/client.h"

// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames when optimising with
// sanitizers (GCC bug 109224, fixed in GCC 14): the frame's operator new and delete do match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <exception>
#include <memory>
#include <vector>

#include "net/internal/tls.h"

namespace autoseal::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxUrlBytes = 64 * 1024;

// The parts of an http(s) URL that a fetch needs.
struct Target {
  bool tls = false;
  std::string host;  // no brackets, percent-decoded
  uint16_t port = 0;
  std::string host_header;  // RFC 9110 §7.2: uri-host [ ":" port ]
  std::string target;       // origin form: path and query
};

Result<Target> ParseUrl(const std::string& url) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument, "invalid URL \"" + url + "\": " + std::string(why));
  };
  if (url.size() > kMaxUrlBytes) return bad("too long");
  urls::result<urls::url_view> parsed = urls::parse_uri(url);
  if (!parsed) return bad(parsed.error().message());
  const urls::url_view& view = *parsed;
  Target t;
  if (view.scheme_id() == urls::scheme::https) {
    t.tls = true;
  } else if (view.scheme_id() != urls::scheme::http) {
    return bad("only http and https URLs are supported");
  }
  if (!view.has_authority()) return bad("missing host");
  if (view.has_userinfo()) return bad("credentials in URLs are not supported");
  switch (view.host_type()) {
    case urls::host_type::ipv4:
    case urls::host_type::ipv6:
      t.host = view.host_address();
      break;
    case urls::host_type::name:
      t.host = view.host_name();
      break;
    default:
      return bad("unsupported host");
  }
  if (t.host.empty()) return bad("missing host");
  t.port = t.tls ? 443 : 80;
  if (view.has_port() && !view.port().empty()) {
    // Parsed here: url_view::port_number() wraps values above 65535.
    std::string_view text = view.port();
    unsigned port = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (ec != std::errc() || end != text.data() + text.size() || port == 0 || port > 65535) {
      return bad("port must be 1..65535");
    }
    t.port = static_cast<uint16_t>(port);
  }
  t.host_header = std::string(view.encoded_host_and_port());
  t.target = std::string(view.encoded_target());
  if (t.target.empty() || t.target[0] != '/') t.target.insert(0, "/");
  return t;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

Result<http::request<http::string_body>> BuildRequest(const HttpRequest& request,
                                                      const Target& target,
                                                      const HttpClientOptions& options,
                                                      const std::string& url) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument, "request to " + url + ": " + std::string(why));
  };
  std::string method = request.method.empty() ? "GET" : request.method;
  if (!IsToken(method)) return bad("invalid method");
  http::request<http::string_body> out;
  out.method_string(method);
  out.target(target.target);
  out.version(11);
  bool has_host = false;
  bool has_user_agent = false;
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name) || value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return bad("invalid header field \"" + name + "\"");
    }
    // Framing and connection management are ours (one request per connection).
    if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
        EqualsIgnoreCase(name, "Connection")) {
      continue;
    }
    if (EqualsIgnoreCase(name, "Host")) has_host = true;
    if (EqualsIgnoreCase(name, "User-Agent")) has_user_agent = true;
    out.insert(name, value);
  }
  if (!has_host) out.set(http::field::host, target.host_header);
  if (!has_user_agent && !options.user_agent.empty()) {
    out.set(http::field::user_agent, options.user_agent);
  }
  out.set(http::field::connection, "close");
  out.body() = request.body;
  if (!request.body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    out.content_length(request.body.size());
  }
  return out;
}

// Everything one exchange owns. Shared between the coroutine and the writer that runs
// concurrently with the response read (a server may answer, e.g. with 413, before it has read
// the whole request), so that neither outlives what it uses.
template <class Stream>
struct Exchange {
  template <class... Args>
  Exchange(asio::io_context& io, Args&&... args)
      : stream(std::forward<Args>(args)...), resolver(io), deadline(io) {}

  tcp::socket& Socket() { return beast::get_lowest_layer(stream); }

  Stream stream;
  tcp::resolver resolver;
  asio::steady_timer deadline;
  http::request<http::string_body> request;
  bool timed_out = false;
  bool write_done = false;
  beast::error_code write_ec;
};

template <class Stream>
asio::awaitable<void> RunExchange(std::shared_ptr<Exchange<Stream>> ex, const Target& target,
                                  const HttpClientOptions& options, const std::string& what,
                                  Result<HttpResponse>* out) {
  constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;
  const std::string host_port = FormatHostPort(target.host, target.port);
  auto fail = [&](std::string message) {
    ErrorCode code = ErrorCode::kNetwork;
    if (ex->timed_out) {
      code = ErrorCode::kTimeout;
      message =
          "timed out after " + std::to_string(options.timeout.count()) + " ms (" + message + ")";
    }
    *out = Fail(code, what + ": " + message);
  };
  auto finish = [&] {
    beast::error_code ignored;
    ex->deadline.cancel();
    ex->Socket().close(ignored);
  };

  std::vector<tcp::endpoint> endpoints;
  beast::error_code ec;
  asio::ip::address literal = asio::ip::make_address(target.host, ec);
  if (!ec) {
    endpoints.emplace_back(literal, target.port);
  } else {
    auto [resolve_ec, results] =
        co_await ex->resolver.async_resolve(target.host, std::to_string(target.port), kUseTuple);
    if (resolve_ec) {
      fail("cannot resolve " + target.host + ": " + resolve_ec.message());
      finish();
      co_return;
    }
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }

  {
    auto [connect_ec, endpoint] = co_await asio::async_connect(ex->Socket(), endpoints, kUseTuple);
    if (connect_ec) {
      fail("cannot connect to " + host_port + ": " + connect_ec.message());
      finish();
      co_return;
    }
  }
  ex->Socket().set_option(tcp::no_delay(true), ec);

  if constexpr (kTls) {
    Status configured = internal::ConfigureClientSsl(ex->stream.native_handle(), target.host);
    if (!configured) {
      fail(configured.error().message());
      finish();
      co_return;
    }
    auto [handshake_ec] =
        co_await ex->stream.async_handshake(asio::ssl::stream_base::client, kUseTuple);
    if (handshake_ec) {
      std::string reason = internal::VerifyFailureReason(ex->stream.native_handle());
      internal::DrainOpenSslErrors();
      fail("TLS handshake with " + host_port +
           " failed: " + (reason.empty() ? handshake_ec.message() : reason));
      finish();
      co_return;
    }
  }

  http::async_write(ex->stream, ex->request, [ex](beast::error_code write_ec, size_t) {
    ex->write_done = true;
    ex->write_ec = write_ec;
  });

  beast::flat_buffer buffer;
  for (;;) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_response_body_bytes);
    parser.header_limit(static_cast<std::uint32_t>(std::min<size_t>(
        options.max_response_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    if (ex->request.method() == http::verb::head) parser.skip(true);
    auto [read_ec, n] = co_await http::async_read(ex->stream, buffer, parser, kUseTuple);
    if (read_ec) {
      if (read_ec == http::error::body_limit) {
        fail("response body from " + host_port + " exceeds " +
             std::to_string(options.max_response_body_bytes) + " bytes");
      } else if (read_ec == http::error::header_limit) {
        fail("response header from " + host_port + " exceeds " +
             std::to_string(options.max_response_header_bytes) + " bytes");
      } else if (ex->write_done && ex->write_ec) {
        fail("sending request to " + host_port + ": " + ex->write_ec.message());
      } else {
        fail("reading response from " + host_port + ": " + read_ec.message());
      }
      finish();
      co_return;
    }
    http::response<http::string_body>& message = parser.get();
    const unsigned status = message.result_int();
    // RFC 9110 §15.2: a client MUST be able to parse 1xx responses before the final one.
    if (status >= 100 && status < 200 && status != 101) continue;
    HttpResponse response;
    response.status = static_cast<int>(status);
    for (const auto& field : message) {
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    response.body = std::move(message.body());
    *out = std::move(response);
    finish();
    co_return;
  }
}

template <class Stream, class... StreamArgs>
Result<HttpResponse> Fetch(asio::io_context& io, const Target& target,
                           http::request<http::string_body> request,
                           const HttpClientOptions& options, const std::string& what,
                           StreamArgs&&... stream_args) {
  auto ex = std::make_shared<Exchange<Stream>>(io, std::forward<StreamArgs>(stream_args)...);
  ex->request = std::move(request);
  Result<HttpResponse> result = Fail(ErrorCode::kInternal, what + ": no result");
  ex->deadline.expires_after(options.timeout);
  ex->deadline.async_wait([ex](beast::error_code ec) {
    if (ec) return;  // cancelled: the exchange finished in time
    ex->timed_out = true;
    ex->resolver.cancel();
    beast::error_code ignored;
    ex->Socket().close(ignored);
  });
  asio::co_spawn(io, RunExchange<Stream>(ex, target, options, what, &result),
                 [&](std::exception_ptr e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& error) {
                     result = Fail(ErrorCode::kInternal, what + ": " + error.what());
                   } catch (...) {
                     result = Fail(ErrorCode::kInternal, what + ": unknown exception");
                   }
                 });
  ex.reset();
  try {
    io.run();
  } catch (const std::exception& e) {
    // Not expected: every handler above catches. Report instead of crossing the module boundary.
    return Fail(ErrorCode::kInternal, what + ": " + e.what());
  }
  return result;
}

}  // namespace

Result<HttpResponse> HttpFetch(const HttpRequest& request, const HttpClientOptions& options) {
  Target target = TRY(ParseUrl(request.target));
  const std::string what =
      (request.method.empty() ? std::string("GET") : request.method) + " " + request.target;
  if (options.timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, what + ": timeout must be positive");
  }
  http::request<http::string_body> message = TRY(BuildRequest(request, target, options, what));
  try {
    asio::io_context io(1);
    if (!target.tls) {
      return Fetch<tcp::socket>(io, target, std::move(message), options, what, io);
    }
    internal::SslCtxPtr ctx = TRY_CONTEXT(internal::BuildClientSslCtx(options), what);
    asio::ssl::context context(ctx.release());
    return Fetch<asio::ssl::stream<tcp::socket>>(io, target, std::move(message), options, what, io,
                                                 context);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInternal, what + ": " + e.what());
  }
}

}  // namespace autoseal::net
