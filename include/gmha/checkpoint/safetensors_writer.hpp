#pragma once
// Writes safetensors (docs/formats.md): one model.safetensors, or shards model-0000k-of-0000n.safetensors
// plus model.safetensors.index.json (the Hugging Face naming) above a size. Tensors are streamed:
// each one is filled by a callback when the writer reaches it, so a file larger than RAM costs one
// tensor of memory. Every file is written to a temporary name and renamed into place (the index
// last), so a reader never sees a half-written checkpoint.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace gmha {

/// One tensor to write. `fill` receives a zeroed row-major buffer of product(shape) floats and
/// writes the values; they are stored as `dtype` ("F32", or "BF16" rounded to nearest even).
/// A tensor with `fill_bytes` instead receives its zeroed stored bytes (product(shape) elements
/// of any safetensors dtype, F4's two a byte included) and writes them itself: the parts of a
/// quantized weight (codes U8, scales F8_E4M3/F32, ...).
struct TensorToWrite {
  std::string name;
  std::string dtype = "F32";
  std::vector<int64_t> shape;
  std::function<void(std::span<float>)> fill;
  std::function<void(std::span<std::byte>)> fill_bytes;
};

struct SafetensorsWriteOptions {
  /// Start a new shard when the next tensor would take a shard past this many data bytes;
  /// 0 writes a single model.safetensors.
  uint64_t max_shard_bytes = 0;
  /// The header's "__metadata__" (string to string); "format": "pt" is added when absent.
  std::map<std::string, std::string> metadata;
};

/// Writes `tensors` into the existing folder `dir`; returns the file names written (shards, then
/// the index when sharded). Throws InputError naming the tensor for a bad dtype, shape or
/// duplicate name, or the file when it cannot be written; nothing half-written is left behind.
std::vector<std::string> write_safetensors(const std::string& dir,
                                           const std::vector<TensorToWrite>& tensors,
                                           const SafetensorsWriteOptions& options = {});

/// Writes `tensors` as one safetensors file at `path` (any name; written to a temporary name and
/// renamed into place). Throws InputError as write_safetensors does.
void write_safetensors_file(const std::string& path, const std::vector<TensorToWrite>& tensors,
                            const SafetensorsWriteOptions& options = {});

}  // namespace gmha
