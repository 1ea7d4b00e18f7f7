#include "acme/server/internal/dns_client.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <mutex>

namespace autoseal::acme::server::internal {
namespace {

constexpr int kTypeA = 1;
constexpr int kTypeTxt = 16;
constexpr int kTypeAaaa = 28;
constexpr int kTypeCaa = 257;
constexpr int kClassIn = 1;

std::string_view TypeName(int type) {
  switch (type) {
    case kTypeA:
      return "A";
    case kTypeAaaa:
      return "AAAA";
    case kTypeTxt:
      return "TXT";
    case kTypeCaa:
      return "CAA";
  }
  return "?";
}

// c-ares wants ares_library_init before the first channel; once per process is enough.
int InitLibrary() {
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  return status;
}

DnsError MakeError(int status, int type, std::string_view name) {
  std::string what = std::string(TypeName(type)) + " for " + std::string(name);
  switch (status) {
    case ARES_ENODATA:
      return {DnsFailure::kNoData,
              "no " + std::string(TypeName(type)) + " record at " + std::string(name)};
    case ARES_ENOTFOUND:
      return {DnsFailure::kNxDomain, "NXDOMAIN looking up " + what};
    case ARES_ESERVFAIL:
      return {DnsFailure::kServFail, "SERVFAIL looking up " + what};
    case ARES_EREFUSED:
      return {DnsFailure::kRefused, "REFUSED looking up " + what};
    case ARES_ETIMEOUT:
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return {DnsFailure::kTimeout, "timed out looking up " + what};
    case ARES_ECONNREFUSED:
      return {DnsFailure::kOther, "the DNS server refused the connection looking up " + what};
    default:
      return {DnsFailure::kOther,
              "DNS error looking up " + what + ": " + std::string(ares_strerror(status))};
  }
}

uint16_t ReadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Skips a possibly compressed domain name at *pos; false if it runs off the message.
bool SkipName(const std::vector<uint8_t>& msg, size_t& pos) {
  char* name = nullptr;
  long length = 0;
  if (pos >= msg.size() ||
      ares_expand_name(msg.data() + pos, msg.data(), static_cast<int>(msg.size()), &name,
                       &length) != ARES_SUCCESS) {
    return false;
  }
  ares_free_string(name);
  pos += static_cast<size_t>(length);
  return pos <= msg.size();
}

// Collects the CAA RRs (RFC 8659 §4.1: flags, tag length, tag, value) of a DNS answer section.
bool ParseCaaAnswer(const std::vector<uint8_t>& msg, std::vector<CaaRecord>& records) {
  constexpr size_t kHeaderSize = 12;
  if (msg.size() < kHeaderSize) return false;
  size_t questions = ReadU16(&msg[4]);
  size_t answers = ReadU16(&msg[6]);
  size_t pos = kHeaderSize;
  for (size_t i = 0; i < questions; ++i) {
    if (!SkipName(msg, pos) || pos + 4 > msg.size()) return false;
    pos += 4;
  }
  for (size_t i = 0; i < answers; ++i) {
    if (!SkipName(msg, pos) || pos + 10 > msg.size()) return false;
    int type = ReadU16(&msg[pos]);
    int rr_class = ReadU16(&msg[pos + 2]);
    size_t length = ReadU16(&msg[pos + 8]);
    pos += 10;
    if (pos + length > msg.size()) return false;
    if (type == kTypeCaa && rr_class == kClassIn) {
      if (length < 2) return false;
      size_t tag_length = msg[pos + 1];
      if (tag_length == 0 || 2 + tag_length > length) return false;
      CaaRecord r;
      r.flags = msg[pos];
      r.tag.assign(reinterpret_cast<const char*>(&msg[pos + 2]), tag_length);
      r.value.assign(reinterpret_cast<const char*>(&msg[pos + 2 + tag_length]),
                     length - 2 - tag_length);
      records.push_back(std::move(r));
    }
    pos += length;
  }
  return true;
}

}  // namespace

struct DnsClient::Channel {
  ares_channel channel = nullptr;
  ~Channel() {
    if (channel != nullptr) ares_destroy(channel);
  }
};

std::string_view DnsFailureName(DnsFailure failure) {
  switch (failure) {
    case DnsFailure::kNxDomain:
      return "NXDOMAIN";
    case DnsFailure::kNoData:
      return "NODATA";
    case DnsFailure::kServFail:
      return "SERVFAIL";
    case DnsFailure::kRefused:
      return "REFUSED";
    case DnsFailure::kTimeout:
      return "timeout";
    case DnsFailure::kOther:
      return "error";
  }
  return "error";
}

DnsClient::DnsClient(std::unique_ptr<Channel> channel, Deadline deadline)
    : channel_(std::move(channel)), deadline_(deadline) {}

DnsClient::~DnsClient() = default;

Result<std::unique_ptr<DnsClient>> DnsClient::Create(const std::string& dns_server,
                                                     Deadline deadline) {
  if (int status = InitLibrary(); status != ARES_SUCCESS) {
    return Fail(ErrorCode::kInternal, std::string("c-ares: ") + ares_strerror(status));
  }
  // Each try gets a share of what is left, so retries (which c-ares lengthens) still fit.
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  ares_options options{};
  options.timeout = static_cast<int>(std::clamp<int64_t>(remaining.count() / 4, 100, 4000));
  options.tries = 2;
  // No search list, no HOSTALIASES: validation asks about exactly the name given. NOCHECKRESP:
  // without it c-ares turns a SERVFAIL/REFUSED answer into "connection refused" after trying
  // every server; with it the answer's own rcode comes back (ARES_ESERVFAIL, ARES_EREFUSED).
  options.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
  auto channel = std::make_unique<Channel>();
  int status = ares_init_options(&channel->channel, &options,
                                 ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
  if (status != ARES_SUCCESS) {
    channel->channel = nullptr;
    return Fail(ErrorCode::kInternal, std::string("c-ares init: ") + ares_strerror(status));
  }
  if (!dns_server.empty()) {
    status = ares_set_servers_ports_csv(channel->channel, dns_server.c_str());
    if (status != ARES_SUCCESS) {
      return Fail(ErrorCode::kInvalidArgument,
                  "DNS server \"" + dns_server + "\": " + ares_strerror(status));
    }
  }
  return std::unique_ptr<DnsClient>(new DnsClient(std::move(channel), deadline));
}

void DnsClient::Run(std::vector<std::pair<std::string, int>> queries,
                    std::vector<Answer>& answers) {
  ares_channel ch = channel_->channel;
  answers.assign(queries.size(), Answer{});
  for (size_t i = 0; i < queries.size(); ++i) {
    ares_query(
        ch, queries[i].first.c_str(), kClassIn, queries[i].second,
        [](void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
          auto* answer = static_cast<Answer*>(arg);
          answer->status = status;
          if (status == ARES_SUCCESS && abuf != nullptr && alen > 0) {
            answer->bytes.assign(abuf, abuf + alen);
          }
          answer->done = true;
        },
        &answers[i]);
  }
  auto all_done = [&] {
    return std::all_of(answers.begin(), answers.end(), [](const Answer& a) { return a.done; });
  };
  while (!all_done()) {
    auto remaining = std::chrono::duration_cast<std::chrono::microseconds>(
        deadline_ - std::chrono::steady_clock::now());
    if (remaining.count() <= 0) break;
    ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
    int mask = ares_getsock(ch, sockets, ARES_GETSOCK_MAXNUM);
    std::vector<pollfd> fds;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(mask, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(mask, i)) events |= POLLOUT;
      if (events != 0) fds.push_back(pollfd{sockets[i], events, 0});
    }
    timeval max_wait{static_cast<time_t>(remaining.count() / 1000000),
                     static_cast<suseconds_t>(remaining.count() % 1000000)};
    timeval wait_buf{};
    timeval* wait = ares_timeout(ch, &max_wait, &wait_buf);
    int wait_ms = static_cast<int>(wait->tv_sec * 1000 + (wait->tv_usec + 999) / 1000);
    int ready = poll(fds.data(), fds.size(), wait_ms);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) {
      ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // lets c-ares handle its timeouts
      continue;
    }
    for (const pollfd& p : fds) {
      ares_socket_t read_fd = (p.revents & (POLLIN | POLLERR | POLLHUP)) ? p.fd : ARES_SOCKET_BAD;
      ares_socket_t write_fd = (p.revents & (POLLOUT | POLLERR | POLLHUP)) ? p.fd : ARES_SOCKET_BAD;
      if (read_fd != ARES_SOCKET_BAD || write_fd != ARES_SOCKET_BAD) {
        ares_process_fd(ch, read_fd, write_fd);
      }
    }
  }
  // Past the deadline: c-ares completes what is left with ARES_ECANCELLED, synchronously.
  if (!all_done()) ares_cancel(ch);
  for (Answer& a : answers) {
    if (!a.done) {
      a.status = ARES_ECANCELLED;
      a.done = true;
    }
  }
}

