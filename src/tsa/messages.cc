#include "tsa/messages.h"

#include <time.h>

#include <chrono>
#include <cstdio>

#include "tsa/internal/der.h"
#include "tsa/internal/oids.h"

namespace autoseal::tsa {
namespace {

using der::Element;
using der::Reader;

Result<MessageImprint> ParseMessageImprint(const Element& seq) {
  MessageImprint mi;
  mi.encoding.assign(seq.encoding.begin(), seq.encoding.end());
  Reader r(seq.contents);
  Element alg = TRY(r.Expect(der::kSequence, "MessageImprint.hashAlgorithm"));
  Element hashed = TRY(r.Expect(der::kOctetString, "MessageImprint.hashedMessage"));
  TRY(r.ExpectEnd("MessageImprint"));
  Reader a(alg.contents);
  Element oid = TRY(a.Expect(der::kOid, "hashAlgorithm.algorithm"));
  if (oid.contents.empty()) return Fail(ErrorCode::kParse, "hashAlgorithm: empty OID");
  if (!a.empty()) {
    Element params = TRY(a.Next());
    mi.parameters_ok = params.tag == der::kNull && params.contents.empty();
    TRY(a.ExpectEnd("hashAlgorithm"));
  }
  mi.algorithm_oid.assign(oid.contents.begin(), oid.contents.end());
  mi.digest = oid::DigestFromOid(oid.contents);
  mi.hashed_message.assign(hashed.contents.begin(), hashed.contents.end());
  return mi;
}

int Digit(char c) { return c >= '0' && c <= '9' ? c - '0' : -1; }

}  // namespace

std::string_view PkiStatusName(PkiStatus status) {
  switch (status) {
    case PkiStatus::kGranted: return "granted";
    case PkiStatus::kGrantedWithMods: return "grantedWithMods";
    case PkiStatus::kRejection: return "rejection";
    case PkiStatus::kWaiting: return "waiting";
    case PkiStatus::kRevocationWarning: return "revocationWarning";
    case PkiStatus::kRevocationNotification: return "revocationNotification";
  }
  return "unknown";
}

std::string_view FailureInfoName(FailureInfo info) {
  switch (info) {
    case FailureInfo::kBadAlg: return "badAlg";
    case FailureInfo::kBadRequest: return "badRequest";
    case FailureInfo::kBadDataFormat: return "badDataFormat";
    case FailureInfo::kTimeNotAvailable: return "timeNotAvailable";
    case FailureInfo::kUnacceptedPolicy: return "unacceptedPolicy";
    case FailureInfo::kUnacceptedExtension: return "unacceptedExtension";
    case FailureInfo::kAddInfoNotAvailable: return "addInfoNotAvailable";
    case FailureInfo::kSystemFailure: return "systemFailure";
  }
  return "unknown";
}

std::string FailureInfoNames(uint32_t bits) {
  std::string out;
  for (int b = 0; b < 32; ++b) {
    if (!(bits & (1u << b))) continue;
    if (!out.empty()) out += ", ";
    std::string_view name = FailureInfoName(static_cast<FailureInfo>(b));
    out += name == "unknown" ? "bit " + std::to_string(b) : std::string(name);
  }
  return out;
}

Result<TimeStampReq> ParseTimeStampReq(ByteView input) {
  Element top = TRY(der::ParseSingle(input, der::kSequence, "TimeStampReq"));
  Reader r(top.contents);
  TimeStampReq req;
  Element version = TRY(r.Expect(der::kInteger, "TimeStampReq.version"));
  req.version = TRY(der::SmallInteger(version.contents, "TimeStampReq.version"));
  Element imprint = TRY(r.Expect(der::kSequence, "TimeStampReq.messageImprint"));
  req.message_imprint = TRY(ParseMessageImprint(imprint));
  if (auto policy = TRY(r.Optional(der::kOid))) {
    if (policy->contents.empty()) return Fail(ErrorCode::kParse, "reqPolicy: empty OID");
    req.req_policy = Bytes(policy->contents.begin(), policy->contents.end());
  }
  if (auto nonce = TRY(r.Optional(der::kInteger))) {
    TRY(der::CheckInteger(nonce->contents, "nonce"));
    req.nonce = Bytes(nonce->contents.begin(), nonce->contents.end());
  }
  if (auto cert_req = TRY(r.Optional(der::kBoolean))) {
    // X.690 §11.1 (DER): TRUE is 0xFF; FALSE (the DEFAULT) must be omitted.
    if (cert_req->contents.size() != 1 || cert_req->contents[0] != 0xff)
      return Fail(ErrorCode::kParse, "certReq: not DER TRUE");
    req.cert_req = true;
  }
  if (auto ext = TRY(r.Optional(der::ContextConstructed(0)))) req.has_extensions = true;
  TRY(r.ExpectEnd("TimeStampReq"));
  return req;
}

Bytes EncodeTimeStampReq(crypto::DigestAlgorithm digest, ByteView hashed_message,
                         std::optional<Bytes> nonce, bool cert_req,
                         std::optional<Bytes> req_policy) {
  static constexpr uint8_t kNullParams[] = {der::kNull, 0};
  Bytes alg = der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::OidForDigest(digest)),
                                         ByteView(kNullParams, 2)});
  Bytes imprint = der::Wrap(der::kSequence, {alg, der::Tlv(der::kOctetString, hashed_message)});
  Bytes body = der::Integer(1);
  body.insert(body.end(), imprint.begin(), imprint.end());
  if (req_policy) der::AppendTlv(body, der::kOid, *req_policy);
  if (nonce) der::AppendTlv(body, der::kInteger, der::UnsignedIntegerContents(*nonce));
  if (cert_req) {
    static constexpr uint8_t kTrue[] = {der::kBoolean, 1, 0xff};
    body.insert(body.end(), kTrue, kTrue + 3);
  }
  return der::Tlv(der::kSequence, body);
}

