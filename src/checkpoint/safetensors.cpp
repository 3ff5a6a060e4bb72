#include "gmha/checkpoint/safetensors.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "decode_rows.hpp"  // internal, beside this file
#include "safetensors_quant.hpp"
#include "gmha/checkpoint/mapped_file.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/json_text.hpp"

namespace gmha {
namespace fs = std::filesystem;
using detail::Encoding;

namespace {

// The reference implementation refuses headers above 100 MB; so do we (a bigger length is
// corruption, and parsing it would cost that much memory).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Sizes in bits (safetensors' Dtype::bitsize): F4 and F6 pack below a byte, and a tensor of them
// must fill whole bytes (the reference refuses the rest as MisalignedSlice).
struct DtypeInfo {
  std::string_view name;
  int bits;
  Encoding encoding;  // kNone: listed, not converted
};
constexpr DtypeInfo kDtypes[] = {
    {"F64", 64, Encoding::kF64},       {"F32", 32, Encoding::kF32},
    {"F16", 16, Encoding::kF16},       {"BF16", 16, Encoding::kBF16},
    {"F8_E4M3", 8, Encoding::kF8E4M3}, {"F8_E5M2", 8, Encoding::kF8E5M2},
    {"F8_E8M0", 8, Encoding::kE8M0},   {"F4", 4, Encoding::kF4E2M1},
    {"F6_E2M3", 6, Encoding::kF6E2M3}, {"F6_E3M2", 6, Encoding::kF6E3M2},
    {"I8", 8, Encoding::kNone},        {"U8", 8, Encoding::kNone},
    {"I16", 16, Encoding::kNone},      {"U16", 16, Encoding::kNone},
    {"I32", 32, Encoding::kNone},      {"U32", 32, Encoding::kNone},
    {"I64", 64, Encoding::kNone},      {"U64", 64, Encoding::kNone},
    {"BOOL", 8, Encoding::kNone},
};

const DtypeInfo* find_dtype(std::string_view name) {
  for (const auto& d : kDtypes)
    if (d.name == name) return &d;
  return nullptr;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// Reads a non-negative integer that fits int64 from a JSON value, or throws naming the field.
int64_t json_count(const nlohmann::json& v, const std::string& where, const std::string& what) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      throw InputError(fmt::format("{}: {} overflows 64 bits", where, what));
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  if (v.is_number_integer()) {
    if (v.get<int64_t>() < 0)
      throw InputError(fmt::format("{}: {} is negative ({})", where, what, v.get<int64_t>()));
    return v.get<int64_t>();
  }
  throw InputError(fmt::format("{}: {} is not an integer", where, what));
}

}  // namespace

int safetensors_dtype_size(std::string_view dtype) {
  const DtypeInfo* d = find_dtype(dtype);
  return d && d->bits % 8 == 0 ? d->bits / 8 : 0;
}

int safetensors_dtype_bits(std::string_view dtype) {
  const DtypeInfo* d = find_dtype(dtype);
  return d ? d->bits : 0;
}

SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file,
                                           const std::string& where) {
  const uint64_t size = file.size();
  if (size < 8)
    throw InputError(fmt::format("{}: file is {} bytes, too short for the 8-byte header length",
                                 where, size));
  const uint64_t n = detail::load<uint64_t>(file.data());
  if (n > size - 8)
    throw InputError(fmt::format("{}: header length {} exceeds the file (size {})", where, n, size));
  if (n > kMaxHeaderBytes)
    throw InputError(fmt::format("{}: header length {} exceeds the 100 MB limit", where, n));
  if (n < 2) throw InputError(fmt::format("{}: header length {} is too short for JSON", where, n));
  const char* text = reinterpret_cast<const char*>(file.data() + 8);
  const nlohmann::json header = parse_json_text(std::string_view(text, n), where, "header");
  if (!header.is_object()) throw InputError(fmt::format("{}: header is not a JSON object", where));

  SafetensorsHeader h;
  h.data_begin = 8 + n;
  const uint64_t data_size = size - h.data_begin;
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // relative [begin, end) per tensor
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object())
        throw InputError(fmt::format("{}: __metadata__ is not an object", where));
      for (auto m = v.begin(); m != v.end(); ++m)
        if (!m.value().is_string())
          throw InputError(
              fmt::format("{}: __metadata__ value '{}' is not a string", where, m.key()));
      h.metadata = v;
      continue;
    }
    const std::string at = fmt::format("{}: tensor '{}'", where, key);
    if (!v.is_object()) throw InputError(fmt::format("{} is not an object", at));
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!v.contains(field)) throw InputError(fmt::format("{}: missing field '{}'", at, field));
    if (!v["dtype"].is_string()) throw InputError(fmt::format("{}: dtype is not a string", at));
    const std::string dtype = v["dtype"].get<std::string>();
    const DtypeInfo* d = find_dtype(dtype);
    if (!d) throw InputError(fmt::format("{}: unknown dtype '{}'", at, dtype));
    if (!v["shape"].is_array()) throw InputError(fmt::format("{}: shape is not an array", at));
    TensorInfo t;
    t.name = t.stored_name = key;
    t.dtype = dtype;
    t.convertible = d->encoding != Encoding::kNone;
    t.file = where;
    for (size_t i = 0; i < v["shape"].size(); ++i)
      t.shape.push_back(json_count(v["shape"][i], at, fmt::format("shape[{}]", i)));
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2)
      throw InputError(fmt::format("{}: data_offsets is not an array of 2 integers", at));
    const uint64_t b = static_cast<uint64_t>(json_count(off[0], at, "data_offsets[0]"));
    const uint64_t e = static_cast<uint64_t>(json_count(off[1], at, "data_offsets[1]"));
    if (e < b) throw InputError(fmt::format("{}: data_offsets [{}, {}] end before begin", at, b, e));
    uint64_t bits = static_cast<uint64_t>(d->bits);
    for (int64_t s : t.shape) {
      if (__builtin_mul_overflow(bits, static_cast<uint64_t>(s), &bits))
        throw InputError(fmt::format("{}: byte size of shape {} overflows 64 bits", at,
                                     shape_text(t.shape)));
    }
    if (bits % 8 != 0)
      throw InputError(fmt::format("{}: shape {} of {} ({}-bit elements) does not fill whole bytes",
                                   at, shape_text(t.shape), dtype, d->bits));
    const uint64_t bytes = bits / 8;
    if (e - b != bytes)
      throw InputError(fmt::format("{}: data_offsets [{}, {}] span {} bytes, shape {} x {} needs {}",
                                   at, b, e, e - b, shape_text(t.shape), dtype, bytes));
    if (e > data_size)
      throw InputError(fmt::format("{}: data_offsets [{}, {}] exceed the data ({} bytes)", at, b, e,
                                   data_size));
    t.bytes = bytes;
    t.offset = h.data_begin + b;
    h.tensors.push_back(std::move(t));
    spans.emplace_back(b, e);
  }
  // Data order; ties (empty tensors) by name so the order is deterministic.
  std::vector<size_t> order(h.tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (spans[a].first != spans[b].first) return spans[a].first < spans[b].first;
    return h.tensors[a].name < h.tensors[b].name;
  });
  std::vector<TensorInfo> sorted;
  sorted.reserve(order.size());
  size_t reach = SIZE_MAX;  // the tensor whose span ends last so far
  for (size_t k = 0; k < order.size(); ++k) {
    const auto& cur = spans[order[k]];
    if (reach != SIZE_MAX && cur.second > cur.first && cur.first < spans[reach].second)
      throw InputError(fmt::format("{}: tensor '{}' (bytes {}..{}) overlaps tensor '{}' ({}..{})",
                                   where, h.tensors[order[k]].name, cur.first, cur.second,
                                   h.tensors[reach].name, spans[reach].first, spans[reach].second));
    if (cur.second > cur.first && (reach == SIZE_MAX || cur.second > spans[reach].second))
      reach = order[k];
  }
  for (size_t k = 0; k < order.size(); ++k) sorted.push_back(std::move(h.tensors[order[k]]));
  h.tensors = std::move(sorted);
  return h;
}

