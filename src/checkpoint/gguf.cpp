#include "gmha/checkpoint/gguf.hpp"

#include <algorithm>
#include <numeric>
#include <set>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "decode_rows.hpp"  // internal, beside this file
#include "gguf_quants.hpp"
#include "gmha/checkpoint/mapped_file.hpp"
#include "gmha/core/error.hpp"

namespace gmha {
using detail::Encoding;

namespace {

// ggml type traits: name, elements per block, bytes per block (ggml.c type_traits).
struct GgmlType {
  const char* name;
  int64_t block;
  int64_t block_bytes;
  Encoding encoding;
};
constexpr GgmlType kNoType{nullptr, 0, 0, Encoding::kNone};
constexpr GgmlType kGgmlTypes[] = {
    {"F32", 1, 4, Encoding::kF32},       {"F16", 1, 2, Encoding::kF16},
    {"Q4_0", 32, 18, Encoding::kNone},   {"Q4_1", 32, 20, Encoding::kNone},
    kNoType,                             kNoType,  // 4, 5: removed Q4_2, Q4_3
    {"Q5_0", 32, 22, Encoding::kNone},   {"Q5_1", 32, 24, Encoding::kNone},
    {"Q8_0", 32, 34, Encoding::kGgufQ8_0}, {"Q8_1", 32, 36, Encoding::kNone},
    {"Q2_K", 256, 84, Encoding::kNone},  {"Q3_K", 256, 110, Encoding::kNone},
    {"Q4_K", 256, 144, Encoding::kNone}, {"Q5_K", 256, 176, Encoding::kNone},
    {"Q6_K", 256, 210, Encoding::kNone}, {"Q8_K", 256, 292, Encoding::kNone},
    {"IQ2_XXS", 256, 66, Encoding::kNone}, {"IQ2_XS", 256, 74, Encoding::kNone},
    {"IQ3_XXS", 256, 98, Encoding::kNone}, {"IQ1_S", 256, 50, Encoding::kNone},
    {"IQ4_NL", 32, 18, Encoding::kNone}, {"IQ3_S", 256, 110, Encoding::kNone},
    {"IQ2_S", 256, 82, Encoding::kNone}, {"IQ4_XS", 256, 136, Encoding::kNone},
    {"I8", 1, 1, Encoding::kNone},       {"I16", 1, 2, Encoding::kNone},
    {"I32", 1, 4, Encoding::kNone},      {"I64", 1, 8, Encoding::kNone},
    {"F64", 1, 8, Encoding::kF64},       {"IQ1_M", 256, 56, Encoding::kNone},
    {"BF16", 1, 2, Encoding::kBF16},     kNoType, kNoType, kNoType,  // 31-33 removed
    {"TQ1_0", 256, 54, Encoding::kNone}, {"TQ2_0", 256, 66, Encoding::kNone},
    kNoType, kNoType, kNoType,  // 36-38 removed
    {"MXFP4", 32, 17, Encoding::kNone},  {"NVFP4", 64, 36, Encoding::kNone},
    {"Q1_0", 128, 18, Encoding::kNone},  {"Q2_0", 64, 18, Encoding::kNone},
};
// Quantized types (Encoding::kNone above) convert through detail::gguf_quant when it knows them;
// the block sizes there must agree with this table.

const GgmlType* find_type(uint32_t id) {
  if (id >= std::size(kGgmlTypes) || !kGgmlTypes[id].name) return nullptr;
  return &kGgmlTypes[id];
}

enum ValueType : uint32_t {
  kU8 = 0, kI8, kU16, kI16, kU32, kI32, kF32, kBool, kString, kArray, kU64, kI64, kF64,
};

// Nested arrays deeper than this are corruption (real files nest at most 1).
constexpr int kMaxArrayDepth = 4;
constexpr uint64_t kMaxAlignment = 1u << 20;

// A cursor over the file that refuses to read past its end.
class Reader {
 public:
  Reader(std::span<const std::byte> data, const std::string& where) : data_(data), where_(where) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return data_.size() - pos_; }
  const std::string& where() const { return where_; }

