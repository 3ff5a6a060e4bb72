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

#include "atomic_stream.hpp"  // internal, beside this file
#include "gmha/checkpoint/element_decode.hpp"
#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"

namespace gmha {
namespace {

using detail::AtomicStream;

struct Planned {
  const TensorToWrite* tensor;
  uint64_t elements;
  uint64_t bytes;
};

// Stored bits of one element: F32 or BF16 from floats, or any safetensors dtype when the tensor
// brings its own bytes (fill_bytes).
int element_bits(const TensorToWrite& t) {
  if (t.fill_bytes) {
    if (const int bits = safetensors_dtype_bits(t.dtype)) return bits;
    throw InputError(fmt::format("safetensors writer: tensor '{}': unknown dtype '{}'", t.name, t.dtype));
  }
  if (t.dtype == "F32") return 32;
  if (t.dtype == "BF16") return 16;
  throw InputError(fmt::format("safetensors writer: tensor '{}': dtype '{}' is not writable from "
                               "floats (F32 or BF16)", t.name, t.dtype));
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
  std::vector<std::byte> raw;
  for (const Planned& p : shard) {
    if (p.tensor->fill_bytes) {
      raw.assign(p.bytes, std::byte{0});
      p.tensor->fill_bytes(raw);
      out.write(raw.data(), p.bytes);
      continue;
    }
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
    const uint64_t bits =
        checked_mul_u64(elements, static_cast<uint64_t>(element_bits(t)), "tensor bits");
    if (bits % 8 != 0)
      throw InputError(fmt::format("safetensors writer: tensor '{}': {} {} elements do not fill "
                                   "whole bytes", t.name, elements, t.dtype));
    const uint64_t bytes = bits / 8;
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
