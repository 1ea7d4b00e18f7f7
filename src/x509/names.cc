#include "x509/names.h"

#include <arpa/inet.h>

#include <cctype>

namespace autoseal::x509 {
namespace {

Status Bad(std::string_view name, std::string_view why) {
  return Fail(ErrorCode::kInvalidArgument, "invalid DNS name '" + std::string(name) + "': " + std::string(why));
}

bool IsLdh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

}  // namespace

Status ValidateDnsName(std::string_view name, bool allow_wildcard) {
  if (name.empty()) return Bad(name, "empty");
  if (name.size() > 253) return Bad(name, "longer than 253 characters");
  for (unsigned char c : name) {
    if (c >= 0x80) return Bad(name, "non-ASCII characters (use the A-label, xn--, form)");
  }
  if (ParseIpAddress(name).has_value()) return Bad(name, "an IP address is not a DNS name");
  if (name.back() == '.') return Bad(name, "trailing dot");
  std::string_view rest = name;
  bool first = true;
  int labels = 0;
  while (true) {
    size_t dot = rest.find('.');
    std::string_view label = rest.substr(0, dot);
    if (label.empty()) return Bad(name, "empty label");
    if (label.size() > 63) return Bad(name, "label longer than 63 characters");
    if (label.find('*') != std::string_view::npos) {
      if (label != "*") return Bad(name, "a wildcard must be the whole left-most label");
      if (!first) return Bad(name, "a wildcard is allowed only as the left-most label");
      if (!allow_wildcard) return Bad(name, "wildcards are not allowed here");
    } else {
      for (char c : label)
        if (!IsLdh(c)) return Bad(name, std::string("character '") + c + "' not allowed");
      if (label.front() == '-' || label.back() == '-')
        return Bad(name, "a label may not start or end with '-'");
      // RFC 5891 §4.2.3.1: "--" in positions 3-4 is reserved for A-labels ("xn--").
      if (label.size() >= 4 && label[2] == '-' && label[3] == '-' &&
          !(std::tolower(label[0]) == 'x' && std::tolower(label[1]) == 'n'))
        return Bad(name, "hyphens in the 3rd and 4th positions are reserved for xn-- labels");
    }
    ++labels;
    first = false;
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  if (name.starts_with("*.") && labels < 3) return Bad(name, "wildcard directly under a top-level domain");
  // The top-level label of a hostname is not all-numeric (RFC 3696 §2).
  size_t last_dot = name.rfind('.');
  std::string_view tld = last_dot == std::string_view::npos ? name : name.substr(last_dot + 1);
  bool numeric = true;
  for (char c : tld) numeric = numeric && std::isdigit(static_cast<unsigned char>(c));
  if (numeric) return Bad(name, "all-numeric top-level label");
  return Ok();
}

Status ValidateEmailAddress(std::string_view address) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                "invalid email address '" + std::string(address) + "': " + std::string(why));
  };
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return bad("no '@'");
  std::string_view local = address.substr(0, at), domain = address.substr(at + 1);
  if (local.empty() || local.size() > 64) return bad("local part must be 1-64 characters");
  for (unsigned char c : local) {
    if (c >= 0x80) return bad("non-ASCII local part (SmtpUTF8Mailbox is not supported)");
    if (c <= 0x20 || c == 0x7f || c == '@' || c == '"' || c == '(' || c == ')' || c == ',' ||
        c == ':' || c == ';' || c == '<' || c == '>' || c == '[' || c == ']' || c == '\\')
      return bad("character not allowed in the local part");
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return bad("misplaced '.' in the local part");
  auto d = ValidateDnsName(domain, false);
  if (!d) return bad(d.error().message());
  return Ok();
}

Result<Bytes> ParseIpAddress(std::string_view text) {
  std::string s(text);
  unsigned char buf[16];
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) return Bytes(buf, buf + 4);
  } else if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return Bytes(buf, buf + 16);
  }
  return Fail(ErrorCode::kInvalidArgument, "not an IP address: '" + s + "'");
}

std::string FormatIpAddress(ByteView address) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (address.size() == 4) inet_ntop(AF_INET, address.data(), buf, sizeof buf);
  else if (address.size() == 16) inet_ntop(AF_INET6, address.data(), buf, sizeof buf);
  else return "<invalid IP of " + std::to_string(address.size()) + " bytes>";
  return buf;
}

}  // namespace autoseal::x509