  template <typename U>
  U get(const std::string& what) {
    need(sizeof(U), what);
    U v = detail::load<U>(data_.data() + pos_);
    pos_ += sizeof(U);
    return v;
  }
  std::string string(const std::string& what) {
    const uint64_t n = get<uint64_t>(what + " length");
    if (n > left())
      throw InputError(fmt::format("{}: {} length {} exceeds the file (at byte {}, {} left)",
                                   where_, what, n, pos_, left()));
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), static_cast<size_t>(n));
    pos_ += n;
    return s;
  }
  void need(uint64_t n, const std::string& what) const {
    if (n > left())
      throw InputError(fmt::format("{}: {} is cut off by the end of the file (at byte {})", where_,
                                   what, pos_));
  }

 private:
  std::span<const std::byte> data_;
  const std::string& where_;
  uint64_t pos_ = 0;
};

uint64_t min_value_bytes(uint32_t type) {
  switch (type) {
    case kU8: case kI8: case kBool: return 1;
    case kU16: case kI16: return 2;
    case kU32: case kI32: case kF32: return 4;
    case kU64: case kI64: case kF64: case kString: return 8;
    case kArray: return 12;
    default: return 0;
  }
}

nlohmann::json read_value(Reader& r, uint32_t type, const std::string& key, int depth) {
  const std::string what = fmt::format("metadata '{}'", key);
  switch (type) {
    case kU8: return r.get<uint8_t>(what);
    case kI8: return r.get<int8_t>(what);
    case kU16: return r.get<uint16_t>(what);
    case kI16: return r.get<int16_t>(what);
    case kU32: return r.get<uint32_t>(what);
    case kI32: return r.get<int32_t>(what);
    case kF32: return static_cast<double>(r.get<float>(what));
    case kU64: return r.get<uint64_t>(what);
    case kI64: return r.get<int64_t>(what);
    case kF64: return r.get<double>(what);
    case kBool: {
      const uint8_t b = r.get<uint8_t>(what);
      if (b > 1)
        throw InputError(fmt::format("{}: {}: bool value {} is not 0 or 1", r.where(), what, b));
      return b == 1;
    }
    case kString: return r.string(what);
    case kArray: {
      if (depth >= kMaxArrayDepth)
        throw InputError(fmt::format("{}: {}: arrays nested deeper than {}", r.where(), what,
                                     kMaxArrayDepth));
      const uint32_t et = r.get<uint32_t>(what + " array type");
      const uint64_t n = r.get<uint64_t>(what + " array count");
      const uint64_t min = min_value_bytes(et);
      if (min == 0)
        throw InputError(fmt::format("{}: {}: unknown array element type {}", r.where(), what, et));
      if (n > r.left() / min)
        throw InputError(fmt::format("{}: {}: array count {} exceeds the file", r.where(), what, n));
      nlohmann::json a = nlohmann::json::array();
      a.get_ref<nlohmann::json::array_t&>().reserve(static_cast<size_t>(n));
      for (uint64_t i = 0; i < n; ++i) a.push_back(read_value(r, et, key, depth + 1));
      return a;
    }
    default:
      throw InputError(fmt::format("{}: {}: unknown value type {}", r.where(), what, type));
  }
}

}  // namespace

std::string ggml_type_name(uint32_t type) {
  const GgmlType* t = find_type(type);
  return t ? t->name : fmt::format("type{}", type);
}

