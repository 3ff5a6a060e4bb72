#include "gmha/core/atomic_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmha/core/error.hpp"

namespace gmha {
namespace {

namespace fs = std::filesystem;

// What lstat found, in words, for the refusal message.
const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a folder";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

std::string parent_of(const fs::path& p) {
  const fs::path parent = p.parent_path();
  return parent.empty() ? "." : parent.string();
}

void write_all(int fd, std::string_view content, const std::string& path, const std::string& tmp) {
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw InputError(fmt::format("{}: write failed: {}", path, std::strerror(e)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// Unique names for sibling staging folders of one process.
std::string unique_suffix() {
  static std::atomic<int> counter{0};
  return fmt::format("{}-{}", ::getpid(), counter++);
}

}  // namespace

OutputTarget resolve_output_target(const std::string& path) {
  if (path.empty()) throw errors::bad_option("out", "the path is empty");
  fs::path p = path;
  // Follow symlinks by hand (a dangling link names the file to create); 40 is Linux's limit.
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno != ENOENT) {
        throw InputError(fmt::format("{}: cannot inspect: {}", path, std::strerror(errno)));
      }
      struct stat ps {};
      const std::string parent = parent_of(p);
      if (::stat(parent.c_str(), &ps) != 0 || !S_ISDIR(ps.st_mode)) {
        throw InputError(fmt::format("{}: folder {} does not exist", path, parent));
      }
      return {p.string(), 0644, false};
    }
    if (S_ISLNK(st.st_mode)) {
      if (hops >= 40) throw InputError(fmt::format("{}: too many levels of symlinks", path));
      std::error_code ec;
      const fs::path link = fs::read_symlink(p, ec);
      if (ec) throw InputError(fmt::format("{}: cannot read the symlink: {}", path, ec.message()));
      p = link.is_absolute() ? link : p.parent_path() / link;
      continue;
    }
    if (S_ISREG(st.st_mode)) {
      return {p.string(), static_cast<unsigned>(st.st_mode & 07777), true,
              static_cast<long long>(st.st_uid), static_cast<long long>(st.st_gid)};
    }
    throw InputError(
        fmt::format("{}: is {}; refusing to replace it (give a regular file, or - "
                    "for stdout)",
                    path, kind_of(st.st_mode)));
  }
}

void write_file_atomically(const std::string& path, std::string_view content) {
  const OutputTarget target = resolve_output_target(path);
  std::string tmp = target.path + ".tmp.XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0) {
    throw InputError(
        fmt::format("{}: cannot create temporary file: {}", path, std::strerror(errno)));
  }
  write_all(fd, content, path, tmp);
  // mkstemp creates 0600: a replaced file keeps its mode (and, where we may, its owner).
  ::fchmod(fd, static_cast<mode_t>(target.mode));
  if (target.exists && ::geteuid() == 0) {
    [[maybe_unused]] int ignored =
        ::fchown(fd, static_cast<uid_t>(target.uid), static_cast<gid_t>(target.gid));
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw InputError(fmt::format("{}: write failed: {}", path, std::strerror(e)));
  }
  if (std::rename(tmp.c_str(), target.path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw InputError(fmt::format("{}: cannot rename into place: {}", path, std::strerror(e)));
  }
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(fmt::format("{}: read failed", path));
  return ss.str();
}

uint64_t free_bytes_at(const std::string& path) {
  fs::path p = fs::absolute(fs::path(path.empty() ? "." : path));
  struct statvfs v {};
  while (::statvfs(p.c_str(), &v) != 0) {
    if (p == p.root_path()) return 0;
    p = p.parent_path();
  }
  return static_cast<uint64_t>(v.f_bavail) * static_cast<uint64_t>(v.f_frsize);
}

void require_free_space(const std::string& flag, const std::string& path, uint64_t bytes) {
  // Metadata, the index and the rounding of blocks: 1% and 1 MiB on top.
  const uint64_t margin = bytes / 100 + (uint64_t{1} << 20);
  const uint64_t need = bytes > UINT64_MAX - margin ? UINT64_MAX : bytes + margin;
  const uint64_t free = free_bytes_at(path);
  if (need > free) {
    throw InputError(fmt::format("{} {}: needs {:.3g} GB but only {:.3g} GB are free there", flag,
                                 path, static_cast<double>(need) / 1e9,
                                 static_cast<double>(free) / 1e9));
  }
}

StagedFolder::StagedFolder(const std::string& flag, const std::string& target, bool force,
                           const std::function<bool(const std::string&)>& is_own)
    : flag_(flag), given_(target) {
  if (target.empty()) throw InputError(fmt::format("{}: give a folder", flag));
  fs::path t = fs::absolute(fs::path(target)).lexically_normal();
  if (t.filename().empty()) t = t.parent_path();
  target_ = t.string();
  struct stat st {};
  if (::lstat(target_.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) {
      throw InputError(fmt::format("{} {}: is a symlink; give the folder itself", flag, target));
    }
    if (!S_ISDIR(st.st_mode)) {
      throw InputError(fmt::format("{} {}: exists and is not a folder", flag, target));
    }
    std::error_code ec;
    const bool empty = fs::is_empty(t, ec);
    if (!empty && !force && !is_own(target_)) {
      throw InputError(
          fmt::format("{} {}: folder is not empty and is not an earlier output of "
                      "this command; choose a new folder (or --force to replace it)",
                      flag, target));
    }
  }
  const fs::path parent = t.parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    throw InputError(
        fmt::format("{} {}: parent folder {} does not exist", flag, target, parent.string()));
  }
  staging_ = (parent / fmt::format(".{}.tmp-{}", t.filename().string(), unique_suffix())).string();
  if (::mkdir(staging_.c_str(), 0755) != 0) {
    throw InputError(fmt::format("{} {}: cannot create a folder beside it: {}", flag, target,
                                 std::strerror(errno)));
  }
}

StagedFolder::~StagedFolder() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedFolder::commit() {
  const fs::path t = target_;
  const fs::path old =
      t.parent_path() / fmt::format(".{}.old-{}", t.filename().string(), unique_suffix());
  std::error_code ec;
  const bool had = fs::exists(fs::symlink_status(t, ec));
  // Move the earlier folder aside, the new one in, then delete the earlier one: at every moment
  // the target is either the old folder or the complete new one.
  if (had && std::rename(target_.c_str(), old.c_str()) != 0) {
    throw InputError(fmt::format("{} {}: cannot replace the earlier folder: {}", flag_, given_,
                                 std::strerror(errno)));
  }
  if (std::rename(staging_.c_str(), target_.c_str()) != 0) {
    const int e = errno;
    if (had) std::rename(old.c_str(), target_.c_str());
    throw InputError(fmt::format("{} {}: cannot move the folder into place: {}", flag_, given_,
                                 std::strerror(e)));
  }
  committed_ = true;
  if (had) fs::remove_all(old, ec);
}

}  // namespace gmha
