#include "gmha/checkpoint/llama2c.hpp"

#include <fmt/format.h>

#include "decode_rows.hpp"  // internal, beside this file
#include "gmha/checkpoint/mapped_file.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

namespace {

constexpr uint32_t kMagic = 0x616b3432;  // "ak42" read as a little-endian uint32
constexpr uint64_t kVersionedHeaderBytes = 256;

// Stored bytes of one tensor; Q8 tensors (version 2) hold int8 values then one float scale per
// group.
uint64_t tensor_bytes(const std::vector<int64_t>& shape, bool q8, int64_t group,
                      const std::string& name, const std::string& where) {
  int64_t n = 1;
  for (int64_t s : shape) n = checked_mul(n, s, "tensor element count");
  if (!q8) return checked_mul_u64(static_cast<uint64_t>(n), 4, "tensor bytes");
  if (n % group != 0)
    throw InputError(
        fmt::format("{}: tensor '{}' has {} elements, not a multiple of the group "
                    "size {}",
                    where, name, n, group));
  return checked_add_u64(static_cast<uint64_t>(n),
                         checked_mul_u64(static_cast<uint64_t>(n / group), 4, "tensor bytes"),
                         "tensor bytes");
}

// Appends one tensor at `pos`, advancing it.
void add(std::vector<TensorInfo>* out, uint64_t* pos, const std::string& name,
         std::vector<int64_t> shape, bool q8, int64_t group, const std::string& where) {
  TensorInfo t;
  t.name = t.stored_name = name;
  t.bytes = tensor_bytes(shape, q8, group, name, where);
  t.shape = std::move(shape);
  t.file = where;
  t.offset = *pos;
  t.convertible = true;
  t.dtype = q8 ? "Q8_0" : "F32";
  *pos = checked_add_u64(*pos, t.bytes, "file size");
  out->push_back(std::move(t));
}

}  // namespace

Llama2cHeader parse_llama2c(std::span<const std::byte> file, const std::string& where,
                            std::vector<TensorInfo>* tensors) {
  Llama2cHeader h;
  const uint64_t size = file.size();
  uint64_t pos = 0;
  if (size >= 4 && detail::load<uint32_t>(file.data()) == kMagic) {
    if (size < kVersionedHeaderBytes)
      throw InputError(fmt::format("{}: file is {} bytes, shorter than the 256-byte 'ak42' header",
                                   where, size));
    h.version = detail::load<int32_t>(file.data() + 4);
    if (h.version != 1 && h.version != 2)
      throw InputError(fmt::format("{}: llama2.c export version {} is not supported (1 or 2)",
                                   where, h.version));
    pos = 8;
  } else if (size < 28) {
    throw InputError(
        fmt::format("{}: file is {} bytes, shorter than the 28-byte llama2.c header", where, size));
  }
  int32_t v[7];
  for (int i = 0; i < 7; ++i) v[i] = detail::load<int32_t>(file.data() + pos + 4 * i);
  pos += 28;
  h.dim = v[0];
  h.hidden_dim = v[1];
  h.n_layers = v[2];
  h.n_heads = v[3];
  h.n_kv_heads = v[4];
  h.vocab_size = v[5] < 0 ? -static_cast<int64_t>(v[5]) : v[5];
  h.seq_len = v[6];
  if (h.version == 0) {
    h.shared_classifier = v[5] > 0;
  } else {
    const uint8_t flag = static_cast<uint8_t>(file[pos]);
    if (flag > 1)
      throw InputError(fmt::format("{}: shared_classifier flag {} is not 0 or 1", where, flag));
    h.shared_classifier = flag == 1;
    if (h.version == 2) h.group_size = detail::load<int32_t>(file.data() + pos + 1);
    pos = kVersionedHeaderBytes;
  }
  const char* names[] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                         "n_kv_heads", "vocab_size", "seq_len"};
  const int64_t vals[] = {h.dim,        h.hidden_dim, h.n_layers, h.n_heads,
                          h.n_kv_heads, h.vocab_size, h.seq_len};
  for (int i = 0; i < 7; ++i)
    if (vals[i] <= 0) throw errors::not_positive(where, names[i], vals[i]);
  if (h.dim % h.n_heads != 0)
    throw InputError(
        fmt::format("{}: dim {} is not a multiple of n_heads {}", where, h.dim, h.n_heads));
  if (h.n_heads % h.n_kv_heads != 0)
    throw InputError(fmt::format("{}: n_heads {} is not a multiple of n_kv_heads {}", where,
                                 h.n_heads, h.n_kv_heads));
  if (h.version == 2 && h.group_size <= 0)
    throw errors::not_positive(where, "group_size", h.group_size);
  const int64_t d = h.dim, hd = h.head_dim(), L = h.n_layers, f = h.hidden_dim;
  const int64_t q = h.n_heads * hd, kv = h.n_kv_heads * hd;
  const bool q8 = h.version == 2;
  const int64_t g = h.group_size;
  std::vector<TensorInfo> list;
  // Two passes: the first only sums sizes (n_layers x one layer's bytes), so a header claiming
  // two billion layers is refused by the size check before any tensor is listed (a fuzzer found
  // the one-pass version spending seconds listing 66,048 layers of a 40-byte file).
  bool dry = true;
  auto add_one = [&](const std::string& n, std::vector<int64_t> shape, bool quant) {
    if (dry) {
      pos = checked_add_u64(pos, tensor_bytes(shape, quant, g, n, where), "file size");
    } else {
      add(&list, &pos, n, std::move(shape), quant, g, where);
    }
  };
  auto per_layer = [&](const char* n, std::vector<int64_t> shape, bool quant) {
    if (dry) {
      const uint64_t b = tensor_bytes(shape, quant, g, fmt::format("layers.0.{}", n), where);
      pos = checked_add_u64(pos, checked_mul_u64(b, static_cast<uint64_t>(L), "file size"),
                            "file size");
      return;
    }
    for (int64_t l = 0; l < L; ++l)
      add(&list, &pos, fmt::format("layers.{}.{}", l, n), shape, quant, g, where);
  };
  if (h.version == 0 && hd % 2 != 0)
    throw InputError(fmt::format("{}: head size {} is odd (rotary needs pairs)", where, hd));
  const uint64_t start = pos;
  for (int pass = 0; pass < 2; ++pass) {
    dry = pass == 0;
    pos = start;
    if (h.version == 0) {
      add_one("token_embedding", {h.vocab_size, d}, false);
      per_layer("rms_att", {d}, false);
      per_layer("wq", {q, d}, false);
      per_layer("wk", {kv, d}, false);
      per_layer("wv", {kv, d}, false);
      per_layer("wo", {d, q}, false);
      per_layer("rms_ffn", {d}, false);
      per_layer("w1", {f, d}, false);
      per_layer("w2", {d, f}, false);
      per_layer("w3", {f, d}, false);
      add_one("rms_final", {d}, false);
      add_one("freq_cis_real", {h.seq_len, hd / 2}, false);
      add_one("freq_cis_imag", {h.seq_len, hd / 2}, false);
    } else {
      per_layer("rms_att", {d}, false);
      per_layer("rms_ffn", {d}, false);
      add_one("rms_final", {d}, false);
      add_one("token_embedding", {h.vocab_size, d}, q8);
      per_layer("wq", {q, d}, q8);
      per_layer("wk", {kv, d}, q8);
      per_layer("wv", {kv, d}, q8);
      per_layer("wo", {d, q}, q8);
      per_layer("w1", {f, d}, q8);
      per_layer("w2", {d, f}, q8);
      per_layer("w3", {f, d}, q8);
    }
    if (!h.shared_classifier) add_one("wcls", {h.vocab_size, d}, q8);
    if (dry && pos != size)
      throw InputError(fmt::format(
          "{}: file is {} bytes but its header (dim {}, hidden_dim {}, n_layers {}, n_heads {}, "
          "n_kv_heads {}, vocab_size {}, seq_len {}) implies {}",
          where, size, h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, v[5], h.seq_len,
          pos));
  }
  if (tensors) *tensors = std::move(list);
  return h;
}