GgufHeader parse_gguf(std::span<const std::byte> file, const std::string& where) {
  Reader r(file, where);
  GgufHeader h;
  r.need(4, "magic");
  if (std::memcmp(file.data(), "GGUF", 4) != 0)
    throw InputError(fmt::format("{}: not a GGUF file (magic is not 'GGUF')", where));
  r.get<uint32_t>("magic");
  h.version = r.get<uint32_t>("version");
  if (h.version != 2 && h.version != 3)
    throw InputError(
        fmt::format("{}: GGUF version {} is not supported (only 2 and 3)", where, h.version));
  const uint64_t n_tensors = r.get<uint64_t>("tensor count");
  const uint64_t n_kv = r.get<uint64_t>("metadata count");
  // Every key/value takes at least 8 (key length) + 4 (type) + 1 bytes; every tensor info
  // 8 + 4 + 8 + 4 + 8. Counts beyond that cannot be real.
  if (n_kv > r.left() / 13)
    throw InputError(fmt::format("{}: metadata count {} exceeds the file", where, n_kv));
  h.metadata = nlohmann::json::object();
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = r.string(fmt::format("metadata key #{}", i));
    const uint32_t type = r.get<uint32_t>(fmt::format("metadata '{}' type", key));
    nlohmann::json v = read_value(r, type, key, 0);
    if (h.metadata.contains(key))
      throw InputError(fmt::format("{}: metadata key '{}' appears twice", where, key));
    h.metadata[key] = std::move(v);
  }
  if (h.metadata.contains("general.alignment")) {
    const auto& a = h.metadata["general.alignment"];
    if (!a.is_number_unsigned() && !(a.is_number_integer() && a.get<int64_t>() > 0))
      throw InputError(fmt::format("{}: general.alignment is not a positive integer", where));
    h.alignment = a.get<uint64_t>();
    if (h.alignment == 0 || (h.alignment & (h.alignment - 1)) != 0 || h.alignment > kMaxAlignment)
      throw InputError(fmt::format("{}: general.alignment {} is not a power of two up to {}", where,
                                   h.alignment, kMaxAlignment));
  }
  if (n_tensors > r.left() / 32)
    throw InputError(fmt::format("{}: tensor count {} exceeds the file", where, n_tensors));
  std::set<std::string> names;
  std::vector<uint64_t> rel;  // offsets relative to the data section
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    t.name = t.stored_name = r.string(fmt::format("tensor #{} name", i));
    const std::string at = fmt::format("{}: tensor '{}'", where, t.name);
    if (!names.insert(t.name).second) throw InputError(fmt::format("{} appears twice", at));
    const uint32_t nd = r.get<uint32_t>(t.name + " dimension count");
    if (nd == 0 || nd > 4)
      throw InputError(fmt::format("{}: {} dimensions (1 to 4 allowed)", at, nd));
    std::vector<int64_t> ne(nd);
    for (uint32_t d = 0; d < nd; ++d) {
      const uint64_t v = r.get<uint64_t>(t.name + " dimensions");
      if (v > static_cast<uint64_t>(INT64_MAX))
        throw InputError(fmt::format("{}: dimension {} overflows 64 bits", at, v));
      ne[d] = static_cast<int64_t>(v);
    }
    const uint32_t type = r.get<uint32_t>(t.name + " type");
    const uint64_t off = r.get<uint64_t>(t.name + " offset");
    const GgmlType* gt = find_type(type);
    if (!gt) throw InputError(fmt::format("{}: unknown ggml type {}", at, type));
    if (ne[0] % gt->block != 0)
      throw InputError(fmt::format("{}: row length {} is not a multiple of the {} block size {}",
                                   at, ne[0], gt->name, gt->block));
    uint64_t bytes = static_cast<uint64_t>(ne[0] / gt->block);
    bool overflow = __builtin_mul_overflow(bytes, static_cast<uint64_t>(gt->block_bytes), &bytes);
    for (uint32_t d = 1; d < nd; ++d)
      overflow |= __builtin_mul_overflow(bytes, static_cast<uint64_t>(ne[d]), &bytes);
    int64_t elements = 1;
    for (int64_t v : ne) overflow |= __builtin_mul_overflow(elements, v, &elements);
    if (overflow)
      throw InputError(fmt::format("{}: size of dimensions [{}] overflows 64 bits", at,
                                   fmt::join(ne, ", ")));
    if (off % h.alignment != 0)
      throw InputError(
          fmt::format("{}: offset {} is not a multiple of the alignment {}", at, off, h.alignment));
    t.dtype = gt->name;
    t.convertible = gt->encoding != Encoding::kNone || detail::gguf_quant(type) != nullptr;
    t.shape.assign(ne.rbegin(), ne.rend());  // torch order: slowest dimension first
    t.bytes = bytes;
    t.file = where;
    t.offset = off;
    h.tensors.push_back(std::move(t));
    h.types.push_back(type);
    rel.push_back(off);
  }
  // The data section starts at the next multiple of the alignment.
  const uint64_t pad = (h.alignment - r.pos() % h.alignment) % h.alignment;
  h.data_begin = r.pos() + pad;
  if (h.data_begin > file.size() && !h.tensors.empty())
    throw InputError(fmt::format("{}: data section (byte {}) starts past the end of the file (size {})",
                                 where, h.data_begin, file.size()));
  const uint64_t data_size = file.size() >= h.data_begin ? file.size() - h.data_begin : 0;
  for (auto& t : h.tensors) {
    if (t.offset > data_size || t.bytes > data_size - t.offset)
      throw InputError(fmt::format("{}: tensor '{}' (bytes {}..{} of the data) exceeds the data ({} bytes)",
                                   where, t.name, t.offset, t.offset + t.bytes, data_size));
    t.offset += h.data_begin;
  }
  std::vector<size_t> order(h.tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return h.tensors[a].offset < h.tensors[b].offset; });
  size_t reach = SIZE_MAX;
  for (size_t k : order) {
    const TensorInfo& t = h.tensors[k];
    if (t.bytes == 0) continue;
    if (reach != SIZE_MAX && t.offset < h.tensors[reach].offset + h.tensors[reach].bytes)
      throw InputError(fmt::format("{}: tensor '{}' overlaps tensor '{}'", where, t.name,
                                   h.tensors[reach].name));
    if (reach == SIZE_MAX ||
        t.offset + t.bytes > h.tensors[reach].offset + h.tensors[reach].bytes)
      reach = k;
  }
  return h;
}