// ---------------------------------------------------------------------------------------------

struct SafetensorsSource::Impl {
  struct Entry {
    size_t file = 0;
    Encoding encoding = Encoding::kNone;
    int64_t scale = -1;  // index of the block-scale tensor, -1 when none
    int64_t block_rows = 0, block_cols = 0;
    int64_t quant = -1;  // index into quants for a tensor assembled from several stored ones
  };
  std::vector<std::shared_ptr<const MappedFile>> files;
  std::vector<Entry> entries;  // parallel to tensors_
  // Quantized schemes: the stored tensors they read (all of the files' tensors, with their file
  // index) and one scheme per logical tensor.
  std::vector<TensorInfo> stored;
  std::vector<size_t> stored_file;
  std::vector<detail::QuantScheme> quants;
};

namespace {

nlohmann::json read_json_file(const std::string& path) {
  return parse_json_text(read_text_file(path), path);
}

// Block size of FP8 weights: quantization_config.weight_block_size [rows, cols], else {0, 0}
// (then inferred from each scale's shape).
std::pair<int64_t, int64_t> fp8_block(const nlohmann::json& config, const std::string& where) {
  const nlohmann::json* q = nullptr;
  if (config.is_object() && config.contains("quantization_config"))
    q = &config["quantization_config"];
  else if (config.is_object() && config.contains("text_config") &&
           config["text_config"].is_object() &&
           config["text_config"].contains("quantization_config"))
    q = &config["text_config"]["quantization_config"];
  if (!q || !q->is_object() || !q->contains("weight_block_size")) return {0, 0};
  const auto& b = (*q)["weight_block_size"];
  if (!b.is_array() || b.size() != 2)
    throw InputError(fmt::format(
        "{}: quantization_config.weight_block_size is not an array of 2 integers", where));
  const std::string field = "quantization_config.weight_block_size";
  int64_t r = json_count(b[0], where, field), c = json_count(b[1], where, field);
  if (r == 0 || c == 0) throw errors::not_positive(where, field, 0);
  return {r, c};
}

}  // namespace

