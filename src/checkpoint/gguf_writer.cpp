#include "gmha/checkpoint/gguf_writer.hpp"

#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "atomic_stream.hpp"  // internal, beside this file
#include "gmha/checkpoint/block_encode.hpp"
#include "gmha/checkpoint/gguf.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/float_formats.hpp"
#include "gmha/core/parallel.hpp"

namespace gmha {
namespace {

void put_u32(std::string& o, uint32_t v) { o.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& o, uint64_t v) { o.append(reinterpret_cast<const char*>(&v), 8); }
void put_string(std::string& o, const std::string& s) {
  put_u64(o, s.size());
  o += s;
}

// Values per block and bytes per block of a type the writer stores.
std::pair<int64_t, int64_t> block_of(uint32_t type) {
  switch (type) {
    case 0: return {1, 4};
    case 1: return {1, 2};
    case 30: return {1, 2};
    default: return {ggml_encode_block(type), ggml_encode_block_bytes(type)};
  }
}

// Encodes `rows` rows of `cols` floats into `out` (row-major, a row a whole number of blocks);
// rows are independent, so the encoding runs on every core.
void encode_rows(uint32_t type, const float* x, int64_t rows, int64_t cols, std::byte* out) {
  const auto [block, block_bytes] = block_of(type);
  const int64_t row_bytes = cols / block * block_bytes;
  const int64_t chunk = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(cols, 1));
  parallel_for((rows + chunk - 1) / chunk, 0, [&](int64_t c) {
    for (int64_t r = c * chunk; r < std::min(rows, (c + 1) * chunk); ++r) {
      const float* xr = x + r * cols;
      std::byte* o = out + r * row_bytes;
      if (type == 0) {
        std::memcpy(o, xr, static_cast<size_t>(cols) * 4);
      } else if (type == 1 || type == 30) {
        for (int64_t j = 0; j < cols; ++j) {
          const uint16_t h = type == 1 ? float_to_f16(xr[j]) : float_to_bf16(xr[j]);
          std::memcpy(o + 2 * j, &h, 2);
        }
      } else {
        encode_ggml(type, xr, cols, o);
      }
    }
  });
}

}  // namespace

GgufKv GgufKv::u32(std::string key, uint32_t v) { return {std::move(key), Type::kU32, v, 0, 0, {}}; }
GgufKv GgufKv::u64(std::string key, uint64_t v) { return {std::move(key), Type::kU64, v, 0, 0, {}}; }
GgufKv GgufKv::i32(std::string key, int32_t v) { return {std::move(key), Type::kI32, 0, v, 0, {}}; }
GgufKv GgufKv::f32(std::string key, float v) { return {std::move(key), Type::kF32, 0, 0, v, {}}; }
GgufKv GgufKv::boolean(std::string key, bool v) {
  return {std::move(key), Type::kBool, v ? 1u : 0u, 0, 0, {}};
}
GgufKv GgufKv::str(std::string key, std::string v) {
  return {std::move(key), Type::kString, 0, 0, 0, std::move(v)};
}

uint64_t gguf_tensor_bytes(uint32_t type, const std::vector<int64_t>& shape, const std::string& name) {
  const auto [block, block_bytes] = block_of(type);
  if (block == 0)
    throw InputError(fmt::format("gguf writer: tensor '{}': type {} is not writable (F32, F16, "
                                 "BF16, Q8_0, Q4_K, Q5_K, Q6_K)", name, ggml_type_name(type)));
  if (shape.empty() || shape.size() > 4)
    throw InputError(fmt::format("gguf writer: tensor '{}': {} dimensions (1 to 4)", name, shape.size()));
  for (int64_t s : shape)
    if (s <= 0) throw InputError(fmt::format("gguf writer: tensor '{}': dimension {} is not positive", name, s));
  if (shape.back() % block != 0)
    throw InputError(fmt::format("gguf writer: tensor '{}': row of {} is not a multiple of the {} "
                                 "block of {}", name, shape.back(), ggml_type_name(type), block));
  uint64_t bytes = static_cast<uint64_t>(shape.back() / block * block_bytes);
  for (size_t d = 0; d + 1 < shape.size(); ++d)
    bytes = checked_mul_u64(bytes, static_cast<uint64_t>(shape[d]), "tensor bytes");
  return bytes;
}

void write_gguf(const std::string& path, const std::vector<GgufKv>& metadata,
                const std::vector<GgufTensorToWrite>& tensors, uint64_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw InputError(fmt::format("gguf writer: alignment {} is not a power of two", alignment));
  std::vector<GgufKv> kvs = metadata;
  if (alignment != 32) kvs.push_back(GgufKv::u32("general.alignment", static_cast<uint32_t>(alignment)));
  std::set<std::string> keys, names;
  for (const auto& kv : kvs)
    if (kv.key.empty() || !keys.insert(kv.key).second)
      throw InputError(fmt::format("gguf writer: metadata key '{}' is empty or repeated", kv.key));
  std::string head = "GGUF";
  put_u32(head, 3);
  put_u64(head, tensors.size());
  put_u64(head, kvs.size());
  for (const auto& kv : kvs) {
    put_string(head, kv.key);
    put_u32(head, static_cast<uint32_t>(kv.type));
    switch (kv.type) {
      case GgufKv::Type::kU32: put_u32(head, static_cast<uint32_t>(kv.u)); break;
      case GgufKv::Type::kI32: put_u32(head, static_cast<uint32_t>(static_cast<int32_t>(kv.i))); break;
      case GgufKv::Type::kU64: put_u64(head, kv.u); break;
      case GgufKv::Type::kBool: head.push_back(kv.u ? '\1' : '\0'); break;
      case GgufKv::Type::kString: put_string(head, kv.s); break;
      case GgufKv::Type::kF32: {
        const float f = static_cast<float>(kv.f);
        head.append(reinterpret_cast<const char*>(&f), 4);
        break;
      }
    }
  }
  std::vector<uint64_t> sizes;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || !names.insert(t.name).second)
      throw InputError(fmt::format("gguf writer: tensor name '{}' is empty or repeated", t.name));
    sizes.push_back(gguf_tensor_bytes(t.type, t.shape, t.name));
    put_string(head, t.name);
    put_u32(head, static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) put_u64(head, static_cast<uint64_t>(*it));
    put_u32(head, t.type);
    put_u64(head, offset);
    offset = checked_add_u64(offset, (sizes.back() + alignment - 1) / alignment * alignment, "data bytes");
  }
  head.append((alignment - head.size() % alignment) % alignment, '\0');
  detail::AtomicStream out(path);
  out.write(head.data(), head.size());
  std::vector<float> values;
  std::vector<std::byte> bytes;
  for (size_t k = 0; k < tensors.size(); ++k) {
    const auto& t = tensors[k];
    int64_t elements = 1;
    for (int64_t s : t.shape) elements = checked_mul(elements, s, "tensor elements");
    values.assign(static_cast<size_t>(elements), 0.0f);
    if (t.fill) t.fill(values);
    const uint64_t padded = (sizes[k] + alignment - 1) / alignment * alignment;
    bytes.assign(padded, std::byte{0});
    const int64_t cols = t.shape.back();
    encode_rows(t.type, values.data(), elements / cols, cols, bytes.data());
    out.write(bytes.data(), padded);
  }
  out.commit();
}

}  // namespace gmha
