#pragma once
// Internal: the checkpoint writers' output file (safetensors shards, GGUF). It is written under a
// temporary name and renamed into place by commit(), and removed on failure, so a reader never
// sees a half-written checkpoint.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"

namespace gmha::detail {

// A file written under a temporary name and renamed into place by commit(); removed on failure.
// The target is resolved as every --out is (core/atomic_file.hpp): a symlink is written through,
// a device, FIFO or folder is refused, a replaced file keeps its mode.
class AtomicStream {
 public:
  explicit AtomicStream(std::string path)
      : path_(std::move(path)), target_(resolve_output_target(path_)),
        tmp_(target_.path + ".tmp.XXXXXX") {
    fd_ = mkstemp(tmp_.data());
    if (fd_ < 0) fail("cannot create a temporary file");
  }
  ~AtomicStream() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  AtomicStream(const AtomicStream&) = delete;
  AtomicStream& operator=(const AtomicStream&) = delete;

  void write(const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("write failed");
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
  }
  void commit() {
    ::fchmod(fd_, static_cast<mode_t>(target_.mode));
    if (::fsync(fd_) != 0) fail("write failed");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("write failed");
    if (std::rename(tmp_.c_str(), target_.path.c_str()) != 0) fail("cannot rename into place");
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw InputError(fmt::format("{}: {}: {}", path_, what, std::strerror(errno)));
  }
  std::string path_;
  OutputTarget target_;
  std::string tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace gmha::detail
