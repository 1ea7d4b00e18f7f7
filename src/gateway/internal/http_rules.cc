#include "gateway/internal/http_rules.h"

#include <charconv>
#include <set>

namespace autoseal::gateway::internal {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsLower(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != lower[i]) return false;
  }
  return true;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ValidServerName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;
  }
  return name.find("..") == std::string_view::npos;
}

}  // namespace

std::optional<std::string> NormalizeHost(std::string_view host_field) {
  host_field = Trim(host_field);
  if (host_field.empty() || host_field.size() > 260) return std::nullopt;
  std::string_view host = host_field;
  std::string_view port;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view inner = host.substr(1, close - 1);
    if (inner.empty()) return std::nullopt;
    for (char c : inner) {
      bool ok =
          (c >= '0' && c <= '9') || (Lower(c) >= 'a' && Lower(c) <= 'f') || c == ':' || c == '.';
      if (!ok) return std::nullopt;
    }
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
    host = host.substr(0, close + 1);
  } else {
    size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
  }
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  if (port.size() > 5) return std::nullopt;
  // ":80" leaves no host at all (RFC 9110 §7.2: uri-host is not optional).
  if (host.empty()) return std::nullopt;
  std::string out;
  out.reserve(host.size());
  for (char c : host) out += Lower(c);
  if (out.front() != '[') {
    if (!out.empty() && out.back() == '.') out.pop_back();
    if (out.empty()) return std::nullopt;
    for (char c : out) {
      if (!IsNameChar(c)) return std::nullopt;
    }
  }
  return out;
}

bool ServerNameMatches(std::string_view pattern, std::string_view server_name) {
  if (pattern.starts_with("*.")) {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    if (server_name.size() <= suffix.size() || !server_name.ends_with(suffix)) return false;
    std::string_view label = server_name.substr(0, server_name.size() - suffix.size());
    return label.find('.') == std::string_view::npos;
  }
  return pattern == server_name;
}

Result<OriginUrl> ParseOriginUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                "origin URL \"" + std::string(url) + "\": " + std::string(why));
  };
  constexpr std::string_view kScheme = "http://";
  if (url.size() < kScheme.size() || !EqualsLower(url.substr(0, kScheme.size()), kScheme)) {
    return bad("must start with http://");
  }
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) return bad("no query or fragment");
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.empty()) return bad("no host");
  if (authority.find('@') != std::string_view::npos) return bad("no user information");
  OriginUrl origin;
  origin.authority = std::string(authority);
  std::string_view host = authority;
  std::string_view port;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return bad("unclosed IPv6 literal");
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return bad("bad port");
      port = host.substr(close + 2);
    }
    host = host.substr(1, close - 1);
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (host.empty()) return bad("no host");
  if (!port.empty() || authority.back() == ':') {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return bad("bad port");
    }
    origin.port = static_cast<uint16_t>(value);
  }
  origin.host = std::string(host);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  origin.base_path = std::string(path);
  return origin;
}

Status ValidateSites(const std::vector<SiteConfig>& sites) {
  std::set<std::string, std::less<>> names;
  std::set<std::string, std::less<>> server_names;
  for (const SiteConfig& site : sites) {
    if (site.name.empty()) return Fail(ErrorCode::kInvalidArgument, "a site has no name");
    if (!names.insert(site.name).second) {
      return Fail(ErrorCode::kInvalidArgument, "site \"" + site.name + "\" is defined twice");
    }
    if (site.server_names.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "site \"" + site.name + "\" has no server name");
    }
    for (const std::string& name : site.server_names) {
      if (!ValidServerName(name)) {
        return Fail(ErrorCode::kInvalidArgument, "site \"" + site.name + "\": server name \"" +
                                                     name + "\" is not a lower-case host name");
      }
      if (!server_names.insert(name).second) {
        return Fail(ErrorCode::kInvalidArgument,
                    "server name \"" + name + "\" belongs to two sites");
      }
    }
    TRY_CONTEXT(ParseOriginUrl(site.origin), "site \"" + site.name + "\"");
  }
  return Ok();
}

void AppendConnectionOptions(std::string_view value, std::vector<std::string>& out) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = Trim(value.substr(0, comma));
    if (!item.empty()) {
      std::string lower;
      for (char c : item) lower += Lower(c);
      out.push_back(std::move(lower));
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

bool IsHopByHop(std::string_view name) {
  switch (name.size()) {
    case 2:
      return EqualsLower(name, "te");
    case 7:
      return EqualsLower(name, "upgrade");
    case 10:
      return EqualsLower(name, "connection") || EqualsLower(name, "keep-alive");
    case 16:
      return EqualsLower(name, "proxy-connection");
    case 17:
      return EqualsLower(name, "transfer-encoding");
    default:
      return false;
  }
}

std::string ForwardedNode(std::string_view ip) {
  if (ip.find(':') != std::string_view::npos) return "\"[" + std::string(ip) + "]\"";
  return std::string(ip);
}

std::string ForwardedValue(std::string_view value) {
  bool token = !value.empty();
  for (char c : value) token = token && IsTokenChar(c);
  if (token) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string HstsValue(const HstsPolicy& policy) {
  std::string value = "max-age=" + std::to_string(policy.max_age.count());
  if (policy.include_subdomains) value += "; includeSubDomains";
  if (policy.preload) value += "; preload";
  return value;
}

std::string RedirectLocation(std::string_view host, uint16_t https_port, std::string_view target) {
  std::string location = "https://";
  location += host;
  if (https_port != 0 && https_port != 443) {
    location += ':';
    location += std::to_string(https_port);
  }
  if (target.empty() || target.front() != '/') {
    location += '/';
  } else {
    location += target;
  }
  return location;
}

std::optional<AbsoluteTarget> ParseAbsoluteTarget(std::string_view target) {
  size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  std::string_view scheme = target.substr(0, scheme_end);
  if (!EqualsLower(scheme, "http") && !EqualsLower(scheme, "https")) return std::nullopt;
  std::string_view rest = target.substr(scheme_end + 3);
  if (rest.find('#') != std::string_view::npos) return std::nullopt;
  size_t authority_end = rest.find_first_of("/?");
  if (authority_end == std::string_view::npos) authority_end = rest.size();
  std::string_view authority = rest.substr(0, authority_end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  AbsoluteTarget out;
  out.authority = std::string(authority);
  std::string_view path = rest.substr(authority_end);
  out.origin_form.reserve(path.size() + 1);
  if (path.empty() || path.front() != '/') out.origin_form.push_back('/');
  out.origin_form.append(path.data(), path.size());
  return out;
}

std::optional<std::string_view> AcmeChallengeToken(std::string_view target) {
  constexpr std::string_view kPrefix = "/.well-known/acme-challenge/";
  if (!target.starts_with(kPrefix)) return std::nullopt;
  std::string_view token = target.substr(kPrefix.size());
  if (token.empty() || token.size() > 256) return std::nullopt;
  for (char c : token) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return std::nullopt;
  }
  return token;
}

}  // namespace autoseal::gateway::internal
