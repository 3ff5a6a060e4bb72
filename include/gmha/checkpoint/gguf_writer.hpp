#pragma once
// Writes GGUF v3 (docs/formats.md): magic, version, tensor and metadata counts, typed metadata
// key/values, tensor infos (name, ggml dimensions fastest first, type, offset), then the data,
// every tensor at a multiple of the alignment. Tensors are streamed like the safetensors writer:
// each is filled with floats by a callback when the writer reaches it and encoded to its ggml
// type (block_encode.hpp), so the file costs one tensor of memory. The file is written to a
// temporary name and renamed into place.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace gmha {

/// One metadata key/value (the GGUF value types gmha writes).
struct GgufKv {
  enum class Type : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kU64 = 10 };
  std::string key;
  Type type = Type::kU32;
  uint64_t u = 0;  // kU32, kU64, kBool
  int64_t i = 0;   // kI32
  double f = 0;    // kF32
  std::string s;   // kString

  static GgufKv u32(std::string key, uint32_t v);
  static GgufKv u64(std::string key, uint64_t v);
  static GgufKv i32(std::string key, int32_t v);
  static GgufKv f32(std::string key, float v);
  static GgufKv boolean(std::string key, bool v);
  static GgufKv str(std::string key, std::string v);
};

/// One tensor to write: ggml type 0 (F32), 1 (F16), 30 (BF16) or one encode_ggml knows (Q8_0,
/// Q4_K, Q5_K, Q6_K); `shape` in torch order ([rows, cols], written as ne = [cols, rows]), the
/// row a whole number of the type's blocks. `fill` gets a zeroed row-major float buffer.
struct GgufTensorToWrite {
  std::string name;
  uint32_t type = 0;
  std::vector<int64_t> shape;
  std::function<void(std::span<float>)> fill;
};

/// Stored bytes of a tensor of `type` and `shape`; throws InputError naming `name` for a type the
/// writer cannot encode or a row that is not a whole number of blocks.
uint64_t gguf_tensor_bytes(uint32_t type, const std::vector<int64_t>& shape, const std::string& name);

/// Writes the file at `path`. `alignment` (a power of two) is stored as general.alignment when
/// it is not GGUF's default 32. Throws InputError for a bad tensor or key (named), or when the
/// file cannot be written; nothing half-written is left behind.
void write_gguf(const std::string& path, const std::vector<GgufKv>& metadata,
                const std::vector<GgufTensorToWrite>& tensors, uint64_t alignment = 32);

}  // namespace gmha
