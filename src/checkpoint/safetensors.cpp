#include "gmha/checkpoint/safetensors.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "decode_rows.hpp"  // internal, beside this file
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

struct DtypeInfo {
  std::string_view name;
  int size;
  Encoding encoding;  // kNone: listed, not converted
};
constexpr DtypeInfo kDtypes[] = {
    {"F64", 8, Encoding::kF64},       {"F32", 4, Encoding::kF32},
    {"F16", 2, Encoding::kF16},       {"BF16", 2, Encoding::kBF16},
    {"F8_E4M3", 1, Encoding::kF8E4M3}, {"F8_E5M2", 1, Encoding::kF8E5M2},
    {"I8", 1, Encoding::kNone},       {"U8", 1, Encoding::kNone},
    {"I16", 2, Encoding::kNone},      {"U16", 2, Encoding::kNone},
    {"I32", 4, Encoding::kNone},      {"U32", 4, Encoding::kNone},
    {"I64", 8, Encoding::kNone},      {"U64", 8, Encoding::kNone},
    {"BOOL", 1, Encoding::kNone},
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
  return d ? d->size : 0;
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
    uint64_t bytes = static_cast<uint64_t>(d->size);
    for (int64_t s : t.shape) {
      if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(s), &bytes))
        throw InputError(fmt::format("{}: byte size of shape {} overflows 64 bits", at,
                                     shape_text(t.shape)));
    }
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
  };
  std::vector<std::shared_ptr<const MappedFile>> files;
  std::vector<Entry> entries;  // parallel to tensors_
};

namespace {

nlohmann::json read_json_file(const std::string& path) {
  return parse_json_text(read_text_file(path), path);
}

// Block size of FP8 weights: quantization_config.weight_block_size [rows, cols], else 128 x 128.
std::pair<int64_t, int64_t> fp8_block(const nlohmann::json& config, const std::string& where) {
  const nlohmann::json* q = nullptr;
  if (config.is_object() && config.contains("quantization_config"))
    q = &config["quantization_config"];
  else if (config.is_object() && config.contains("text_config") &&
           config["text_config"].is_object() &&
           config["text_config"].contains("quantization_config"))
    q = &config["text_config"]["quantization_config"];
  if (!q || !q->is_object() || !q->contains("weight_block_size")) return {128, 128};
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
  s->index_tensors();

  // FP8 block scales: X.weight (F8) + X.weight_scale_inv [ceil(R/br), ceil(C/bc)].
  std::pair<int64_t, int64_t> block{0, 0};
  for (size_t i = 0; i < s->tensors_.size(); ++i) {
    TensorInfo& t = s->tensors_[i];
    if (t.dtype != "F8_E4M3" && t.dtype != "F8_E5M2") continue;
    const TensorInfo* sc = s->find(t.name + "_scale_inv");
    if (!sc) continue;
    if (block.first == 0) block = fp8_block(s->config_, path + "/config.json");
    const std::string at = fmt::format("{}: tensor '{}'", path, sc->name);
    if (t.shape.size() != 2)
      throw InputError(fmt::format("{}: block scales need a 2-D weight, '{}' has shape {}", at,
                                   t.name, shape_text(t.shape)));
    if (sc->dtype != "F32" && sc->dtype != "BF16" && sc->dtype != "F16" && sc->dtype != "F64")
      throw InputError(fmt::format("{}: scale dtype {} is not a float type", at, sc->dtype));
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
  const MappedFile& f = *impl_->files[e.file];
  const int64_t cols = t.cols();
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
    for (int64_t c = 0; c < cols; ++c) row[c] *= srow[static_cast<size_t>(c / e.block_cols)];
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
