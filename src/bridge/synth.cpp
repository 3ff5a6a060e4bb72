#include "gmha/bridge/synth.hpp"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <random>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/QR>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gmha/checkpoint/gguf_writer.hpp"
#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/checkpoint/safetensors_writer.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parallel.hpp"
#include "gmha/core/parse.hpp"
#include "synth_layers.hpp"  // internal, beside this file
#include "synth_quant.hpp"

namespace gmha {

using namespace synth_detail;  // the layer writers and the checks they share (synth_layers.hpp)

std::string_view synth_layout_name(SynthLayout l) {
  switch (l) {
    case SynthLayout::kLlama: return "llama";
    case SynthLayout::kDeepseekV3: return "deepseek_v3";
    case SynthLayout::kStep3: return "step3";
    case SynthLayout::kMfaKr: return "mfa-kr";
    case SynthLayout::kGta: return "gta";
    case SynthLayout::kGla: return "gla";
  }
  return "?";
}

SynthLayout read_synth_layout(std::string_view name) {
  for (SynthLayout l : {SynthLayout::kLlama, SynthLayout::kDeepseekV3, SynthLayout::kStep3,
                        SynthLayout::kMfaKr, SynthLayout::kGta, SynthLayout::kGla}) {
    if (name == synth_layout_name(l)) return l;
  }
  throw errors::bad_option("layout", fmt::format("unknown layout '{}' (known: llama, deepseek_v3, "
                                                "step3, mfa-kr, gta, gla)", name));
}

SynthLayout synth_layout_for(Variant v) {
  switch (v) {
    case Variant::kMha: case Variant::kMqa: case Variant::kGqa: return SynthLayout::kLlama;
    case Variant::kMla: return SynthLayout::kDeepseekV3;
    case Variant::kMfa: return SynthLayout::kStep3;
    case Variant::kMfaKr: return SynthLayout::kMfaKr;
    case Variant::kGta: return SynthLayout::kGta;
    case Variant::kGla: return SynthLayout::kGla;
    default:
      throw InputError(fmt::format("synth: no checkpoint layout for {} attention",
                                   variant_label(v)));
  }
}

int64_t RankPattern::rank_of(int64_t layer, int64_t head, int64_t heads, int64_t nominal) const {
  const int64_t i = (layer * heads + head) % static_cast<int64_t>(ranks.size());
  const int64_t r = ranks[static_cast<size_t>(i)];
  return r < 0 ? nominal : r;
}

RankPattern parse_rank_pattern(std::string_view text, const std::string& flag) {
  RankPattern p;
  p.ranks.clear();
  for (std::string_view item : split_list(text, flag)) {
    // A rank is a count ≥ 0 or 'full'; lists like 1,4,full cycle over heads.
    p.ranks.push_back(item == "full" ? -1 : parse_integer(item, flag, 0));
  }
  return p;
}

namespace {

uint64_t elements_of(const std::vector<int64_t>& shape) {
  uint64_t e = 1;
  for (int64_t x : shape) e = checked_mul_u64(e, static_cast<uint64_t>(x), "tensor elements");
  return e;
}

// Everything synth writes, before a byte is written: config.json and the tensors with their
// fill callbacks (values are generated only when the writer reaches a tensor).
struct SynthPlan {
  nlohmann::ordered_json config;
  std::vector<TensorToWrite> tensors;       // safetensors (quantized parts already split out)
  std::vector<GgufTensorToWrite> gguf;      // the GGUF dtypes: these instead of `tensors`
  std::vector<GgufKv> gguf_meta;
  std::map<std::string, std::string> extra_files;  // beside config.json (hf_quant_config.json)
  uint64_t largest_floats = 0;  // bytes of the largest tensor's float buffer (the writers' peak)
};

std::string synth_label(const SynthOptions& o) {
  return fmt::format("layout={} seed={} dtype={}", synth_layout_name(o.layout), o.seed, o.dtype);
}

SynthPlan plan_synth(const SynthOptions& o) {
  AttentionShape s = o.shape;
  const std::string where = "synth";
  validate_shape(s, where);
  // A llama stack of per-layer shapes is checked layer by layer below; its o.shape then only
  // gives d (and Llama config fields) and may be any of them (Kimi-Linear has no GQA layer).
  const bool per_layer = o.layout == SynthLayout::kLlama && !o.layer_shapes.empty();
  if (!per_layer && synth_layout_for(s.variant) != o.layout &&
      !(o.layout == SynthLayout::kMfaKr && s.variant == Variant::kMfa)) {
    throw InputError(fmt::format("synth: layout {} cannot store {} attention",
                                 synth_layout_name(o.layout), variant_label(s.variant)));
  }
  if (o.layout == SynthLayout::kMfaKr) s.variant = Variant::kMfaKr;
  if (o.layers <= 0) throw errors::not_positive(where, "layers", o.layers);
  if (!detail::synth_dtype_known(o.dtype)) {
    throw InputError(fmt::format("synth: dtype '{}' is not F32, BF16, Q8_0, Q4_K, Q4_K_M, MXFP4, "
                                 "NVFP4 or FP8_BLOCK", o.dtype));
  }
  const int64_t d = s.d_model, n = s.heads;
  const CapacityRanks nominal = capacity_ranks(s);
  const int64_t qk_nom = nominal.frh, vo_nom = nominal.vo_rank;
  if (!per_layer) {
    check_rank(o.qk_rank, o.layers, n, qk_nom, "qk-rank");
    check_rank(o.vo_rank, o.layers, n, vo_nom, "vo-rank");
  }
  // The planted floats; quantized dtypes encode them afterwards (synth_quant.hpp).
  const std::string dt = o.dtype == "F32" ? "F32" : "BF16";
  // config.json needs an FFN width; no FFN tensors are written, so a GLU default will do.
  const int64_t ffn = o.intermediate_size > 0 ? o.intermediate_size : (8 * d / 3 + 127) / 128 * 128;
  synth_detail::LayerPlan p{o, d, dt, {}};
  nlohmann::ordered_json config;
  const std::string torch_dtype = dt == "F32" ? "float32" : "bfloat16";

  switch (o.layout) {
    case SynthLayout::kLlama: {
      if (!o.layer_shapes.empty() && static_cast<int64_t>(o.layer_shapes.size()) != o.layers)
        throw InputError(fmt::format("synth: {} layer shapes for {} layers", o.layer_shapes.size(),
                                     o.layers));
      config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
                {"hidden_size", d}, {"intermediate_size", ffn},
                {"num_hidden_layers", o.layers}, {"num_attention_heads", n},
                {"num_key_value_heads", s.kv_heads}, {"head_dim", s.head_dim}};
      if (!o.compress_ratios.empty() && static_cast<int64_t>(o.compress_ratios.size()) != o.layers)
        throw InputError(fmt::format("synth: compress_ratios has {} entries for {} layers", o.compress_ratios.size(), o.layers));
      if (!o.no_mixer.empty() && static_cast<int64_t>(o.no_mixer.size()) != o.layers)
        throw InputError(fmt::format("synth: no_mixer has {} entries for {} layers", o.no_mixer.size(), o.layers));
      if (!o.parallel.empty() && (static_cast<int64_t>(o.parallel.size()) != o.layers || o.parallel[0]))
        throw InputError(fmt::format("synth: parallel has {} entries for {} layers (the first cannot be a "
                                     "second mixer)", o.parallel.size(), o.layers));
      if (std::find(o.parallel.begin(), o.parallel.end(), true) != o.parallel.end() && o.config.is_null())
        throw InputError("synth: parallel mixers need the family's config.json (SynthOptions::config)");
      int64_t decoder = -1;  // the checkpoint's layer N of entry l (a parallel mixer shares its layer's)
      for (int64_t l = 0; l < o.layers; ++l) {
        const bool second = !o.parallel.empty() && o.parallel[static_cast<size_t>(l)];
        if (!second) ++decoder;
        if (!o.no_mixer.empty() && o.no_mixer[static_cast<size_t>(l)]) continue;  // an MLP block
        const AttentionShape sl = o.layer_shapes.empty() ? s : o.layer_shapes[static_cast<size_t>(l)];
        validate_shape(sl, fmt::format("synth: layer {}", l));
        if (sl.d_model != d) throw InputError(fmt::format("synth: layer {} has another hidden size", l));
        if (sl.variant == Variant::kMla) {  // beside other kinds (Kimi-Linear)
          write_mla_layer(p, l, decoder, second, sl);
          continue;
        }
        if (sl.variant == Variant::kLinear) write_recurrent_layer(p, l, decoder, second, sl);
        else if (sl.o_lora_rank > 0)
          write_v4_layer(p, l, decoder, sl, o.compress_ratios.empty() ? 0 : o.compress_ratios[static_cast<size_t>(l)]);
        else write_gqa_layer(p, l, decoder, second, sl);
      }
      break;
    }
    case SynthLayout::kGta: {
      const int64_t g = s.kv_heads, h = s.head_dim, rope = s.qk_rope_dim;
      if (g * h + rope > d) throw InputError("synth: GTA construction needs kv_heads·head_dim + rope ≤ hidden_size");
      config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
                {"hidden_size", d}, {"intermediate_size", ffn},
                {"num_hidden_layers", o.layers}, {"num_attention_heads", n},
                {"num_key_value_heads", g}, {"head_dim", h}, {"rope_dim", rope}};
      for (int64_t l = 0; l < o.layers; ++l) write_gta_layer(p, l, s);
      break;
    }
    case SynthLayout::kGla: {
      const int64_t ql = s.q_lora_rank, hc = s.kv_heads, dc = s.kv_lora_rank, nope = s.qk_nope_dim,
                    rope = s.qk_rope_dim, hv = s.v_head_dim;
      if (nope != hv)
        throw InputError("synth: the GLA reference layout has one head_dim: nope and v must be equal");
      if (ql < nope || ql < rope || ql > d || dc < nope || hc * dc + rope > d)
        throw InputError("synth: GLA construction needs q_lora ≥ nope, rope; kv_lora ≥ nope; "
                         "q_lora and hc·kv_lora + rope ≤ hidden_size");
      config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
                {"hidden_size", d}, {"intermediate_size", ffn},
                {"num_hidden_layers", o.layers}, {"num_attention_heads", n},
                {"num_key_value_heads", n}, {"head_dim", nope}, {"qk_rope_dim", rope}};
      for (int64_t l = 0; l < o.layers; ++l) write_gla_layer(p, l, s);
      break;
    }
    case SynthLayout::kDeepseekV3: {
      const int64_t ql = s.q_lora_rank, C = s.kv_lora_rank, nope = s.qk_nope_dim,
                    rope = s.qk_rope_dim, hv = s.v_head_dim;
      config = {{"architectures", {"DeepseekV3ForCausalLM"}}, {"model_type", "deepseek_v3"},
                {"hidden_size", d}, {"intermediate_size", ffn},
                {"num_hidden_layers", o.layers}, {"num_attention_heads", n},
                {"num_key_value_heads", n}, {"q_lora_rank", ql > 0 ? nlohmann::ordered_json(ql)
                                                                   : nlohmann::ordered_json()},
                {"kv_lora_rank", C}, {"qk_nope_head_dim", nope}, {"qk_rope_head_dim", rope},
                {"v_head_dim", hv}};
      if (s.index_heads > 0) {
        // DeepSeek-V3.2: V3's MLA plus the lightning indexer (the reader's deepseek_v32 family).
        config["architectures"] = {"DeepseekV32ForCausalLM"};
        config["model_type"] = "deepseek_v32";
        config["index_n_heads"] = s.index_heads;
        config["index_head_dim"] = s.index_head_dim;
        config["index_topk"] = 2048;
      }
      for (int64_t l = 0; l < o.layers; ++l) write_mla_layer(p, l, l, false, s);
      break;
    }
    case SynthLayout::kStep3: case SynthLayout::kMfaKr: {
      const int64_t C = s.head_dim, cq = s.q_share_dim > 0 ? s.q_share_dim : C;
      if (cq < C || cq > d || 2 * C > d) {
        throw InputError("synth: MFA construction needs C ≤ share_q_dim ≤ hidden_size and "
                         "2·head_dim ≤ hidden_size");
      }
      config = {{"architectures", {"Step3TextForCausalLM"}}, {"model_type", "step3_text"},
                {"hidden_size", d}, {"intermediate_size", ffn},
                {"num_hidden_layers", o.layers}, {"num_attention_heads", n},
                {"num_attention_groups", 1}, {"head_dim", C}, {"share_q_dim", cq}};
      const bool kr = o.layout == SynthLayout::kMfaKr;
      for (int64_t l = 0; l < o.layers; ++l) write_mfa_layer(p, l, s, kr);
      break;
    }
  }
  if (o.vocab_size > 0) config["vocab_size"] = o.vocab_size;  // 0: no embeddings written
  config["rms_norm_eps"] = 1e-6;
  config["rope_theta"] = 10000.0;
  config["tie_word_embeddings"] = false;
  if (!o.config.is_null()) {
    // The caller's config.json (its family's fields), stored as these weights are.
    if (!o.config.is_object()) throw InputError("synth: the config to write is not a JSON object");
    if (detail::synth_dtype_is_gguf(o.dtype))
      throw InputError(fmt::format("synth: a config.json is written with safetensors only, not {}", o.dtype));
    config = o.config;
    config.erase("quantization_config");
    if (config.contains("text_config") && config["text_config"].is_object())
      config["text_config"].erase("quantization_config");
  }
  config["torch_dtype"] = torch_dtype;

  SynthPlan plan{std::move(config), std::move(p.tensors), {}, {}, {}, 0};
  for (const auto& t : plan.tensors)
    plan.largest_floats = std::max(plan.largest_floats, 4 * elements_of(t.shape));
  if (detail::synth_dtype_is_gguf(o.dtype)) {
    plan.gguf = detail::gguf_plan(plan.tensors, plan.config, o.dtype, synth_label(o), &plan.gguf_meta);
    plan.tensors.clear();
  } else if (o.dtype != "F32" && o.dtype != "BF16") {
    plan.extra_files = detail::quantize_safetensors(plan.tensors, plan.config, o.dtype);
  }
  return plan;
}

