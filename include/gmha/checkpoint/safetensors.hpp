#pragma once
// safetensors (docs/formats.md): one file, or a model folder whose model.safetensors.index.json maps
// tensor names to shard files. Files are memory-mapped read-only and validated before anything is
// trusted: header length within the file, well-formed JSON, known dtypes, shapes whose byte size
// (checked for overflow) equals the data_offsets span, spans inside the data and not overlapping,
// shards present. FP8 releases (DeepSeek-V3, Step-3) store `X.weight_scale_inv` with one float per
// block (128x128 unless config.json's quantization_config.weight_block_size says otherwise); the
// F8 weight `X.weight` is then dequantised on conversion (weight = fp8 value x scale).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gmha/checkpoint/tensor_source.hpp"

namespace gmha {

/// The parsed header of one safetensors file.
struct SafetensorsHeader {
  uint64_t data_begin = 0;        // absolute offset of the byte buffer (8 + header length)
  std::vector<TensorInfo> tensors;  // in data order; offset is absolute, file is `where`
  nlohmann::json metadata;        // "__metadata__" (object of strings) or null
};

/// Parses and validates the header of a whole safetensors file held in `file`. `where` names the
/// file in errors; every failure is an InputError of one line naming the file and the tensor/key.
SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file, const std::string& where);

/// Element size in bytes of a safetensors dtype name ("F32" -> 4), 0 when the name is unknown or
/// the element is smaller than a byte (F4, F6_E2M3, F6_E3M2: see safetensors_dtype_bits).
int safetensors_dtype_size(std::string_view dtype);
/// Element size in bits ("F4" -> 4, "F6_E2M3" -> 6, "F32" -> 32), 0 when the name is unknown.
int safetensors_dtype_bits(std::string_view dtype);

/// A single .safetensors file or a sharded folder, read lazily.
class SafetensorsSource : public TensorSource {
 public:
  /// Opens a .safetensors file, a *.safetensors.index.json, or a folder holding
  /// model.safetensors.index.json or exactly one *.safetensors file. Throws InputError.
  static std::shared_ptr<SafetensorsSource> open(const std::string& path);

  std::string_view format() const override { return "safetensors"; }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  void read_rows(std::string_view name, int64_t begin, int64_t end,
                 std::span<float> out) const override;
  void read_rows(std::string_view name, int64_t begin, int64_t end,
                 std::span<double> out) const override;
  const std::string& where() const override { return where_; }
  /// The folder's config.json (null when there is none, e.g. a lone file).
  const nlohmann::json& config() const { return config_; }
  /// Shard files in index order (one entry for a single file).
  std::vector<std::string> files() const;

  struct Impl;  // internal: mapped shards and per-tensor decoding data

 private:
  SafetensorsSource() = default;
  template <typename T>
  void read_rows_impl(std::string_view name, int64_t begin, int64_t end, std::span<T> out) const;
  std::string where_;
  std::vector<TensorInfo> tensors_;
  nlohmann::json config_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gmha
