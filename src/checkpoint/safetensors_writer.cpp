#include "gmha/checkpoint/safetensors_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gmha/checkpoint/element_decode.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"

namespace gmha {
namespace {

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

struct Planned {
  const TensorToWrite* tensor;
  uint64_t elements;
  uint64_t bytes;
};

int element_bytes(const std::string& dtype, const std::string& name) {
  if (dtype == "F32") return 4;
  if (dtype == "BF16") return 2;
  throw InputError(fmt::format("safetensors writer: tensor '{}': dtype '{}' is not writable "
                               "(F32 or BF16)", name, dtype));
}

void write_shard(const std::string& path, const std::vector<Planned>& shard,
                 const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto& [k, v] : metadata) meta[k] = v;
  if (!meta.contains("format")) meta["format"] = "pt";
  header["__metadata__"] = meta;
  uint64_t offset = 0;
  for (const Planned& p : shard) {
    header[p.tensor->name] = {{"dtype", p.tensor->dtype},
                              {"shape", p.tensor->shape},
                              {"data_offsets", {offset, offset + p.bytes}}};
    offset += p.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data buffer starts 8-byte aligned
  AtomicStream out(path);
  const uint64_t n = text.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));  // little endian
  out.write(len, 8);
  out.write(text.data(), text.size());
  std::vector<float> values;
  std::vector<uint16_t> half;
  for (const Planned& p : shard) {
    values.assign(p.elements, 0.0f);
    if (p.tensor->fill) p.tensor->fill(values);
    if (p.tensor->dtype == "F32") {
      out.write(values.data(), p.bytes);
    } else {
      half.resize(p.elements);
      for (size_t i = 0; i < values.size(); ++i) half[i] = float_to_bf16(values[i]);
      out.write(half.data(), p.bytes);
    }
  }
  out.commit();
}

// Checks names (non-empty, not reserved, unique) and sizes (overflow-checked) of every tensor.
std::vector<Planned> plan_tensors(const std::vector<TensorToWrite>& tensors) {
  std::set<std::string> names;
  std::vector<Planned> planned;
  for (const TensorToWrite& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__" || !names.insert(t.name).second) {
      throw InputError(fmt::format("safetensors writer: tensor name '{}' is empty, reserved or "
                                   "repeated", t.name));
    }
    uint64_t elements = 1;
    for (int64_t s : t.shape) {
      if (s < 0) throw InputError(fmt::format("safetensors writer: tensor '{}': negative dimension", t.name));
      elements = checked_mul_u64(elements, static_cast<uint64_t>(s), "tensor elements");
    }
    const uint64_t bytes =
        checked_mul_u64(elements, static_cast<uint64_t>(element_bytes(t.dtype, t.name)), "tensor bytes");
    planned.push_back({&t, elements, bytes});
  }
  return planned;
}

}  // namespace

void write_safetensors_file(const std::string& path, const std::vector<TensorToWrite>& tensors,
                            const SafetensorsWriteOptions& options) {
  write_shard(path, plan_tensors(tensors), options.metadata);
}

std::vector<std::string> write_safetensors(const std::string& dir,
                                           const std::vector<TensorToWrite>& tensors,
                                           const SafetensorsWriteOptions& options) {
  // Plan: sizes (checked), names unique, shards in order.
  std::vector<std::vector<Planned>> shards(1);
  uint64_t shard_bytes = 0, total = 0;
  for (const Planned& p : plan_tensors(tensors)) {
    if (options.max_shard_bytes > 0 && !shards.back().empty() &&
        shard_bytes + p.bytes > options.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(p);
    shard_bytes += p.bytes;
    total = checked_add_u64(total, p.bytes, "checkpoint bytes");
  }
  std::vector<std::string> written;
  if (options.max_shard_bytes == 0 || shards.size() == 1) {
    write_shard(dir + "/model.safetensors", shards[0], options.metadata);
    written.push_back("model.safetensors");
    return written;
  }
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file =
        fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
    write_shard(dir + "/" + file, shards[i], options.metadata);
    for (const Planned& p : shards[i]) weight_map[p.tensor->name] = file;
    written.push_back(file);
  }
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total}};
  index["weight_map"] = weight_map;
  write_file_atomically(dir + "/model.safetensors.index.json", index.dump(2) + "\n");
  written.push_back("model.safetensors.index.json");
  return written;
}

}  // namespace gmha
