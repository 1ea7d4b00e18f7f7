// Fuzzes the gateway's strict HTTP/1.1 head parser (gateway/internal/http_head.h) against Beast's
// general parser, which the gateway falls back to for everything the strict one leaves alone.
// Invariants: no crash, no read outside the input; a head the strict parser completes is one
// Beast parses too, to the same method, target, version, status, reason and fields in the same
// order (a difference would let the fast path forward what the general path refuses, the stuff
// request smuggling is made of). Beast may refuse it only for the value of a field it interprets
// (Content-Length, Transfer-Encoding, Connection, Proxy-Connection); the fast path takes no
// request with the first two or the last, and only close/keep-alive in Connection. The first
// input byte picks request (even) or response (odd).

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "core/error.h"
#include "gateway/internal/http_head.h"

using namespace autoseal;
using namespace autoseal::gateway::internal;
namespace http = boost::beast::http;

namespace {

bool HasFieldBeastInterprets(const HeadFields& fields) {
  for (std::string_view name :
       {"content-length", "transfer-encoding", "connection", "proxy-connection"}) {
    if (fields.Find(name) != nullptr) return true;
  }
  return false;
}

template <bool kRequest>
bool BeastParses(std::string_view head, http::parser<kRequest, http::empty_body>& parser) {
  parser.eager(false);
  parser.header_limit(static_cast<std::uint32_t>(head.size() + 1));
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  return !ec && parser.is_header_done() && used == head.size();
}

// Beast keeps fields of one name together, in order (RFC 9110 §5.3: the order of different
// names carries no meaning), so each name's values are compared as a sequence.
void CheckFields(const HeadFields& ours, const http::fields& theirs) {
  CHECK(static_cast<size_t>(std::distance(theirs.begin(), theirs.end())) == ours.count);
  for (size_t i = 0; i < ours.count; ++i) {
    const HeadField& field = ours.fields[i];
    size_t occurrence = 0;
    for (size_t j = 0; j < i; ++j) {
      occurrence += boost::beast::iequals(ours.fields[j].name, field.name) ? 1 : 0;
    }
    auto range = theirs.equal_range(boost::beast::string_view(field.name.data(), field.name.size()));
    auto it = range.first;
    for (size_t k = 0; k < occurrence && it != range.second; ++k) ++it;
    CHECK(it != range.second);
    CHECK(boost::beast::iequals(it->name_string(),
                                boost::beast::string_view(field.name.data(), field.name.size())));
    CHECK(std::string_view(it->value().data(), it->value().size()) == field.value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  bool request = (data[0] & 1) == 0;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr size_t kMax = 8 * 1024;
  if (request) {
    RequestHead head;
    HeadParse result = ParseRequestHead(input, kMax, head);
    if (result != HeadParse::kComplete) return 0;
    CHECK(head.size <= input.size() && head.size <= kMax);
    CHECK(input.substr(head.size - 4, 4) == "\r\n\r\n");
    http::request_parser<http::empty_body> parser;
    if (!BeastParses(input.substr(0, head.size), parser)) {
      CHECK(HasFieldBeastInterprets(head.fields));
      return 0;
    }
    const auto& msg = parser.get();
    CHECK(std::string_view(msg.method_string().data(), msg.method_string().size()) ==
          head.method);
    CHECK(std::string_view(msg.target().data(), msg.target().size()) == head.target);
    CHECK(msg.version() == head.version);
    CheckFields(head.fields, msg.base());
  } else {
    ResponseHead head;
    HeadParse result = ParseResponseHead(input, kMax, head);
    if (result != HeadParse::kComplete) return 0;
    CHECK(head.size <= input.size() && head.size <= kMax);
    http::response_parser<http::empty_body> parser;
    if (!BeastParses(input.substr(0, head.size), parser)) {
      CHECK(HasFieldBeastInterprets(head.fields));
      return 0;
    }
    const auto& msg = parser.get();
    CHECK(msg.result_int() == head.status);
    // Beast reports the standard phrase for an empty reason-phrase.
    if (!head.reason.empty()) {
      CHECK(std::string_view(msg.reason().data(), msg.reason().size()) == head.reason);
    }
    CHECK(msg.version() == head.version);
    CheckFields(head.fields, msg.base());
  }
  return 0;
}
