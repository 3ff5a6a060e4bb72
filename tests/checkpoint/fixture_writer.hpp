#pragma once
// Test support: writes checkpoint files byte by byte (safetensors, GGUF, llama2.c), so the tests
// control every field, including the broken ones. Little-endian, like the formats.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gmha::test {

/// Appends the little-endian bytes of a trivially copyable value.
template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

/// Raw element bytes of values stored as F32 / F64 / F16 / BF16.
std::string f32_bytes(const std::vector<float>& v);
std::string f64_bytes(const std::vector<double>& v);
std::string f16_bytes(const std::vector<float>& v);   // values must be exact in binary16
std::string bf16_bytes(const std::vector<float>& v);  // rounded to nearest even
/// n values 0.25*(i - n/2) + offset, exact in every format down to bf16/f16 for small n.
std::vector<float> ramp(int n, float offset = 0.0f);

struct RawTensor {
  std::string name;
  std::string dtype;  // safetensors dtype name
  std::vector<int64_t> shape;
  std::string data;   // raw bytes
};

/// A safetensors file: header (tensors in the given order, contiguous offsets) then data.
std::string safetensors_bytes(const std::vector<RawTensor>& tensors,
                              const nlohmann::json& metadata = nullptr);
/// A safetensors file from a literal header text and data (for malformed files).
std::string safetensors_raw(const std::string& header, const std::string& data);
/// Writes bytes to a file (creating or replacing it).
void write_bytes(const std::string& path, const std::string& bytes);
/// Reads a file's bytes.
std::string read_bytes(const std::string& path);

/// Builds a GGUF file: metadata in insertion order, tensors laid out aligned.
class GgufBuilder {
 public:
  void add_u32(const std::string& key, uint32_t v);
  void add_u64(const std::string& key, uint64_t v);
  void add_f32(const std::string& key, float v);
  void add_string(const std::string& key, const std::string& v);
  void add_string_array(const std::string& key, const std::vector<std::string>& v);
  /// Raw metadata entry: type id and payload bytes.
  void add_raw(const std::string& key, uint32_t type, const std::string& payload);
  /// A tensor with ggml dims `ne` (fastest first), ggml type id and raw data bytes.
  void add_tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type,
                  std::string data);
  /// The file. `alignment` pads tensors; the general.alignment key is written only if added.
  std::string bytes(uint32_t version = 3, uint64_t alignment = 32) const;

 private:
  struct Kv {
    std::string key;
    uint32_t type;
    std::string payload;
  };
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    std::string data;
  };
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

/// GGUF Q8_0 bytes of `values` (multiple of 32) with one scale per block; values must be
/// scale * integer in [-127, 127] for an exact round trip.
std::string q8_0_bytes(const std::vector<float>& values, const std::vector<float>& scales);

/// A llama2.c checkpoint: version 0 (legacy), 1 (fp32) or 2 (Q8_0, group `group`). Weights are
/// a deterministic function of (tensor index, element index) so readers can be checked exactly.
struct Llama2cSpec {
  int version = 0;
  int dim = 16, hidden = 24, layers = 2, heads = 4, kv_heads = 2, vocab = 32, seq_len = 8;
  bool shared_classifier = true;
  int group = 16;
};
std::string llama2c_bytes(const Llama2cSpec& s);
/// The value the spec writes at element `i` of tensor number `k` (in llama2.c order).
float llama2c_value(int k, int64_t i);

}  // namespace gmha::test