DnsResult<Addresses> DnsClient::LookupAddresses(std::string_view name) {
  std::string n(name);
  std::vector<Answer> answers;
  Run({{n, kTypeA}, {n, kTypeAaaa}}, answers);
  Addresses out;
  if (answers[0].status == ARES_SUCCESS) {
    ares_addrttl ttls[64];
    int count = 64;
    if (ares_parse_a_reply(answers[0].bytes.data(), static_cast<int>(answers[0].bytes.size()),
                           nullptr, ttls, &count) == ARES_SUCCESS) {
      for (int i = 0; i < count; ++i) {
        char text[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, &ttls[i].ipaddr, text, sizeof text)) out.ipv4.push_back(text);
      }
    }
  }
  if (answers[1].status == ARES_SUCCESS) {
    ares_addr6ttl ttls[64];
    int count = 64;
    if (ares_parse_aaaa_reply(answers[1].bytes.data(), static_cast<int>(answers[1].bytes.size()),
                              nullptr, ttls, &count) == ARES_SUCCESS) {
      for (int i = 0; i < count; ++i) {
        char text[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, &ttls[i].ip6addr, text, sizeof text)) out.ipv6.push_back(text);
      }
    }
  }
  if (!out.ipv4.empty() || !out.ipv6.empty()) return out;
  // Neither family: report the A failure unless it was a mere NODATA and AAAA says more.
  int status = answers[0].status;
  if ((status == ARES_SUCCESS || status == ARES_ENODATA) && answers[1].status != ARES_SUCCESS &&
      answers[1].status != ARES_ENODATA) {
    return std::unexpected(MakeError(answers[1].status, kTypeAaaa, name));
  }
  if (status == ARES_SUCCESS || status == ARES_ENODATA) {
    return std::unexpected(
        DnsError{DnsFailure::kNoData, "no A or AAAA record for " + std::string(name)});
  }
  return std::unexpected(MakeError(status, kTypeA, name));
}