namespace {

// Replaces the stored tensors of every quantized scheme (codes, scales, zeros, ...) by one
// logical tensor at the position of its codes, so layout detection sees X.weight [out, in] and
// never the auxiliary tensors. The full stored list stays in impl for decoding.
void assemble_quants(std::vector<TensorInfo>& tensors, SafetensorsSource::Impl& impl,
                     const nlohmann::json& config, const std::string& path) {
  std::vector<detail::QuantScheme> found = detail::find_quant_schemes(tensors, config, path);
  if (found.empty()) return;
  impl.stored = tensors;
  for (const auto& e : impl.entries) impl.stored_file.push_back(e.file);
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < tensors.size(); ++i) by_name[tensors[i].name] = i;
  std::map<size_t, size_t> at_codes;  // stored index of the codes -> scheme
  std::set<size_t> hidden;
  for (size_t k = 0; k < found.size(); ++k) {
    detail::QuantScheme& q = found[k];
    if (q.kind == detail::QuantKind::kPacked) {
      // compressed-tensors keeps the unpacked [out, in] in weight_shape.
      const TensorInfo& ws = tensors[q.global.index];
      const std::string at = fmt::format("{}: tensor '{}'", path, ws.name);
      if (ws.elements() != 2) throw InputError(fmt::format("{}: weight_shape has {} values, not 2", at, ws.elements()));
      const auto& mf = *impl.files[impl.entries[q.global.index].file];
      auto b = mf.range(ws.offset, ws.bytes, "tensor '" + ws.name + "'");
      int64_t dims[2];
      for (int d = 0; d < 2; ++d)
        dims[d] = ws.dtype == "I64" ? detail::load<int64_t>(b.data() + 8 * d)
                                    : detail::load<int32_t>(b.data() + 4 * d);
      const TensorInfo& codes = tensors[q.codes.index];
      const TensorInfo& sc = tensors[q.scales.index];
      const int64_t per = 32 / q.bits;
      if (dims[0] <= 0 || dims[1] <= 0 || codes.shape[0] != dims[0] ||
          codes.shape[1] != (dims[1] + per - 1) / per)
        throw InputError(fmt::format("{}: weight_shape [{}, {}] does not match '{}' {} ({} values per int32)",
                                     at, dims[0], dims[1], codes.name, shape_text(codes.shape), per));
      if (sc.shape.size() != 2 || sc.shape[0] != dims[0] || sc.shape[1] <= 0 || dims[1] % sc.shape[1] != 0)
        throw InputError(fmt::format("{}: tensor '{}': scale shape {} does not divide weight [{}, {}] into groups",
                                     path, sc.name, shape_text(sc.shape), dims[0], dims[1]));
      q.info.shape = {dims[0], dims[1]};
      q.group = dims[1] / sc.shape[1];
    }
    for (const auto& name : q.info.parts) hidden.insert(by_name.at(name));
    at_codes[q.codes.index] = k;
  }
  std::vector<TensorInfo> list;
  std::vector<SafetensorsSource::Impl::Entry> entries;
  std::set<std::string> names;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (auto it = at_codes.find(i); it != at_codes.end()) {
      const detail::QuantScheme& q = found[it->second];
      if (!names.insert(q.info.name).second || (by_name.count(q.info.name) && !hidden.count(by_name[q.info.name])))
        throw InputError(fmt::format("{}: tensor '{}' is both stored and assembled from '{}'", path,
                                     q.info.name, tensors[i].name));
      list.push_back(q.info);
      SafetensorsSource::Impl::Entry e;
      e.file = impl.entries[i].file;
      e.quant = static_cast<int64_t>(it->second);
      entries.push_back(e);
    } else if (!hidden.count(i)) {
      if (!names.insert(tensors[i].name).second)
        throw InputError(fmt::format("{}: tensor '{}' is both stored and assembled", path, tensors[i].name));
      list.push_back(tensors[i]);
      entries.push_back(impl.entries[i]);
    }
  }
  tensors = std::move(list);
  impl.entries = std::move(entries);
  impl.quants = std::move(found);
}

}  // namespace

