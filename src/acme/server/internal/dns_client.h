#pragma once

// Private to acme/server: blocking DNS lookups through c-ares, bounded by a deadline.

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace autoseal::acme::server::internal {

using Deadline = std::chrono::steady_clock::time_point;

// Why a lookup produced no records.
enum class DnsFailure {
  kNxDomain,  // the name does not exist
  kNoData,    // the name exists but has no record of the type
  kServFail,
  kRefused,
  kTimeout,  // no answer before the deadline (or the resolver's own retries gave up)
  kOther,
};

// A failed lookup: what kind, and a sentence fit for a problem detail ("SERVFAIL looking up TXT
// for _acme-challenge.example.com").
struct DnsError {
  DnsFailure failure;
  std::string message;
};

template <typename T>
using DnsResult = std::expected<T, DnsError>;

// One CAA resource record (RFC 8659 §4.1).
struct CaaRecord {
  uint8_t flags = 0;
  std::string tag;
  std::string value;
};

// The addresses a name resolves to, IPv4 and IPv6 kept apart (both as text).
struct Addresses {
  std::vector<std::string> ipv4;
  std::vector<std::string> ipv6;
};

// A DNS client for one validation: a c-ares channel that asks dns_server ("host:port"; empty:
// /etc/resolv.conf) and never waits past the deadline. CNAME chains in answers are followed as the
// recursive resolver returned them. Not thread-safe; cheap enough to create per validation.
class DnsClient {
 public:
  ~DnsClient();
  DnsClient(const DnsClient&) = delete;
  DnsClient& operator=(const DnsClient&) = delete;

  // kInvalidArgument for an unusable dns_server, kInternal when c-ares cannot start.
  static Result<std::unique_ptr<DnsClient>> Create(const std::string& dns_server,
                                                   Deadline deadline);

  // A and AAAA of name (asked in parallel). Fails only when neither yields an address.
  DnsResult<Addresses> LookupAddresses(std::string_view name);
  // Every TXT record at name, each record's character-strings concatenated (RFC 7208 §3.3 style).
  DnsResult<std::vector<std::string>> LookupTxt(std::string_view name);
  // Every CAA record at name.
  DnsResult<std::vector<CaaRecord>> LookupCaa(std::string_view name);

 private:
  struct Channel;
  DnsClient(std::unique_ptr<Channel> channel, Deadline deadline);

  struct Answer {
    int status = 0;  // ARES_* code
    std::vector<uint8_t> bytes;
    bool done = false;
  };
  // Sends every query, then drives c-ares until all are answered or the deadline passes.
  void Run(std::vector<std::pair<std::string, int>> queries, std::vector<Answer>& answers);

  std::unique_ptr<Channel> channel_;
  Deadline deadline_;
};

// "SERVFAIL", "NXDOMAIN", ... for messages.
std::string_view DnsFailureName(DnsFailure failure);

}  // namespace autoseal::acme::server::internal