Result<TimePoint> ParseGeneralizedTime(std::string_view s) {
  auto bad = [&] { return Fail(ErrorCode::kParse, "bad GeneralizedTime: " + std::string(s)); };
  if (s.size() < 15 || s.back() != 'Z') return bad();
  int v[14];
  for (int i = 0; i < 14; ++i) {
    v[i] = Digit(s[i]);
    if (v[i] < 0) return bad();
  }
  struct tm tm = {};
  tm.tm_year = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3] - 1900;
  tm.tm_mon = v[4] * 10 + v[5] - 1;
  tm.tm_mday = v[6] * 10 + v[7];
  tm.tm_hour = v[8] * 10 + v[9];
  tm.tm_min = v[10] * 10 + v[11];
  tm.tm_sec = v[12] * 10 + v[13];
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return bad();
  int64_t micros = 0;
  std::string_view rest = s.substr(14, s.size() - 15);
  if (!rest.empty()) {
    // X.690 §11.7: a '.' then digits without trailing zeros.
    if (rest[0] != '.' || rest.size() < 2 || rest.back() == '0' || rest.size() > 10) return bad();
    int64_t scale = 100000;
    for (size_t i = 1; i < rest.size(); ++i) {
      int d = Digit(rest[i]);
      if (d < 0) return bad();
      micros += d * scale;
      scale /= 10;
    }
  }
  time_t t = timegm(&tm);
  return FromUnixSeconds(t) + std::chrono::microseconds(micros);
}

std::string FormatGeneralizedTime(TimePoint t, int digits) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  time_t tt = static_cast<time_t>(secs);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[40];
  int n = snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out(buf, static_cast<size_t>(n));
  if (digits > 6) digits = 6;
  if (digits > 0) {
    char f[8];
    snprintf(f, sizeof f, "%06lld", static_cast<long long>(frac));
    std::string fs(f, static_cast<size_t>(digits));
    while (!fs.empty() && fs.back() == '0') fs.pop_back();
    if (!fs.empty()) out += "." + fs;
  }
  out += 'Z';
  return out;
}

