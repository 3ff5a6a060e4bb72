#pragma once
// GGUF v2/v3 (llama.cpp): magic "GGUF", version, tensor count, metadata key/values of every type
// (arrays included), tensor infos, then data aligned to general.alignment (default 32). Counts,
// string lengths, dimensions and offsets are checked against the file before use. F32, F16, BF16,
// F64 and the quantized types Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q8_1, Q2_K..Q8_K, IQ4_NL, IQ4_XS, MXFP4,
// NVFP4, TQ1_0 and TQ2_0 convert (dequantised a row range at a time, bit-identical to ggml's
// reference); every other ggml type is listed with its name and refused on conversion ("type
// IQ2_XXS is not supported for conversion"). write_gguf (gguf_writer.hpp) writes the format.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gmha/checkpoint/tensor_source.hpp"

namespace gmha {

/// The parsed header of a GGUF file.
struct GgufHeader {
  uint32_t version = 0;
  nlohmann::json metadata;  // key -> value (ints, floats, bools, strings, arrays as JSON arrays)
  uint64_t alignment = 32;
  uint64_t data_begin = 0;  // absolute offset of the tensor data section
  std::vector<TensorInfo> tensors;  // shape in torch order (ne reversed), offset absolute
  std::vector<uint32_t> types;      // ggml type id of each tensor
};

/// Parses and validates a whole GGUF file held in `file`; `where` names it in errors.
GgufHeader parse_gguf(std::span<const std::byte> file, const std::string& where);

/// ggml type name ("F32", "Q4_K", ...) or "type<N>" for an unknown id.
std::string ggml_type_name(uint32_t type);

/// A GGUF file, read lazily. Tensor names are the file's own (blk.N.attn_q.weight, ...).
class GgufSource : public TensorSource {
 public:
  /// Maps and parses `path`. Throws InputError.
  static std::shared_ptr<GgufSource> open(const std::string& path);

  std::string_view format() const override { return "gguf"; }
  const std::vector<TensorInfo>& tensors() const override { return header_.tensors; }
  void read_rows(std::string_view name, int64_t begin, int64_t end,
                 std::span<float> out) const override;
  void read_rows(std::string_view name, int64_t begin, int64_t end,
                 std::span<double> out) const override;
  const std::string& where() const override { return where_; }
  /// The header: version, metadata, alignment.
  const GgufHeader& header() const { return header_; }

 private:
  GgufSource() = default;
  template <typename T>
  void read_rows_impl(std::string_view name, int64_t begin, int64_t end, std::span<T> out) const;
  std::string where_;
  GgufHeader header_;
  std::shared_ptr<const class MappedFile> file_;
};

}  // namespace gmha
