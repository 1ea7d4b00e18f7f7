#include "acme/client/helpers.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <ctime>

#include "core/bytes.h"
#include "crypto/digest.h"

namespace autoseal::acme::client {

namespace json = boost::json;

Result<std::string> RenewalCertId(const x509::Certificate& cert) {
  Bytes aki = cert.AuthorityKeyId();
  if (aki.empty())
    return Fail(ErrorCode::kInvalidArgument,
                "certificate has no Authority Key Identifier keyIdentifier (needed for ARI)");
  Bytes serial = cert.Serial();
  // RFC 9773 §4.1: "the DER encoding of the certificate's serial number ... (i.e., the value
  // without the tag and length)"; a positive INTEGER whose high bit is set gains a zero byte.
  if (serial.empty() || (serial[0] & 0x80) != 0) serial.insert(serial.begin(), 0x00);
  return Base64UrlEncode(aki) + "." + Base64UrlEncode(serial);
}

Result<RenewalInfo> ParseRenewalInfo(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Fail(ErrorCode::kParse, "renewalInfo is not a JSON object");
  const json::object& o = v.get_object();
  const json::value* w = o.if_contains("suggestedWindow");
  if (!w || !w->is_object()) return Fail(ErrorCode::kParse, "renewalInfo lacks suggestedWindow");
  const json::value* s = w->get_object().if_contains("start");
  const json::value* e = w->get_object().if_contains("end");
  if (!s || !e || !s->is_string() || !e->is_string())
    return Fail(ErrorCode::kParse, "renewalInfo suggestedWindow needs start and end strings");
  auto start = ParseRfc3339(std::string_view(s->get_string()));
  auto end = ParseRfc3339(std::string_view(e->get_string()));
  if (!start || !end) return Fail(ErrorCode::kParse, "renewalInfo window times are not RFC 3339");
  if (*end <= *start)
    return Fail(ErrorCode::kParse, "renewalInfo window ends before it starts");
  RenewalInfo info;
  info.window = {*start, *end};
  if (const json::value* u = o.if_contains("explanationURL"); u && u->is_string())
    info.explanation_url = std::string(u->get_string());
  return info;
}

RenewalWindow DefaultRenewalWindow(const x509::Certificate& cert) {
  TimePoint nb = cert.NotBefore(), na = cert.NotAfter();
  auto lifetime = na > nb ? na - nb : TimePoint::duration::zero();
  return {na - lifetime / 3, na};
}

TimePoint RenewalTime(const RenewalWindow& window, double fraction) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  auto span = window.end - window.start;
  if (span <= TimePoint::duration::zero()) return window.start;
  return window.start + std::chrono::duration_cast<TimePoint::duration>(span * fraction);
}

bool ShouldRenewNow(const x509::Certificate& cert, const std::optional<RenewalWindow>& ari_window,
                    TimePoint now, double fraction) {
  if (now >= cert.NotAfter()) return true;
  RenewalWindow w = ari_window ? *ari_window : DefaultRenewalWindow(cert);
  // RFC 9773 §4.2: "If the selected time is in the past, the client SHOULD attempt renewal
  // immediately" — which also covers a window that has already ended.
  if (now >= w.end) return true;
  return now >= RenewalTime(w, fraction);
}

double RandomFraction() {
  auto r = crypto::RandomBytes(8);
  if (!r) return 0.5;
  uint64_t v = 0;
  for (uint8_t b : *r) v = (v << 8) | b;
  return static_cast<double>(v >> 11) / static_cast<double>(uint64_t{1} << 53);
}

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseInt(std::string_view s, int& out) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

int MonthIndex(std::string_view m) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i)
    if (m == kMonths[i]) return i;
  return -1;
}

bool ParseClock(std::string_view s, int& h, int& mi, int& se) {
  return s.size() == 8 && s[2] == ':' && s[5] == ':' && ParseInt(s.substr(0, 2), h) &&
         ParseInt(s.substr(3, 2), mi) && ParseInt(s.substr(6, 2), se) && h < 24 && mi < 60 &&
         se <= 60;
}