DnsResult<std::vector<std::string>> DnsClient::LookupTxt(std::string_view name) {
  std::vector<Answer> answers;
  Run({{std::string(name), kTypeTxt}}, answers);
  if (answers[0].status != ARES_SUCCESS) {
    return std::unexpected(MakeError(answers[0].status, kTypeTxt, name));
  }
  ares_txt_ext* head = nullptr;
  int status = ares_parse_txt_reply_ext(answers[0].bytes.data(),
                                        static_cast<int>(answers[0].bytes.size()), &head);
  if (status != ARES_SUCCESS) return std::unexpected(MakeError(status, kTypeTxt, name));
  std::vector<std::string> records;
  for (ares_txt_ext* t = head; t != nullptr; t = t->next) {
    // A record's character-strings are one value (RFC 8555 §8.4 puts it in one string anyway).
    if (t->record_start || records.empty()) records.emplace_back();
    records.back().append(reinterpret_cast<const char*>(t->txt), t->length);
  }
  ares_free_data(head);
  if (records.empty()) return std::unexpected(MakeError(ARES_ENODATA, kTypeTxt, name));
  return records;
}

DnsResult<std::vector<CaaRecord>> DnsClient::LookupCaa(std::string_view name) {
  std::vector<Answer> answers;
  Run({{std::string(name), kTypeCaa}}, answers);
  if (answers[0].status != ARES_SUCCESS) {
    return std::unexpected(MakeError(answers[0].status, kTypeCaa, name));
  }
  // c-ares 1.18's ares_parse_caa_reply refuses an empty value (`0 issue ""`, which RFC 8659 §4.2
  // allows and which forbids issuance), so the CAA RDATA is read here; names go through c-ares.
  std::vector<CaaRecord> records;
  if (!ParseCaaAnswer(answers[0].bytes, records)) {
    return std::unexpected(
        DnsError{DnsFailure::kOther, "malformed CAA answer for " + std::string(name)});
  }
  if (records.empty()) return std::unexpected(MakeError(ARES_ENODATA, kTypeCaa, name));
  return records;
}

}  // namespace autoseal::acme::server::internal
