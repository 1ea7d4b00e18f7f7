#include "core/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/bytes.h"

namespace autoseal {
namespace {

std::string Errno(std::string_view what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

std::string DirName(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Fail(ErrorCode::kIo, Errno("cannot open directory", dir));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Fail(ErrorCode::kIo, Errno("cannot fsync directory", dir));
  return Ok();
}

}  // namespace

Result<std::string> ReadFile(const std::string& path, size_t max_size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "no such file: " + path);
    return Fail(ErrorCode::kIo, Errno("cannot open", path));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto err = Errno("cannot read", path);
      ::close(fd);
      return Fail(ErrorCode::kIo, err);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_size) {
      ::close(fd);
      return Fail(ErrorCode::kInvalidArgument,
                  path + " is larger than the limit of " + std::to_string(max_size) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

namespace {

// Writes to something that is not a regular file (a device, FIFO or socket) in place.
Status WriteInPlace(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Fail(ErrorCode::kIo, Errno("cannot open", path));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto err = Errno("cannot write", path);
      ::close(fd);
      return Fail(ErrorCode::kIo, err);
    }
    off += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return Fail(ErrorCode::kIo, Errno("cannot close", path));
  return Ok();
}

}  // namespace

Status WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode,
                       Overwrite overwrite) {
  // An existing target that is not a regular file (-o /dev/null, -o /dev/stdout) is written in
  // place: there is nothing to make atomic, and renaming over it would replace the device node
  // or the symlink itself.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) return Fail(ErrorCode::kIo, path + " is a directory");
    if (overwrite == Overwrite::kNo)
      return Fail(ErrorCode::kAlreadyExists, path + " already exists; not overwriting it");
    return WriteInPlace(path, data);
  }
  const std::string dir = DirName(path);
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return Fail(ErrorCode::kIo, Errno("cannot create temporary file in", dir));
  auto cleanup = [&](std::string message) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kIo, std::move(message));
  };
  if (::fchmod(fd, mode) != 0) return cleanup(Errno("cannot chmod", tmp));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return cleanup(Errno("cannot write", tmp));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return cleanup(Errno("cannot fsync", tmp));
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kIo, Errno("cannot close", tmp));
  }
  if (overwrite == Overwrite::kYes) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      auto err = Errno("cannot rename into", path);
      ::unlink(tmp.c_str());
      return Fail(ErrorCode::kIo, err);
    }
  } else {
    // link(2) fails with EEXIST instead of replacing: an existing file is never overwritten.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
      int saved = errno;
      ::unlink(tmp.c_str());
      errno = saved;
      if (saved == EEXIST)
        return Fail(ErrorCode::kAlreadyExists, path + " already exists; not overwriting it");
      return Fail(ErrorCode::kIo, Errno("cannot create", path));
    }
    ::unlink(tmp.c_str());
  }
  return FsyncDir(dir);
}

Status MakeDirectories(const std::string& path, unsigned mode) {
  std::error_code ec;
  std::filesystem::path p(path);
  std::filesystem::path built;
  for (const auto& part : p) {
    built /= part;
    if (std::filesystem::is_directory(built, ec)) continue;
    if (::mkdir(built.c_str(), mode) != 0 && errno != EEXIST)
      return Fail(ErrorCode::kIo, Errno("cannot create directory", built.string()));
  }
  if (::access(path.c_str(), W_OK | X_OK) != 0)
    return Fail(ErrorCode::kIo, Errno("directory is not writable:", path));
  return Ok();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace autoseal