std::shared_ptr<GgufSource> GgufSource::open(const std::string& path) {
  std::shared_ptr<GgufSource> s(new GgufSource());
  s->where_ = path;
  s->file_ = MappedFile::open(path);
  s->header_ = parse_gguf(s->file_->bytes(), path);
  s->index_tensors();
  return s;
}

template <typename T>
void GgufSource::read_rows_impl(std::string_view name, int64_t begin, int64_t end,
                                std::span<T> out) const {
  const TensorInfo& t = info(name);
  detail::check_read(t, begin, end, out.size(), where_);
  const uint32_t type = header_.types[&t - header_.tensors.data()];
  const int64_t cols = t.cols();
  if (const detail::GgufQuant* q = detail::gguf_quant(type)) {
    // A row is a whole number of blocks (checked on parsing: ne[0] % block == 0, and every
    // higher dimension multiplies whole rows), so rows [begin, end) are a contiguous byte run.
    const int64_t blocks_per_row = cols / q->block;
    const uint64_t rb = static_cast<uint64_t>(blocks_per_row * q->block_bytes);
    const uint64_t off = t.offset + static_cast<uint64_t>(begin) * rb;
    const uint64_t len = static_cast<uint64_t>(end - begin) * rb;
    auto bytes = file_->range(off, len, fmt::format("tensor '{}'", t.name));
    if constexpr (std::is_same_v<T, float>) {
      q->decode(bytes.data(), (end - begin) * blocks_per_row, out.data());
    } else {
      // Doubles hold the same float values: decode a row to float, then widen.
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = 0; r < end - begin; ++r) {
        q->decode(bytes.data() + static_cast<uint64_t>(r) * rb, blocks_per_row, row.data());
        std::copy(row.begin(), row.end(), out.begin() + r * cols);
      }
    }
    file_->release(off, len);
    return;
  }
  const Encoding e = find_type(type)->encoding;
  const uint64_t rb = detail::row_bytes(e, cols);
  const uint64_t off = t.offset + static_cast<uint64_t>(begin) * rb;
  const uint64_t len = static_cast<uint64_t>(end - begin) * rb;
  auto bytes = file_->range(off, len, fmt::format("tensor '{}'", t.name));
  detail::decode(e, bytes.data(), (end - begin) * cols, out.data());
  file_->release(off, len);
}

void GgufSource::read_rows(std::string_view name, int64_t begin, int64_t end,
                           std::span<float> out) const {
  read_rows_impl(name, begin, end, out);
}
void GgufSource::read_rows(std::string_view name, int64_t begin, int64_t end,
                           std::span<double> out) const {
  read_rows_impl(name, begin, end, out);
}

}  // namespace gmha
