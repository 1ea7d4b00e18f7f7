#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace autoseal::acme::server {

// Anti-replay nonces (RFC 8555 §6.5): 128 random bits, base64url, each accepted once. Remembers
// the most recent `capacity` unused nonces; older ones are forgotten (a client then gets badNonce
// and retries with the fresh nonce that comes with it). Thread-safe.
class NonceService {
 public:
  explicit NonceService(size_t capacity = 1 << 20) : capacity_(capacity) {}
  std::string Issue();
  // True exactly once per issued nonce.
  bool Consume(std::string_view nonce);

 private:
  size_t capacity_;
  std::mutex mu_;
  std::unordered_set<std::string> live_;
  std::deque<std::string> order_;
};

}  // namespace autoseal::acme::server
