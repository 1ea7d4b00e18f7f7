#include "acme/server/nonce.h"

#include "core/bytes.h"
#include "crypto/digest.h"

namespace autoseal::acme::server {

std::string NonceService::Issue() {
  auto bytes = crypto::RandomBytes(16);
  CHECK_MSG(bytes.has_value(), "the random number generator failed");
  std::string nonce = Base64UrlEncode(*bytes);
  std::lock_guard lock(mu_);
  while (order_.size() >= capacity_) {
    live_.erase(order_.front());
    order_.pop_front();
  }
  live_.insert(nonce);
  order_.push_back(nonce);
  return nonce;
}

bool NonceService::Consume(std::string_view nonce) {
  if (nonce.size() != 22) return false;
  std::lock_guard lock(mu_);
  // The deque keeps the consumed nonce until it ages out; erasing from the set is what counts.
  return live_.erase(std::string(nonce)) == 1;
}

}  // namespace autoseal::acme::server
