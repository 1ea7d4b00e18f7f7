#include "crypto/ossl.h"

#include <openssl/err.h>

namespace autoseal::crypto {

Error OpenSslError(std::string_view what, ErrorCode code) {
  std::string reasons;
  unsigned long e;
  const char* data = nullptr;
  int flags = 0;
  while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!reasons.empty()) reasons += "; ";
    // The library:reason part is what helps a user; skip the "error:XXXXXXXX:" prefix.
    std::string_view s(buf);
    size_t p = s.find(':', s.find(':') + 1);
    reasons += std::string(p == std::string_view::npos ? s : s.substr(p + 1));
    if (data != nullptr && (flags & ERR_TXT_STRING) && *data) reasons += std::string(" (") + data + ")";
  }
  if (reasons.empty()) return Error(code, std::string(what));
  return Error(code, std::string(what) + ": " + reasons);
}

void ClearOpenSslErrors() { ERR_clear_error(); }

BioPtr MemoryBio(std::string_view data) {
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  CHECK(bio != nullptr);
  return bio;
}

std::string BioContents(BIO* bio) {
  char* p = nullptr;
  long n = BIO_get_mem_data(bio, &p);
  return n > 0 ? std::string(p, static_cast<size_t>(n)) : std::string();
}

}  // namespace autoseal::crypto
