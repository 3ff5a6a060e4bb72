#pragma once
// A read-only memory map of one file (RAII). Readers take byte ranges from it after checking them
// against the file size, decode what they need and drop the pages again, so converting a tensor of
// a 100 GB checkpoint costs the tensor's pages, never the whole file.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace gmha {

class MappedFile {
 public:
  /// Maps `path` read-only. Throws InputError naming the path when it cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  /// The path as given to open().
  const std::string& path() const { return path_; }
  /// File size in bytes.
  uint64_t size() const { return size_; }
  /// The whole file (empty for a zero-byte file).
  std::span<const std::byte> bytes() const { return {data_, static_cast<size_t>(size_)}; }
  /// Bytes [offset, offset + length); throws InputError "<path>: <what> (bytes a..b) lies outside
  /// the file (size n)" when the range does not fit.
  std::span<const std::byte> range(uint64_t offset, uint64_t length, const std::string& what) const;
  /// Tells the kernel the pages of a range are no longer needed (madvise DONTNEED): the resident
  /// set stays bounded while a large checkpoint is streamed. Never fails (advice only).
  void release(uint64_t offset, uint64_t length) const;

 private:
  MappedFile() = default;
  std::string path_;
  const std::byte* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace gmha
