#pragma once
// llama2.c checkpoints (karpathy/llama2.c): the legacy layout (seven int32 dim, hidden_dim,
// n_layers, n_heads, n_kv_heads, vocab_size (negative = unshared classifier), seq_len, then float32
// tensors in run.c's order, freq_cis tables included) and the 256-byte-header exports with magic
// "ak42": version 1 (float32) and version 2 (Q8_0 groups, dequantised on conversion). The file size
// must equal exactly what the header implies.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gmha/checkpoint/tensor_source.hpp"

namespace gmha {

/// The header of a llama2.c checkpoint.
struct Llama2cHeader {
  int version = 0;  // 0 legacy, 1 fp32 export, 2 Q8_0 export
  int64_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0;
  int64_t vocab_size = 0, seq_len = 0;  // vocab_size made positive
  bool shared_classifier = true;
  int64_t group_size = 0;  // version 2 only
  int64_t head_dim() const { return n_heads > 0 ? dim / n_heads : 0; }
};

/// Parses and validates a whole llama2.c file held in `file`, laying out its tensors with names
/// llama2.c uses (token_embedding, rms_att.N, wq.N, ..., wcls); `where` names it in errors.
Llama2cHeader parse_llama2c(std::span<const std::byte> file, const std::string& where,
                            std::vector<TensorInfo>* tensors);

/// A llama2.c .bin file, read lazily.
class Llama2cSource : public TensorSource {
 public:
  /// Maps and parses `path`. Throws InputError.
  static std::shared_ptr<Llama2cSource> open(const std::string& path);

  std::string_view format() const override { return "llama2c"; }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  void read_rows(std::string_view name, int64_t begin, int64_t end,
                 std::span<float> out) const override;
  void read_rows(std::string_view name, int64_t begin, int64_t end,
                 std::span<double> out) const override;
  const std::string& where() const override { return where_; }
  const Llama2cHeader& header() const { return header_; }

 private:
  Llama2cSource() = default;
  template <typename T>
  void read_rows_impl(std::string_view name, int64_t begin, int64_t end, std::span<T> out) const;
  std::string where_;
  Llama2cHeader header_;
  std::vector<TensorInfo> tensors_;
  std::shared_ptr<const class MappedFile> file_;
};

}  // namespace gmha
