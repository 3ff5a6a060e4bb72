// Quantized storage for synth (synth_quant.hpp): the planted floats of each weight are encoded
// by the checkpoint area's block encoders into the parts each published format stores.
#include "synth_quant.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <regex>

#include <fmt/format.h>

#include "gmha/checkpoint/block_encode.hpp"
#include "gmha/core/error.hpp"

namespace gmha::detail {
namespace {

constexpr uint32_t kF32 = 0, kQ8_0 = 8, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14;
constexpr int64_t kFp8Block = 128;  // DeepSeek-V3's weight_block_size

// One weight's planted floats, encoded once into every stored part when the writer reaches the
// first part, handed out part by part and dropped after the last: the parts are adjacent in the
// writer's order, so memory stays at one tensor.
struct Encoded {
  std::function<void(std::span<float>)> fill;
  int64_t rows = 0, cols = 0;
  std::string dtype;
  std::vector<std::vector<std::byte>> parts;
  bool done = false;

  void make() {
    std::vector<float> x(static_cast<size_t>(rows * cols), 0.0f);
    if (fill) fill(x);
    fill = nullptr;
    auto p0 = [&](size_t n) {
      parts.emplace_back(n);
      return reinterpret_cast<uint8_t*>(parts.back().data());
    };
    const int64_t n = rows * cols;
    if (dtype == "MXFP4") {
      uint8_t* codes = p0(static_cast<size_t>(n / 2));
      uint8_t* scales = p0(static_cast<size_t>(n / 32));
      encode_mxfp4(x.data(), n, codes, scales);
    } else if (dtype == "NVFP4") {
      float am = 0;
      for (float v : x) am = std::max(am, std::fabs(v));
      const float g = nvfp4_global_scale(am);
      uint8_t* codes = p0(static_cast<size_t>(n / 2));
      uint8_t* scales = p0(static_cast<size_t>(n / 16));
      uint8_t* global = p0(4);
      encode_nvfp4(x.data(), n, g, codes, scales);
      std::memcpy(global, &g, 4);
    } else {  // FP8_BLOCK
      const int64_t gr = (rows + kFp8Block - 1) / kFp8Block, gc = (cols + kFp8Block - 1) / kFp8Block;
      uint8_t* codes = p0(static_cast<size_t>(n));
      auto* scale = reinterpret_cast<float*>(p0(static_cast<size_t>(gr * gc) * 4));
      encode_fp8_blocks(x.data(), rows, cols, kFp8Block, kFp8Block, codes, scale);
    }
    done = true;
  }
};

bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

}  // namespace

bool synth_dtype_known(const std::string& d) {
  return d == "F32" || d == "BF16" || synth_dtype_is_gguf(d) || d == "MXFP4" || d == "NVFP4" ||
         d == "FP8_BLOCK";
}

bool synth_dtype_is_gguf(const std::string& d) { return d == "Q8_0" || d == "Q4_K" || d == "Q4_K_M"; }

uint32_t q4_k_m_attn_v_type(int64_t layer, int64_t layers, bool llama_70b) {
  if (use_more_bits(layer, layers)) return kQ6_K;
  return llama_70b ? kQ5_K : kQ4_K;
}

std::map<std::string, std::string> quantize_safetensors(std::vector<TensorToWrite>& tensors,
                                                        nlohmann::ordered_json& config,
                                                        const std::string& dtype) {
  const int64_t block = dtype == "MXFP4" ? 32 : dtype == "NVFP4" ? 16 : 1;
  std::vector<TensorToWrite> out;
  for (auto& t : tensors) {
    if (t.shape.size() != 2) {
      t.dtype = "BF16";  // norms and gains stay in the release's float type
      out.push_back(std::move(t));
      continue;
    }
    const int64_t rows = t.shape[0], cols = t.shape[1];
    if (cols % block != 0)
      throw InputError(fmt::format("synth --dtype {}: tensor '{}' has rows of {}, not a multiple "
                                   "of the {}-value block", dtype, t.name, cols, block));
    auto enc = std::make_shared<Encoded>();
    enc->fill = std::move(t.fill);
    enc->rows = rows, enc->cols = cols, enc->dtype = dtype;
    auto part = [&](std::string name, std::string pdtype, std::vector<int64_t> shape, size_t k) {
      TensorToWrite p;
      p.name = std::move(name);
      p.dtype = std::move(pdtype);
      p.shape = std::move(shape);
      p.fill_bytes = [enc, k](std::span<std::byte> b) {
        if (!enc->done) enc->make();
        std::copy(enc->parts[k].begin(), enc->parts[k].end(), b.begin());
        std::vector<std::byte>().swap(enc->parts[k]);
      };
      out.push_back(std::move(p));
    };
    if (dtype == "MXFP4") {
      // gpt-oss: X_blocks [out, in/32, 16] of E2M1 pairs, X_scales [out, in/32] of E8M0 (U8).
      part(t.name + "_blocks", "U8", {rows, cols / 32, 16}, 0);
      part(t.name + "_scales", "U8", {rows, cols / 32}, 1);
    } else if (dtype == "NVFP4") {
      // ModelOpt: weight U8 [out, in/2], weight_scale F8_E4M3 [out, in/16], weight_scale_2 F32 [].
      part(t.name, "U8", {rows, cols / 2}, 0);
      part(t.name + "_scale", "F8_E4M3", {rows, cols / 16}, 1);
      part(t.name + "_scale_2", "F32", {}, 2);
    } else {
      // DeepSeek-V3: weight F8_E4M3 [out, in], weight_scale_inv F32 [⌈out/128⌉, ⌈in/128⌉].
      part(t.name, "F8_E4M3", {rows, cols}, 0);
      part(t.name + "_scale_inv", "F32",
           {(rows + kFp8Block - 1) / kFp8Block, (cols + kFp8Block - 1) / kFp8Block}, 1);
    }
  }
  tensors = std::move(out);
  std::map<std::string, std::string> files;
  if (dtype == "MXFP4") {
    config["quantization_config"] = {{"modules_to_not_convert", {"model.embed_tokens", "lm_head"}},
                                     {"quant_method", "mxfp4"}};
  } else if (dtype == "NVFP4") {
    const nlohmann::ordered_json q = {{"quant_algo", "NVFP4"}, {"kv_cache_quant_algo", nullptr},
                                      {"group_size", 16}, {"exclude_modules", {"lm_head"}}};
    nlohmann::ordered_json qc = {{"quant_method", "modelopt"}};
    for (auto it = q.begin(); it != q.end(); ++it) qc[it.key()] = it.value();
    config["quantization_config"] = qc;
    const nlohmann::ordered_json hf = {{"producer", {{"name", "modelopt"}, {"version", "gmha-synth"}}},
                                       {"quantization", q}};
    files["hf_quant_config.json"] = hf.dump(2) + "\n";
  } else {
    config["quantization_config"] = {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"},
                                     {"quant_method", "fp8"},
                                     {"weight_block_size", {kFp8Block, kFp8Block}}};
  }
  return files;
}

std::vector<GgufTensorToWrite> gguf_plan(const std::vector<TensorToWrite>& tensors,
                                         const nlohmann::ordered_json& config,
                                         const std::string& dtype, const std::string& label,
                                         std::vector<GgufKv>* meta) {
  if (config.value("model_type", "") != "llama")
    throw InputError(fmt::format("synth --dtype {}: GGUF is written for the llama layout only", dtype));
  auto num = [&](const char* k) { return config.at(k).get<int64_t>(); };
  const int64_t layers = num("num_hidden_layers"), heads = num("num_attention_heads"),
                kv = num("num_key_value_heads"), h = num("head_dim"), d = num("hidden_size");
  // llama.cpp types a llama with 80 layers and grouped KV heads as 70B (llama-model.cpp), which
  // moves Q4_K_M's remaining attn_v tensors up to Q5_K.
  const bool is_70b = layers == 80 && kv != heads;
  const std::regex re(R"(model\.layers\.(\d+)\.(input_layernorm|self_attn\.([qkvo])_proj)\.weight)");
  std::vector<GgufTensorToWrite> out;
  for (const auto& t : tensors) {
    std::smatch m;
    if (!std::regex_match(t.name, m, re))
      throw InternalError(fmt::format("synth: no GGUF name for tensor '{}'", t.name));
    const int64_t layer = std::stoll(m[1].str());
    GgufTensorToWrite g;
    g.shape = t.shape;
    if (m[2] == "input_layernorm") {
      g.name = fmt::format("blk.{}.attn_norm.weight", layer);
      g.type = kF32;
      g.fill = t.fill;
      out.push_back(std::move(g));
      continue;
    }
    const char p = m[3].str()[0];
    static const std::map<char, const char*> kName = {{'q', "attn_q"}, {'k', "attn_k"},
                                                      {'v', "attn_v"}, {'o', "attn_output"}};
    g.name = fmt::format("blk.{}.{}.weight", layer, kName.at(p));
    g.type = dtype == "Q8_0" ? kQ8_0 : kQ4_K;
    if (dtype == "Q4_K_M" && p == 'v') g.type = q4_k_m_attn_v_type(layer, layers, is_70b);
    if (p == 'q' || p == 'k') {
      // llama.cpp's converter stores each head's rows with rotary pairs adjacent: stored row
      // 2i + j is HF row j·h/2 + i (the reader undoes this, checkpoint.hpp).
      g.fill = [fill = t.fill, h, cols = t.shape[1]](std::span<float> v) {
        std::vector<float> hf(v.size(), 0.0f);
        if (fill) fill(hf);
        const int64_t rows = static_cast<int64_t>(v.size()) / cols;
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t head = r / h, w = r % h, i = w / 2, j = w % 2;
          const int64_t src = head * h + j * (h / 2) + i;
          std::copy_n(hf.begin() + src * cols, cols, v.begin() + r * cols);
        }
      };
    } else {
      g.fill = t.fill;
    }
    gguf_tensor_bytes(g.type, g.shape, g.name);  // refuse a row that is not whole blocks now
    out.push_back(std::move(g));
  }
  const uint32_t file_type = dtype == "Q8_0" ? 7 : dtype == "Q4_K_M" ? 15 : 14;
  auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  *meta = {GgufKv::str("general.architecture", "llama"),
           GgufKv::str("general.name", "gmha synth"),
           // llama_ftype: 7 MOSTLY_Q8_0, 14 MOSTLY_Q4_K_S ("mostly Q4_K"), 15 MOSTLY_Q4_K_M.
           GgufKv::u32("general.file_type", file_type),
           GgufKv::u32("general.quantization_version", 2),
           GgufKv::str("gmha.synth", label),
           GgufKv::u32("llama.context_length", 8192),
           GgufKv::u32("llama.embedding_length", u32(d)),
           GgufKv::u32("llama.block_count", u32(layers)),
           GgufKv::u32("llama.feed_forward_length", u32(num("intermediate_size"))),
           GgufKv::u32("llama.attention.head_count", u32(heads)),
           GgufKv::u32("llama.attention.head_count_kv", u32(kv)),
           GgufKv::u32("llama.attention.key_length", u32(h)),
           GgufKv::u32("llama.attention.value_length", u32(h)),
           GgufKv::u32("llama.rope.dimension_count", u32(h)),
           GgufKv::f32("llama.attention.layer_norm_rms_epsilon",
                       static_cast<float>(config.value("rms_norm_eps", 1e-6))),
           GgufKv::f32("llama.rope.freq_base", static_cast<float>(config.value("rope_theta", 10000.0)))};
  if (config.contains("vocab_size")) meta->push_back(GgufKv::u32("llama.vocab_size", u32(num("vocab_size"))));
  return out;
}

}  // namespace gmha::detail
