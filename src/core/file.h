#pragma once

#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/error.h"

namespace autoseal {

// Reads a whole file, refusing files larger than max_size bytes (every input is bounded).
// kNotFound if missing, kIo on other failures; messages name the path.
Result<std::string> ReadFile(const std::string& path, size_t max_size = 16 << 20);

enum class Overwrite { kNo, kYes };

// Writes data to path atomically and durably: a temporary file in the same directory with the
// given mode, fsync, then rename (Overwrite::kYes) or link (kNo: fails with kAlreadyExists if path
// exists, never replacing it), then fsync of the directory. A crash leaves either the old state or
// the complete new file, never a partial one. An existing target that is not a regular file (a
// device such as /dev/null, a FIFO, /dev/stdout) is written in place instead, never replaced.
Status WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode = 0644,
                       Overwrite overwrite = Overwrite::kYes);

// Creates the directory and its parents (mode for the ones created). kIo naming the path when
// it cannot, or when it exists and is not a writable directory.
Status MakeDirectories(const std::string& path, unsigned mode = 0755);

bool FileExists(const std::string& path);

}  // namespace autoseal
