#pragma once
// The one writer behind every `--out`. Files are written atomically: to a temporary file in the
// target's directory, flushed, then renamed over the target, so a reader never sees half a report
// and a failure leaves no debris. What is already at the path decides what happens:
//   - nothing, or a regular file: replaced; an existing file keeps its permission bits;
//   - a symlink: written through to its final target (the link itself stays a link);
//   - a directory, device node, FIFO or socket: refused (InputError naming the path), untouched.
// Folders (synth, report) are staged the same way: written into a sibling temporary folder that
// is renamed into place only when complete (StagedFolder).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace gmha {

/// Where an atomic write of `path` lands: the regular file to replace (after symlinks) and the
/// permission bits the new file gets (the old file's, or 0644 for a new one).
struct OutputTarget {
  std::string path;
  unsigned mode = 0644;
  bool exists = false;           // a regular file is there now
  long long uid = -1, gid = -1;  // its owner, kept when the writer may (root)
};
/// Resolves `path` as described above; throws InputError naming `path` for a directory, device,
/// FIFO, socket, a symlink loop, or a missing parent folder.
OutputTarget resolve_output_target(const std::string& path);

/// Writes `content` to `path` atomically. Throws InputError naming the path when it cannot.
void write_file_atomically(const std::string& path, std::string_view content);

/// Reads a whole (small) text file. Throws InputError naming the path when it cannot.
std::string read_text_file(const std::string& path);

/// Bytes available to an unprivileged writer on the file system that holds `path` (or its
/// nearest existing ancestor), from statvfs.
uint64_t free_bytes_at(const std::string& path);

/// Throws InputError naming `flag` and `path` when writing `bytes` there would not fit in the
/// free space (with a small margin for file-system metadata).
void require_free_space(const std::string& flag, const std::string& path, uint64_t bytes);

/// A folder output (`synth`, `report`): checks the target first and stages the contents.
/// The target must be missing, an empty folder, or a folder `is_own` recognises as an earlier
/// output of the same command; any other non-empty folder is refused unless `force`. A file or
/// anything else that is not a folder at the path is always refused. Files are written under
/// path(); commit() moves the finished folder into place (an earlier folder there is replaced);
/// without commit() (an exception) the staging folder is removed and the target is untouched.
class StagedFolder {
 public:
  StagedFolder(const std::string& flag, const std::string& target, bool force,
               const std::function<bool(const std::string& dir)>& is_own);
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;

  /// The staging folder to write into (a sibling of the target, created empty).
  const std::string& path() const { return staging_; }
  /// The target folder, absolute.
  const std::string& target() const { return target_; }
  /// Replaces the target by the staging folder.
  void commit();

 private:
  std::string flag_, given_, target_, staging_;
  bool committed_ = false;
};

}  // namespace gmha