std::shared_ptr<Llama2cSource> Llama2cSource::open(const std::string& path) {
  std::shared_ptr<Llama2cSource> s(new Llama2cSource());
  s->where_ = path;
  s->file_ = MappedFile::open(path);
  s->header_ = parse_llama2c(s->file_->bytes(), path, &s->tensors_);
  s->index_tensors();
  return s;
}

template <typename T>
void Llama2cSource::read_rows_impl(std::string_view name, int64_t begin, int64_t end,
                                   std::span<T> out) const {
  const TensorInfo& t = info(name);
  detail::check_read(t, begin, end, out.size(), where_);
  const int64_t cols = t.cols();
  const int64_t first = begin * cols, count = (end - begin) * cols;
  const std::string what = fmt::format("tensor '{}'", t.name);
  if (t.dtype == "F32") {
    auto b = file_->range(t.offset + 4 * static_cast<uint64_t>(first), 4 * count, what);
    detail::decode(detail::Encoding::kF32, b.data(), count, out.data());
    file_->release(t.offset + 4 * first, 4 * count);
    return;
  }
  // Version 2 Q8_0: int8 values of the whole tensor, then one float scale per group of
  // group_size consecutive elements (llama2.c export.py quantize_q80): value = q * scale.
  const int64_t gs = header_.group_size;
  const uint64_t scales = t.offset + static_cast<uint64_t>(t.elements());
  auto qv = file_->range(t.offset + first, count, what);
  const int64_t g0 = first / gs, g1 = (first + count + gs - 1) / gs;
  auto sv = file_->range(scales + 4 * g0, 4 * (g1 - g0), what);
  for (int64_t i = 0; i < count; ++i) {
    const float s = detail::load<float>(sv.data() + 4 * ((first + i) / gs - g0));
    out[i] = static_cast<T>(static_cast<int8_t>(qv[i])) * static_cast<T>(s);
  }
}

void Llama2cSource::read_rows(std::string_view name, int64_t begin, int64_t end,
                              std::span<float> out) const {
  read_rows_impl(name, begin, end, out);
}
void Llama2cSource::read_rows(std::string_view name, int64_t begin, int64_t end,
                              std::span<double> out) const {
  read_rows_impl(name, begin, end, out);
}

}  // namespace gmha
