#include "cli/common.h"

#include <cstdio>
#include <iostream>
#include <iterator>

#include "core/file.h"

namespace autoseal::cli {

int ReportError(const Error& error) {
  std::string msg = error.message();
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "autoseal: %s\n", msg.c_str());
  return kExitFailure;
}

Result<std::string> ReadInput(const std::string& path, size_t max_size) {
  if (path != "-") return ReadFile(path, max_size);
  std::string data;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
    data.append(buf, n);
    if (data.size() > max_size)
      return Fail(ErrorCode::kInvalidArgument, "standard input is larger than the limit of " +
                                                   std::to_string(max_size) + " bytes");
  }
  return data;
}

}  // namespace autoseal::cli