std::shared_ptr<SafetensorsSource> SafetensorsSource::open(const std::string& path) {
  std::shared_ptr<SafetensorsSource> s(new SafetensorsSource());
  s->where_ = path;
  s->impl_ = std::make_shared<Impl>();
  Impl& impl = *s->impl_;

  fs::path p(path);
  std::error_code ec;
  fs::path folder;
  fs::path index;
  std::vector<std::string> shard_names;  // relative to folder, index order
  std::map<std::string, std::string> weight_map;
  if (fs::is_directory(p, ec)) {
    folder = p;
    if (fs::exists(p / "model.safetensors.index.json")) {
      index = p / "model.safetensors.index.json";
    } else {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(p, ec))
        if (e.path().extension() == ".safetensors") found.push_back(e.path().filename().string());
      std::sort(found.begin(), found.end());
      if (found.empty())
        throw InputError(fmt::format("{}: no *.safetensors file and no model.safetensors.index.json",
                                     path));
      if (found.size() > 1)
        throw InputError(fmt::format(
            "{}: {} *.safetensors files but no model.safetensors.index.json to join them", path,
            found.size()));
      shard_names.push_back(found[0]);
    }
  } else if (path.ends_with(".index.json")) {
    index = p;
    folder = p.parent_path();
  } else {
    folder = p.parent_path();
    shard_names.push_back(p.filename().string());
  }
  if (folder.empty()) folder = ".";
  if (fs::exists(folder / "config.json", ec))
    s->config_ = read_json_file((folder / "config.json").string());

  if (!index.empty()) {
    const std::string iw = index.string();
    nlohmann::json j = read_json_file(iw);
    if (!j.is_object() || !j.contains("weight_map"))
      throw errors::missing_field(iw, "weight_map");
    if (!j["weight_map"].is_object())
      throw InputError(fmt::format("{}: weight_map is not an object", iw));
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        throw InputError(fmt::format("{}: weight_map['{}'] is not a string", iw, it.key()));
      const std::string f = it.value().get<std::string>();
      // A shard must be a file inside the folder: no absolute paths, no "..".
      fs::path fp(f);
      if (f.empty() || fp.is_absolute() ||
          std::any_of(fp.begin(), fp.end(), [](const fs::path& c) { return c == ".."; }))
        throw InputError(fmt::format("{}: weight_map['{}'] names '{}', not a file in the folder",
                                     iw, it.key(), f));
      weight_map[it.key()] = f;
      if (std::find(shard_names.begin(), shard_names.end(), f) == shard_names.end())
        shard_names.push_back(f);
    }
    if (shard_names.empty()) throw InputError(fmt::format("{}: weight_map is empty", iw));
  }

  std::map<std::string, std::string> owner;  // tensor -> shard, to catch duplicates
  for (size_t fi = 0; fi < shard_names.size(); ++fi) {
    const fs::path sp = folder / shard_names[fi];
    if (!index.empty() && !fs::exists(sp, ec))
      throw InputError(fmt::format("{}: shard '{}' listed in the index is missing",
                                   index.string(), shard_names[fi]));
    auto mf = MappedFile::open(sp.string());
    SafetensorsHeader h = parse_safetensors_header(mf->bytes(), mf->path());
    for (auto& t : h.tensors) {
      auto [it, fresh] = owner.emplace(t.name, shard_names[fi]);
      if (!fresh)
        throw InputError(fmt::format("{}: tensor '{}' is in both '{}' and '{}'", path, t.name,
                                     it->second, shard_names[fi]));
      if (!index.empty()) {
        auto w = weight_map.find(t.name);
        if (w != weight_map.end() && w->second != shard_names[fi])
          throw InputError(fmt::format("{}: index maps '{}' to '{}' but it is in '{}'",
                                       index.string(), t.name, w->second, shard_names[fi]));
      }
      Impl::Entry e;
      e.file = fi;
      e.encoding = find_dtype(t.dtype)->encoding;
      impl.entries.push_back(e);
      s->tensors_.push_back(std::move(t));
    }
    impl.files.push_back(std::move(mf));
  }
  for (const auto& [name, f] : weight_map)
    if (!owner.count(name))
      throw InputError(fmt::format("{}: index maps '{}' to '{}', which does not contain it",
                                   index.string(), name, f));
  assemble_quants(s->tensors_, impl, s->config_, path);
  s->index_tensors();

  // FP8 block scales: X.weight (F8) + X.weight_scale_inv [ceil(R/br), ceil(C/bc)], or
  // compressed-tensors' X.weight_scale of the same shape (also a multiplier). The block is the
  // config's weight_block_size, else the one the scale grid implies (br = ceil(R / grid rows)).
  const std::pair<int64_t, int64_t> config_block = fp8_block(s->config_, path + "/config.json");
  for (size_t i = 0; i < s->tensors_.size(); ++i) {
    TensorInfo& t = s->tensors_[i];
    if (t.dtype != "F8_E4M3" && t.dtype != "F8_E5M2") continue;
    const TensorInfo* sc = s->find(t.name + "_scale_inv");
    if (!sc) {
      sc = s->find(t.name + "_scale");
      if (!sc || sc->shape.size() != 2) continue;
    }
    const std::string at = fmt::format("{}: tensor '{}'", path, sc->name);
    if (t.shape.size() != 2)
      throw InputError(fmt::format("{}: block scales need a 2-D weight, '{}' has shape {}", at,
                                   t.name, shape_text(t.shape)));
    if (sc->dtype != "F32" && sc->dtype != "BF16" && sc->dtype != "F16" && sc->dtype != "F64" &&
        sc->dtype != "F8_E8M0")
      throw InputError(fmt::format("{}: scale dtype {} is not a float or E8M0 type", at, sc->dtype));
    std::pair<int64_t, int64_t> block = config_block;
    if (block.first == 0) {
      // Per dimension: DeepSeek's 128 when the grid fits it, else the block the grid implies.
      auto infer = [](int64_t n, int64_t grid) {
        if ((n + 127) / 128 == grid || grid <= 0) return int64_t{128};
        return std::max<int64_t>(1, (n + grid - 1) / grid);
      };
      block = {infer(t.shape[0], sc->shape[0]), infer(t.shape[1], sc->shape[1])};
    }
    const std::vector<int64_t> want = {(t.shape[0] + block.first - 1) / block.first,
                                       (t.shape[1] + block.second - 1) / block.second};
    if (sc->shape != want)
      throw InputError(fmt::format("{}: shape {} does not match {}x{} blocks of '{}' {} (expected {})",
                                   at, shape_text(sc->shape), block.first, block.second, t.name,
                                   shape_text(t.shape), shape_text(want)));
    impl.entries[i].scale = sc - s->tensors_.data();
    impl.entries[i].block_rows = block.first;
    impl.entries[i].block_cols = block.second;
    t.scale = sc->name;
  }
  return s;
}