Result<TstInfo> ParseTstInfo(ByteView input) {
  Element top = TRY(der::ParseSingle(input, der::kSequence, "TSTInfo"));
  Reader r(top.contents);
  TstInfo info;
  Element version = TRY(r.Expect(der::kInteger, "TSTInfo.version"));
  info.version = TRY(der::SmallInteger(version.contents, "TSTInfo.version"));
  Element policy = TRY(r.Expect(der::kOid, "TSTInfo.policy"));
  info.policy.assign(policy.contents.begin(), policy.contents.end());
  info.policy_text = der::OidToString(policy.contents);
  if (info.policy_text.empty()) return Fail(ErrorCode::kParse, "TSTInfo.policy: bad OID");
  Element imprint = TRY(r.Expect(der::kSequence, "TSTInfo.messageImprint"));
  info.message_imprint = TRY(ParseMessageImprint(imprint));
  Element serial = TRY(r.Expect(der::kInteger, "TSTInfo.serialNumber"));
  TRY(der::CheckInteger(serial.contents, "TSTInfo.serialNumber"));
  info.serial.assign(serial.contents.begin(), serial.contents.end());
  info.serial_hex = IntegerHex(serial.contents);
  Element gen = TRY(r.Expect(der::kGeneralizedTime, "TSTInfo.genTime"));
  info.gen_time_text = std::string(AsString(gen.contents));
  info.gen_time = TRY(ParseGeneralizedTime(info.gen_time_text));
  if (auto acc = TRY(r.Optional(der::kSequence))) {
    Reader a(acc->contents);
    int64_t total = 0;
    if (auto s = TRY(a.Optional(der::kInteger)))
      total += TRY(der::SmallInteger(s->contents, "accuracy.seconds")) * 1000000;
    if (auto ms = TRY(a.Optional(der::ContextPrimitive(0))))
      total += TRY(der::SmallInteger(ms->contents, "accuracy.millis")) * 1000;
    if (auto mu = TRY(a.Optional(der::ContextPrimitive(1))))
      total += TRY(der::SmallInteger(mu->contents, "accuracy.micros"));
    TRY(a.ExpectEnd("accuracy"));
    info.accuracy_micros = total;
  }
  if (auto ord = TRY(r.Optional(der::kBoolean))) {
    if (ord->contents.size() != 1) return Fail(ErrorCode::kParse, "TSTInfo.ordering: bad BOOLEAN");
    info.ordering = ord->contents[0] != 0;
  }
  if (auto nonce = TRY(r.Optional(der::kInteger))) {
    TRY(der::CheckInteger(nonce->contents, "TSTInfo.nonce"));
    info.nonce = Bytes(nonce->contents.begin(), nonce->contents.end());
  }
  if (auto tsa = TRY(r.Optional(der::ContextConstructed(0)))) info.has_tsa_name = true;
  if (auto ext = TRY(r.Optional(der::ContextConstructed(1)))) info.has_extensions = true;
  TRY(r.ExpectEnd("TSTInfo"));
  return info;
}

Result<TimeStampResp> ParseTimeStampResp(ByteView input) {
  Element top = TRY(der::ParseSingle(input, der::kSequence, "TimeStampResp"));
  Reader r(top.contents);
  TimeStampResp resp;
  Element status_info = TRY(r.Expect(der::kSequence, "PKIStatusInfo"));
  Reader s(status_info.contents);
  Element status = TRY(s.Expect(der::kInteger, "PKIStatusInfo.status"));
  int64_t st = TRY(der::SmallInteger(status.contents, "PKIStatusInfo.status"));
  if (st > 5) return Fail(ErrorCode::kParse, "PKIStatusInfo.status: unknown value");
  resp.status = static_cast<PkiStatus>(st);
  if (auto text = TRY(s.Optional(der::kSequence))) {
    Reader t(text->contents);
    while (!t.empty()) {
      Element str = TRY(t.Expect(der::kUtf8String, "PKIFreeText"));
      if (!resp.status_string.empty()) resp.status_string += "; ";
      resp.status_string += AsString(str.contents);
    }
  }
  if (auto fail = TRY(s.Optional(der::kBitString))) {
    ByteView c = fail->contents;
    if (c.empty() || c[0] > 7 || (c.size() == 1 && c[0] != 0))
      return Fail(ErrorCode::kParse, "PKIFailureInfo: bad BIT STRING");
    for (size_t i = 1; i < c.size() && i <= 4; ++i)
      for (int b = 0; b < 8; ++b)
        if (c[i] & (0x80 >> b)) resp.fail_info |= 1u << ((i - 1) * 8 + static_cast<size_t>(b));
  }
  TRY(s.ExpectEnd("PKIStatusInfo"));
  if (auto token = TRY(r.Optional(der::kSequence)))
    resp.token = Bytes(token->encoding.begin(), token->encoding.end());
  TRY(r.ExpectEnd("TimeStampResp"));
  return resp;
}

Bytes EncodeRejection(FailureInfo info, std::string_view text) {
  int bit = static_cast<int>(info);
  Bytes bits(static_cast<size_t>(bit / 8 + 2), 0);
  bits[0] = static_cast<uint8_t>(7 - bit % 8);  // unused bits in the last octet (X.690 §11.2.2)
  bits.back() = static_cast<uint8_t>(0x80 >> (bit % 8));
  Bytes status = der::Wrap(
      der::kSequence,
      {der::Integer(static_cast<int>(PkiStatus::kRejection)),
       der::Wrap(der::kSequence, {der::Tlv(der::kUtf8String, AsBytes(text))}),
       der::Tlv(der::kBitString, bits)});
  return der::Tlv(der::kSequence, status);
}

std::string IntegerHex(ByteView c) {
  if (c.size() > 1 && c[0] == 0) c = c.subspan(1);
  return HexEncode(c);
}

}  // namespace autoseal::tsa