uint64_t tensor_bytes(const TensorToWrite& t) {
  const uint64_t bits = checked_mul_u64(elements_of(t.shape),
                                        static_cast<uint64_t>(safetensors_dtype_bits(t.dtype)), "tensor bits");
  return bits / 8;
}

}  // namespace

SynthSize synth_checkpoint_size(const SynthOptions& o) {
  const SynthPlan plan = plan_synth(o);
  SynthSize size;
  for (const auto& t : plan.tensors)
    size.tensor_bytes = checked_add_u64(size.tensor_bytes, tensor_bytes(t), "checkpoint bytes");
  for (const auto& t : plan.gguf)
    size.tensor_bytes = checked_add_u64(size.tensor_bytes, gguf_tensor_bytes(t.type, t.shape, t.name),
                                        "checkpoint bytes");
  // The writers fill a float buffer of the whole (logical) tensor, whatever the stored dtype.
  size.largest_fill_bytes = plan.largest_floats;
  size.tensors = static_cast<int64_t>(plan.tensors.size() + plan.gguf.size());
  return size;
}

SynthResult write_synth_checkpoint(const std::string& dir, const SynthOptions& o) {
  SynthPlan plan = plan_synth(o);
  if (o.progress) {
    // Each tensor is generated when the writer reaches it: report after its values exist.
    const auto total = static_cast<int64_t>(plan.tensors.size() + plan.gguf.size());
    auto done = std::make_shared<int64_t>(0);
    auto wrap = [&](auto& fill) {
      if (!fill) return;
      fill = [f = std::move(fill), done, total, progress = o.progress](auto v) {
        f(v);
        progress(++*done, total);
      };
    };
    for (auto& t : plan.tensors) {
      if (t.fill_bytes) wrap(t.fill_bytes);
      else wrap(t.fill);  // synth gives every tensor a fill
    }
    for (auto& t : plan.gguf) wrap(t.fill);
  }
  const auto& config = plan.config;
  const auto& tensors = plan.tensors;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError(fmt::format("{}: cannot create the folder: {}", dir, ec.message()));
  SynthResult r;
  if (!plan.gguf.empty()) {
    // One self-describing file: llama.cpp's metadata stands in for config.json.
    write_gguf(dir + "/model.gguf", plan.gguf_meta, plan.gguf);
    r.files.push_back("model.gguf");
    for (const auto& t : plan.gguf) r.tensor_bytes += gguf_tensor_bytes(t.type, t.shape, t.name);
    r.tensors = static_cast<int64_t>(plan.gguf.size());
    return r;
  }
  SafetensorsWriteOptions wo;
  wo.max_shard_bytes = o.max_shard_bytes;
  wo.metadata = {{"gmha_synth", synth_label(o)}};
  write_file_atomically(dir + "/config.json", config.dump(2) + "\n");
  r.files.push_back("config.json");
  for (const auto& [name, text] : plan.extra_files) {
    write_file_atomically(dir + "/" + name, text);
    r.files.push_back(name);
  }
  for (auto& f : write_safetensors(dir, tensors, wo)) r.files.push_back(f);
  for (const auto& t : tensors) r.tensor_bytes += tensor_bytes(t);
  r.tensors = static_cast<int64_t>(tensors.size());
  return r;
}

}  // namespace gmha
