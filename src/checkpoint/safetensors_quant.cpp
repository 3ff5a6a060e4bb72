// Quantized safetensors schemes: detection (names, dtypes, shapes, quantization_config) and
// row dequantisation. Sources read for the layouts (re-derived, not copied): transformers
// integrations/mxfp4.py (gpt-oss: low nibble = even element, scale 2^(e - 127)); NVIDIA ModelOpt
// and compressed-tensors (NVFP4: fp4 * (e4m3 block scale * weight_scale_2), resp. / global scale);
// AutoGPTQ / AutoAWQ packers and compressed-tensors pack_to_int32. docs/formats.md has each one.
#include "safetensors_quant.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "decode_rows.hpp"
#include "gmha/checkpoint/element_decode.hpp"
#include "gmha/core/error.hpp"

namespace gmha::detail {
namespace {

constexpr float kE2M1[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                             -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

std::string shape_text(const std::vector<int64_t>& s) {
  return fmt::format("[{}]", fmt::join(s, ", "));
}

// One element of a stored scale / zero / index tensor, by dtype.
float scale_at(const TensorInfo& t, const std::byte* d, int64_t i) {
  if (t.dtype == "F32") return load<float>(d + 4 * i);
  if (t.dtype == "F16") return f16_to_float(load<uint16_t>(d + 2 * i));
  if (t.dtype == "BF16") return bf16_to_float(load<uint16_t>(d + 2 * i));
  if (t.dtype == "F8_E4M3") return decode_f8_e4m3(static_cast<uint8_t>(d[i]));
  return 0.0f;  // dtypes are checked on detection
}

// 2^(e - 127) for an E8M0 byte (e = 255 is NaN in OCP MX; gpt-oss never stores it).
inline float e8m0(uint8_t e) {
  return e == 255 ? std::numeric_limits<float>::quiet_NaN() : std::ldexp(1.0f, int{e} - 127);
}

class Finder {
 public:
  Finder(const std::vector<TensorInfo>& stored, const std::string& where)
      : stored_(stored), where_(where) {
    for (size_t i = 0; i < stored.size(); ++i) by_name_[stored[i].name] = i;
  }
  const TensorInfo* find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &stored_[it->second];
  }
  QuantPart part(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? QuantPart{} : QuantPart{it->second};
  }
  // The companion `name`, which must exist: else "<where>: tensor '<of>': needs '<name>'".
  QuantPart need(const std::string& of, const std::string& name, const std::string& why) const {
    QuantPart p = part(name);
    if (!p.present())
      throw InputError(
          fmt::format("{}: tensor '{}': {} needs '{}', which is missing", where_, of, why, name));
    return p;
  }
  const TensorInfo& at(QuantPart p) const { return stored_[p.index]; }
  [[noreturn]] void fail(const TensorInfo& t, const std::string& what) const {
    throw InputError(fmt::format("{}: tensor '{}': {}", where_, t.name, what));
  }
  void dtype(QuantPart p, std::initializer_list<const char*> ok, const std::string& role) const {
    const TensorInfo& t = at(p);
    for (const char* d : ok)
      if (t.dtype == d) return;
    fail(t, fmt::format("{} dtype {} is not one of {}", role, t.dtype, fmt::join(ok, ", ")));
  }
  void shape(QuantPart p, const std::vector<int64_t>& want, const std::string& role) const {
    const TensorInfo& t = at(p);
    if (t.shape != want)
      fail(t, fmt::format("{} shape {} does not match the expected {}", role, shape_text(t.shape),
                          shape_text(want)));
  }

 private:
  const std::vector<TensorInfo>& stored_;
  const std::string& where_;
  std::map<std::string, size_t> by_name_;
};

const nlohmann::json* quant_config(const nlohmann::json& c) {
  if (!c.is_object()) return nullptr;
  if (c.contains("quantization_config") && c["quantization_config"].is_object())
    return &c["quantization_config"];
  if (c.contains("text_config") && c["text_config"].is_object() &&
      c["text_config"].contains("quantization_config") &&
      c["text_config"]["quantization_config"].is_object())
    return &c["text_config"]["quantization_config"];
  return nullptr;
}
std::string qstr(const nlohmann::json* q, const char* key) {
  return q && q->contains(key) && (*q)[key].is_string() ? (*q)[key].get<std::string>() : "";
}
// num_bits of compressed-tensors config_groups (all groups must agree), or 0 when absent.
int ct_bits(const nlohmann::json* q, const std::string& where) {
  if (!q || !q->contains("config_groups") || !(*q)["config_groups"].is_object()) return 0;
  int bits = 0;
  for (const auto& [name, g] : (*q)["config_groups"].items()) {
    if (!g.is_object() || !g.contains("weights") || !g["weights"].is_object() ||
        !g["weights"].contains("num_bits"))
      continue;
    if (!g["weights"]["num_bits"].is_number_integer())
      throw InputError(
          fmt::format("{}: quantization_config.config_groups.{}.weights.num_bits is not an integer",
                      where, name));
    const int b = g["weights"]["num_bits"].get<int>();
    if (bits != 0 && b != bits)
      throw InputError(fmt::format("{}: quantization_config.config_groups mix num_bits {} and {}",
                                   where, bits, b));
    bits = b;
  }
  return bits;
}

void add_parts(QuantScheme& q, const Finder& f) {
  for (QuantPart p : {q.codes, q.scales, q.zeros, q.gidx, q.global})
    if (p.present()) {
      q.info.parts.push_back(f.at(p).name);
      q.info.bytes += f.at(p).bytes;
    }
}

QuantScheme logical(QuantKind kind, const std::string& name, const std::string& label,
                    const TensorInfo& main, std::vector<int64_t> shape) {
  QuantScheme q{kind, {}, {}, {}, {}, {}, {}};
  q.info.name = q.info.stored_name = name;
  q.info.dtype = label;
  q.info.convertible = true;
  q.info.shape = std::move(shape);
  q.info.file = main.file;
  q.info.offset = main.offset;
  return q;
}

}  // namespace

std::vector<QuantScheme> find_quant_schemes(const std::vector<TensorInfo>& stored,
                                            const nlohmann::json& config,
                                            const std::string& where) {
  const std::string cw = where + "/config.json";
  const nlohmann::json* qc = quant_config(config);
  const std::string method = qstr(qc, "quant_method");
  Finder f(stored, where);
  std::vector<QuantScheme> out;
  auto ends = [](const std::string& s, const std::string& suf) { return s.ends_with(suf); };
  auto stem = [](const std::string& s, size_t n) { return s.substr(0, s.size() - n); };
  for (size_t i = 0; i < stored.size(); ++i) {
    const TensorInfo& t = stored[i];
    const QuantPart me{i};
    if (ends(t.name, "_blocks") && t.dtype == "U8") {
      // gpt-oss MXFP4: X_blocks [..., G, 16] codes, X_scales [..., G] E8M0 -> X [..., G * 32].
      const std::string base = stem(t.name, 7);
      QuantPart sc = f.need(t.name, base + "_scales", "MXFP4");
      f.dtype(sc, {"U8", "F8_E8M0"}, "MXFP4 scale");
      if (t.shape.size() < 2 || t.shape.back() != 16)
        f.fail(t, fmt::format("MXFP4 blocks shape {} does not end in 16 bytes (32 values)",
                              shape_text(t.shape)));
      std::vector<int64_t> g(t.shape.begin(), t.shape.end() - 1);
      f.shape(sc, g, "MXFP4 scale");
      std::vector<int64_t> shape = g;
      shape.back() *= 32;
      QuantScheme q = logical(QuantKind::kMxfp4, base, "MXFP4", t, shape);
      q.codes = me;
      q.scales = sc;
      q.group = 32;
      add_parts(q, f);
      out.push_back(std::move(q));
    } else if ((ends(t.name, ".weight") && t.dtype == "U8" && f.find(t.name + "_scale_2")) ||
               (ends(t.name, ".weight_packed") && t.dtype == "U8")) {
      // NVFP4: codes U8 [out, in/2] (low nibble = even element), E4M3 scales [out, in/16], and a
      // global F32 scale that ModelOpt multiplies (weight_scale_2) and compressed-tensors divides
      // (weight_global_scale).
      const bool ct = ends(t.name, ".weight_packed");
      const std::string base = ct ? stem(t.name, 7) : t.name;  // X.weight
      QuantScheme q = logical(ct ? QuantKind::kNvfp4Ct : QuantKind::kNvfp4, base, "NVFP4", t, {});
      q.codes = me;
      q.scales = f.need(t.name, base + "_scale", "NVFP4");
      q.global = ct ? f.need(t.name, base + "_global_scale", "NVFP4")
                    : f.need(t.name, base + "_scale_2", "NVFP4");
      f.dtype(q.scales, {"F8_E4M3"}, "NVFP4 block scale");
      f.dtype(q.global, {"F32"}, "NVFP4 global scale");
      if (f.at(q.global).elements() != 1)
        f.fail(f.at(q.global), fmt::format("NVFP4 global scale has shape {}, not one value",
                                           shape_text(f.at(q.global).shape)));
      if (t.shape.size() != 2)
        f.fail(t, fmt::format("NVFP4 codes shape {} is not 2-D", shape_text(t.shape)));
      const int64_t rows = t.shape[0], cols = t.shape[1] * 2;
      if (cols % 16 != 0)
        f.fail(t, fmt::format("NVFP4 row of {} values is not a multiple of 16", cols));
      f.shape(q.scales, {rows, cols / 16}, "NVFP4 block scale");
      q.info.shape = {rows, cols};
      q.group = 16;
      add_parts(q, f);
      if (ct)
        if (QuantPart ws = f.part(base + "_shape"); ws.present()) {
          q.info.parts.push_back(f.at(ws).name);
          q.info.bytes += f.at(ws).bytes;
        }
      out.push_back(std::move(q));
    } else if (ends(t.name, ".weight_packed") && t.dtype == "I32") {
      // compressed-tensors pack-quantized: 32/b values per int32 along the row, low bits first,
      // stored unsigned with offset 2^(b-1); weight_scale [out, groups]; weight_shape [out, in].
      const std::string base = stem(t.name, 7);
      if (f.part(base + "_zero_point").present())
        f.fail(t, "asymmetric pack-quantized weights (weight_zero_point) are not supported");
      QuantScheme q = logical(QuantKind::kPacked, base, "", t, {});
      q.codes = me;
      q.scales = f.need(t.name, base + "_scale", "pack-quantized");
      QuantPart ws = f.need(t.name, base + "_shape", "pack-quantized");
      q.global = ws;  // weight_shape travels in the parts list (read at detection time only)
      f.dtype(q.scales, {"F32", "F16", "BF16"}, "pack-quantized scale");
      f.dtype(ws, {"I64", "I32"}, "pack-quantized weight_shape");
      if (t.shape.size() != 2)
        f.fail(t, fmt::format("packed shape {} is not 2-D", shape_text(t.shape)));
      q.bits = ct_bits(qc, cw);
      if (q.bits == 0) q.bits = 4;
      if (q.bits != 4 && q.bits != 8)
        f.fail(t, fmt::format("pack-quantized num_bits {} is not supported (4 or 8)", q.bits));
      q.info.dtype = q.bits == 4 ? "INT4" : "INT8";
      out.push_back(std::move(q));  // shape completed by the caller, which can read weight_shape
      out.back().info.shape = {t.shape[0], -1};
      add_parts(out.back(), f);
    } else if (ends(t.name, ".qweight") && t.dtype == "I32") {
      // GPTQ / AWQ int4. GPTQ packs 8 rows of the input dimension per int32 (qweight [in/8, out]);
      // AWQ packs 8 output columns (qweight [in, out/8]) in the order 0 2 4 6 1 3 5 7.
      const std::string base = stem(t.name, 8);
      QuantPart qz = f.need(t.name, base + ".qzeros", "GPTQ/AWQ");
      QuantPart sc = f.need(t.name, base + ".scales", "GPTQ/AWQ");
      f.dtype(qz, {"I32"}, "qzeros");
      f.dtype(sc, {"F16", "BF16", "F32"}, "scales");
      if (t.shape.size() != 2 || f.at(sc).shape.size() != 2)
        f.fail(t, "qweight and scales must be 2-D");
      const int64_t groups = f.at(sc).shape[0], out_features = f.at(sc).shape[1];
      bool awq = method == "awq";
      if (method.empty() || (method != "gptq" && method != "awq"))
        awq = t.shape[1] * 8 == out_features && t.shape[1] != out_features;
      const int bits = qc && qc->contains("bits") && (*qc)["bits"].is_number_integer()
                           ? (*qc)["bits"].get<int>()
                           : 4;
      if (bits != 4)
        f.fail(t, fmt::format("{} with {} bits is not supported (4 only)", awq ? "AWQ" : "GPTQ",
                              bits));
      const int64_t in_features = awq ? t.shape[0] : t.shape[0] * 8;
      if (awq) {
        f.shape(me, {in_features, out_features / 8}, "AWQ qweight");
      } else if (t.shape[1] != out_features) {
        f.fail(t,
               fmt::format("GPTQ qweight shape {} does not match scales {} (expected [in/8, {}])",
                           shape_text(t.shape), shape_text(f.at(sc).shape), out_features));
      }
      if (out_features % 8 != 0)
        f.fail(f.at(sc), fmt::format("{} output columns are not a multiple of 8", out_features));
      f.shape(qz, {groups, out_features / 8}, "qzeros");
      QuantScheme q = logical(awq ? QuantKind::kAwq : QuantKind::kGptq, base + ".weight",
                              awq ? "AWQ_INT4" : "GPTQ_INT4", t, {out_features, in_features});
      q.codes = me;
      q.zeros = qz;
      q.scales = sc;
      q.bits = 4;
      if (groups <= 0 || in_features % groups != 0)
        f.fail(f.at(sc),
               fmt::format("{} scale groups do not divide {} input features", groups, in_features));
      q.group = in_features / groups;
      if (!awq) {
        q.gidx = f.part(base + ".g_idx");
        if (q.gidx.present()) {
          f.dtype(q.gidx, {"I32"}, "g_idx");
          f.shape(q.gidx, {in_features}, "g_idx");
        }
        // AutoGPTQ's v1 packer stored zero - 1 (and its kernels add 1 back); checkpoint_format
        // "gptq_v2" stores the zero itself. v1 is the default of every released checkpoint.
        q.zero_plus_one = qstr(qc, "checkpoint_format") != "gptq_v2";
      }
      add_parts(q, f);
      out.push_back(std::move(q));
    }
  }
  return out;
}

void decode_quant_rows(const QuantScheme& q, const std::vector<TensorInfo>& stored,
                       const std::vector<std::shared_ptr<const MappedFile>>& files,
                       const std::vector<size_t>& file_of, int64_t begin, int64_t end, float* out) {
  auto data = [&](QuantPart p) {
    const TensorInfo& t = stored[p.index];
    return files[file_of[p.index]]
        ->range(t.offset, t.bytes, fmt::format("tensor '{}'", t.name))
        .data();
  };
  const int64_t cols = q.info.cols();
  const std::byte* codes = data(q.codes);
  const TensorInfo& sct = stored[q.scales.index];
  const std::byte* sc = data(q.scales);
  switch (q.kind) {
    case QuantKind::kMxfp4: {
      for (int64_t e = begin * cols, k = 0; e < end * cols; e += 32, k += 32) {
        const float s = e8m0(static_cast<uint8_t>(sc[e / 32]));
        const std::byte* b = codes + e / 2;
        for (int j = 0; j < 16; ++j) {
          const uint8_t v = static_cast<uint8_t>(b[j]);
          out[k + 2 * j] = kE2M1[v & 0xF] * s;
          out[k + 2 * j + 1] = kE2M1[v >> 4] * s;
        }
      }
      return;
    }
    case QuantKind::kNvfp4:
    case QuantKind::kNvfp4Ct: {
      const float g = load<float>(data(q.global));
      for (int64_t e = begin * cols, k = 0; e < end * cols; e += 16, k += 16) {
        const float bs = decode_f8_e4m3(static_cast<uint8_t>(sc[e / 16]));
        const float s = q.kind == QuantKind::kNvfp4 ? bs * g : bs / g;
        const std::byte* b = codes + e / 2;
        for (int j = 0; j < 8; ++j) {
          const uint8_t v = static_cast<uint8_t>(b[j]);
          out[k + 2 * j] = kE2M1[v & 0xF] * s;
          out[k + 2 * j + 1] = kE2M1[v >> 4] * s;
        }
      }
      return;
    }
    case QuantKind::kGptq:
    case QuantKind::kAwq: {
      const int64_t in = cols, outf = q.info.rows(), groups = sct.shape[0];
      const std::byte* zs = data(q.zeros);
      const std::byte* gi = q.gidx.present() ? data(q.gidx) : nullptr;
      static constexpr int kAwqPos[8] = {0, 4, 1, 5, 2, 6, 3, 7};  // column k%8 -> nibble
      const bool awq = q.kind == QuantKind::kAwq;
      for (int64_t o = begin; o < end; ++o) {
        float* row = out + (o - begin) * cols;
        const int zshift = 4 * (awq ? kAwqPos[o % 8] : static_cast<int>(o % 8));
        for (int64_t i = 0; i < in; ++i) {
          int64_t g = i / q.group;
          if (gi) {
            g = load<int32_t>(gi + 4 * i);
            if (g < 0 || g >= groups)
              throw InputError(fmt::format("tensor '{}': g_idx[{}] = {} is outside 0..{}",
                                           stored[q.gidx.index].name, i, g, groups));
          }
          const uint32_t w = awq ? load<uint32_t>(codes + 4 * (i * (outf / 8) + o / 8))
                                 : load<uint32_t>(codes + 4 * ((i / 8) * outf + o));
          const int qv = static_cast<int>((w >> (awq ? zshift : 4 * (i % 8))) & 0xF);
          int z =
              static_cast<int>((load<uint32_t>(zs + 4 * (g * (outf / 8) + o / 8)) >> zshift) & 0xF);
          if (q.zero_plus_one) z += 1;
          row[i] = static_cast<float>(qv - z) * scale_at(sct, sc, g * outf + o);
        }
      }
      return;
    }
    case QuantKind::kPacked: {
      const int per = 32 / q.bits;
      const uint32_t mask = (1u << q.bits) - 1;
      const int off = 1 << (q.bits - 1);
      const int64_t words = stored[q.codes.index].shape[1], groups = sct.shape[1];
      const int64_t group = (cols + groups - 1) / groups;
      for (int64_t o = begin; o < end; ++o) {
        float* row = out + (o - begin) * cols;
        const std::byte* w = codes + 4 * o * words;
        for (int64_t i = 0; i < cols; ++i) {
          const uint32_t u = (load<uint32_t>(w + 4 * (i / per)) >> (q.bits * (i % per))) & mask;
          row[i] = static_cast<float>(static_cast<int>(u) - off) *
                   scale_at(sct, sc, o * groups + i / group);
        }
      }
      return;
    }
  }
}

}  // namespace gmha::detail