std::vector<std::string_view> SplitSpaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// RFC 9110 §5.6.7 HTTP-date: IMF-fixdate, obsolete RFC 850 date, or asctime date.
std::optional<TimePoint> ParseHttpDate(std::string_view s) {
  auto parts = SplitSpaces(s);
  int day = 0, month = -1, year = 0, h = 0, mi = 0, se = 0;
  if (parts.size() == 6 && parts[0].size() == 4 && parts[0][3] == ',' && parts[5] == "GMT") {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    if (!ParseInt(parts[1], day) || parts[1].size() != 2) return std::nullopt;
    month = MonthIndex(parts[2]);
    if (!ParseInt(parts[3], year) || parts[3].size() != 4) return std::nullopt;
    if (!ParseClock(parts[4], h, mi, se)) return std::nullopt;
  } else if (parts.size() == 4 && !parts[0].empty() && parts[0].back() == ',' && parts[3] == "GMT") {
    // "Sunday, 06-Nov-94 08:49:37 GMT"; RFC 9110: two-digit years more than 50 years in the
    // future are in the past century.
    std::string_view d = parts[1];
    if (d.size() != 9 || d[2] != '-' || d[6] != '-') return std::nullopt;
    if (!ParseInt(d.substr(0, 2), day) || !ParseInt(d.substr(7, 2), year)) return std::nullopt;
    month = MonthIndex(d.substr(3, 3));
    year += year < 70 ? 2000 : 1900;
    if (!ParseClock(parts[2], h, mi, se)) return std::nullopt;
  } else if (parts.size() == 5) {
    // "Sun Nov  6 08:49:37 1994"
    month = MonthIndex(parts[1]);
    if (!ParseInt(parts[2], day) || !ParseInt(parts[4], year)) return std::nullopt;
    if (!ParseClock(parts[3], h, mi, se)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (month < 0 || day < 1 || day > 31 || year < 1970) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return FromUnixSeconds(static_cast<int64_t>(t));
}

}  // namespace

Result<TimePoint> ParseRetryAfter(std::string_view value, TimePoint now) {
  value = Trim(value);
  int64_t seconds = 0;
  if (!value.empty() && std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    auto r = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (r.ec != std::errc()) return Fail(ErrorCode::kParse, "Retry-After out of range");
    // Bounded to a year so the addition cannot overflow.
    seconds = std::min<int64_t>(seconds, 366 * 86400);
    return now + Seconds(seconds);
  }
  auto t = ParseHttpDate(value);
  if (!t) return Fail(ErrorCode::kParse, "Retry-After is neither seconds nor an HTTP-date: " + std::string(value));
  return std::max(*t, now);
}

std::string ResolveUrl(std::string_view base, std::string_view reference) {
  std::string ref(reference);
  if (ref.find("://") != std::string::npos) return ref;
  size_t scheme = base.find("://");
  if (scheme == std::string_view::npos) return ref;
  size_t path_start = base.find('/', scheme + 3);
  std::string origin(base.substr(0, path_start == std::string_view::npos ? base.size() : path_start));
  if (ref.starts_with("//")) return std::string(base.substr(0, scheme + 1)) + ref;
  if (ref.starts_with("/")) return origin + ref;
  std::string_view path = path_start == std::string_view::npos ? "/" : base.substr(path_start);
  size_t q = path.find_first_of("?#");
  if (q != std::string_view::npos) path = path.substr(0, q);
  size_t slash = path.rfind('/');
  return origin + std::string(path.substr(0, slash + 1)) + ref;
}

std::vector<std::string> LinkTargets(const net::HttpHeaders& headers, std::string_view rel,
                                     std::string_view base_url) {
  std::vector<std::string> out;
  for (const auto& [name, value] : headers) {
    if (!net::EqualsIgnoreCase(name, "Link")) continue;
    std::string_view v = value;
    size_t i = 0;
    while (i < v.size()) {
      size_t lt = v.find('<', i);
      if (lt == std::string_view::npos) break;
      size_t gt = v.find('>', lt);
      if (gt == std::string_view::npos) break;
      std::string_view target = v.substr(lt + 1, gt - lt - 1);
      // Parameters run to the next ',' outside quotes.
      size_t j = gt + 1;
      bool quoted = false;
      while (j < v.size() && (quoted || v[j] != ',')) {
        if (v[j] == '"') quoted = !quoted;
        ++j;
      }
      std::string_view params = v.substr(gt + 1, j - gt - 1);
      i = j + 1;
      // Find rel=... among ';'-separated parameters; rel may hold several space-separated types.
      size_t p = 0;
      bool match = false;
      while (p < params.size() && !match) {
        size_t semi = params.find(';', p);
        std::string_view param = Trim(params.substr(p, semi == std::string_view::npos ? params.npos : semi - p));
        p = semi == std::string_view::npos ? params.size() : semi + 1;
        size_t eq = param.find('=');
        if (eq == std::string_view::npos) continue;
        if (!net::EqualsIgnoreCase(Trim(param.substr(0, eq)), "rel")) continue;
        std::string_view rels = Trim(param.substr(eq + 1));
        if (rels.size() >= 2 && rels.front() == '"' && rels.back() == '"')
          rels = rels.substr(1, rels.size() - 2);
        for (auto r : SplitSpaces(rels))
          if (net::EqualsIgnoreCase(r, rel)) match = true;
      }
      if (match) out.push_back(ResolveUrl(base_url, target));
    }
  }
  return out;
}

std::string KeyAuthorization(std::string_view token, std::string_view account_thumbprint) {
  return std::string(token) + "." + std::string(account_thumbprint);
}

std::string Dns01TxtValue(std::string_view key_authorization) {
  return Base64UrlEncode(crypto::Digest(crypto::DigestAlgorithm::kSha256, AsBytes(key_authorization)));
}

std::string Dns01RecordName(std::string_view domain) {
  if (domain.starts_with("*.")) domain.remove_prefix(2);
  if (domain.ends_with(".")) domain.remove_suffix(1);
  return "_acme-challenge." + std::string(domain) + ".";
}

namespace {
std::string IssuerCommonName(const x509::Certificate& c) {
  // RFC 2253 form: "CN=Pebble Root CA 0564be,O=..." — take the CN value.
  std::string issuer = c.Issuer();
  size_t pos = 0;
  while (pos < issuer.size()) {
    size_t comma = pos;
    // Split on unescaped commas.
    while (comma < issuer.size() && !(issuer[comma] == ',' && (comma == 0 || issuer[comma - 1] != '\\'))) ++comma;
    std::string_view rdn(issuer.data() + pos, comma - pos);
    if (rdn.starts_with("CN=")) {
      std::string out;
      for (size_t i = 3; i < rdn.size(); ++i) {
        if (rdn[i] == '\\' && i + 1 < rdn.size()) ++i;
        out += rdn[i];
      }
      return out;
    }
    pos = comma + 1;
  }
  return "";
}
}  // namespace

size_t SelectPreferredChain(const std::vector<std::vector<x509::Certificate>>& chains,
                            std::string_view preferred_issuer_cn) {
  if (preferred_issuer_cn.empty() || chains.empty()) return 0;
  for (size_t i = 0; i < chains.size(); ++i)
    if (!chains[i].empty() && IssuerCommonName(chains[i].back()) == preferred_issuer_cn) return i;
  for (size_t i = 0; i < chains.size(); ++i)
    for (const auto& c : chains[i])
      if (IssuerCommonName(c) == preferred_issuer_cn || c.CommonName() == preferred_issuer_cn) return i;
  return 0;
}

Result<int> ParseRevocationReason(std::string_view text) {
  int n = 0;
  if (ParseInt(text, n)) {
    if (n < 0 || n > 10 || n == 7)
      return Fail(ErrorCode::kInvalidArgument, "revocation reason must be 0-6 or 8-10 (RFC 5280 §5.3.1)");
    return n;
  }
  std::string key;
  for (char c : text)
    if (c != '-' && c != '_') key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::pair<const char*, int> kNames[] = {
      {"unspecified", 0},          {"keycompromise", 1},  {"cacompromise", 2},
      {"affiliationchanged", 3},   {"superseded", 4},     {"cessationofoperation", 5},
      {"certificatehold", 6},      {"removefromcrl", 8},  {"privilegewithdrawn", 9},
      {"aacompromise", 10}};
  for (const auto& [name, code] : kNames)
    if (key == name) return code;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown revocation reason \"" + std::string(text) +
                  "\" (use keyCompromise, superseded, cessationOfOperation, affiliationChanged, "
                  "unspecified, ... or a number)");
}

}  // namespace autoseal::acme::client