std::vector<std::string> SafetensorsSource::files() const {
  std::vector<std::string> out;
  for (const auto& f : impl_->files) out.push_back(f->path());
  return out;
}

template <typename T>
void SafetensorsSource::read_rows_impl(std::string_view name, int64_t begin, int64_t end,
                                       std::span<T> out) const {
  const TensorInfo& t = info(name);
  detail::check_read(t, begin, end, out.size(), where_);
  const size_t idx = &t - tensors_.data();
  const Impl::Entry& e = impl_->entries[idx];
  if (e.quant >= 0) {
    const auto& q = impl_->quants[static_cast<size_t>(e.quant)];
    if constexpr (std::is_same_v<T, float>) {
      detail::decode_quant_rows(q, impl_->stored, impl_->files, impl_->stored_file, begin, end,
                                out.data());
    } else {
      std::vector<float> buf(out.size());  // the same floats, widened
      detail::decode_quant_rows(q, impl_->stored, impl_->files, impl_->stored_file, begin, end,
                                buf.data());
      std::copy(buf.begin(), buf.end(), out.begin());
    }
    return;
  }
  const MappedFile& f = *impl_->files[e.file];
  const int64_t cols = t.cols();
  if (const int w = detail::packed_bits(e.encoding)) {
    // Sub-byte elements: a row need not start on a byte, so map the bytes that hold bits
    // [begin·cols·w, end·cols·w) of the tensor and decode from the first one's bit offset.
    const uint64_t b0 = static_cast<uint64_t>(begin * cols) * w, b1 = static_cast<uint64_t>(end * cols) * w;
    const uint64_t off = t.offset + b0 / 8, len = (b1 + 7) / 8 - b0 / 8;
    auto bytes = f.range(off, len, fmt::format("tensor '{}'", t.name));
    detail::decode_packed(e.encoding, bytes.data(), len, static_cast<int>(b0 % 8), (end - begin) * cols,
                          out.data());
    f.release(off, len);
    return;  // F4/F6 tensors carry no block scale of their own (see the FP8 scales above)
  }
  const uint64_t rb = detail::row_bytes(e.encoding, cols);
  const uint64_t off = t.offset + static_cast<uint64_t>(begin) * rb;
  const uint64_t len = static_cast<uint64_t>(end - begin) * rb;
  auto bytes = f.range(off, len, fmt::format("tensor '{}'", t.name));
  detail::decode(e.encoding, bytes.data(), (end - begin) * cols, out.data());
  f.release(off, len);
  if (e.scale < 0) return;
  // Dequantise: every element times the scale of its (row / br, col / bc) block.
  const TensorInfo& sc = tensors_[static_cast<size_t>(e.scale)];
  std::vector<T> srow(static_cast<size_t>(sc.cols()));
  int64_t loaded = -1;
  for (int64_t r = begin; r < end; ++r) {
    const int64_t br = r / e.block_rows;
    if (br != loaded) {
      read_rows(sc.name, br, br + 1, std::span<T>(srow));
      loaded = br;
    }
    T* row = out.data() + (r - begin) * cols;
    // Block by block (no division per element, and an inner loop the compiler vectorises).
    for (int64_t c0 = 0, k = 0; c0 < cols; c0 += e.block_cols, ++k) {
      const T scale = srow[static_cast<size_t>(k)];
      for (int64_t c = c0; c < std::min(cols, c0 + e.block_cols); ++c) row[c] *= scale;
    }
  }
}

void SafetensorsSource::read_rows(std::string_view name, int64_t begin, int64_t end,
                                  std::span<float> out) const {
  read_rows_impl(name, begin, end, out);
}
void SafetensorsSource::read_rows(std::string_view name, int64_t begin, int64_t end,
                                  std::span<double> out) const {
  read_rows_impl(name, begin, end, out);
}

}  // namespace gmha
