// DeepSeek-V4 (model_type deepseek_v4): the config reader (docs/capacity.md, "DeepSeek-V4").
// Published configs: deepseek-ai/DeepSeek-V4-Pro and DeepSeek-V4-Flash, config.json; the
// architecture from the V4 report §2 and the published inference/model.py (Attention,
// Compressor, Indexer).
#include <fmt/format.h>

#include "hf_fields.hpp"

namespace gmha::hf_detail {

namespace {

// The V4 attention layer without its fill rule: 128 (Flash 64) query heads of 512 from a
// compressed query (wq_a, q_norm, wq_b), one K = V latent of 512 (wkv, kv_norm) whose last
// qk_rope_head_dim dims are rotated, a learned sink per head (attn_sink), and the grouped output
// LoRA wo_a [o_groups * o_lora_rank, heads * head_dim / o_groups], wo_b [d, o_groups * o_lora_rank].
AttentionShape v4_attention(const Fields& f) {
  AttentionShape a;
  a.variant = Variant::kGqa;
  a.d_model = req_pos(f, "hidden_size");
  a.heads = req_pos(f, "num_attention_heads");
  a.kv_heads = req_pos(f, "num_key_value_heads");
  a.head_dim = req_pos(f, "head_dim");
  a.rotary_dim = req_pos(f, "qk_rope_head_dim");
  a.q_lora_rank = req_pos(f, "q_lora_rank");
  a.o_lora_rank = req_pos(f, "o_lora_rank");
  a.o_groups = req_pos(f, "o_groups");
  a.kv_tied = a.kv_latent = true;
  a.sinks = true;
  // Manifold-constrained hyper-connections: hc_mult residual streams mixed around each block.
  a.hyper_connections = f.int_or("hc_mult", 0);
  if (a.hyper_connections < 0) throw errors::not_positive(f.where(), "field 'hc_mult'", a.hyper_connections);
  if (f.bool_or("attention_bias", false)) {
    throw InputError(fmt::format("{}: field 'attention_bias' is true; DeepSeek-V4's projections have "
                                 "no biases in gmha's model", f.where()));
  }
  return a;
}

}  // namespace

std::optional<ModelDesign> read_deepseek_v4(const Fields& f, const std::string& type) {
  if (type != "deepseek_v4") return std::nullopt;
  // V4.1's cross-layer sharing (kv_source_layer_ids, index_source_layer_ids) and engram tables
  // are another model_type; on a deepseek_v4 config they are refused rather than ignored.
  reject_unmodelled(f, type, {"kv_source_layer_ids", "index_source_layer_ids", "engram_layer_ids",
                              "attn_res_block_size"});
  LayerSpec l;
  l.attention = v4_attention(f);
  const int64_t shared = f.int_or("n_shared_experts", 0);
  // Every layer is MoE (the first num_hash_layers route by a hash of the token id, through the
  // same expert shapes and a gate of the same size).
  l.ffn = moe_ffn(f, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size", shared,
                  f.int_or("moe_intermediate_size", 0));
  ModelDesign m = uniform(f, l);
  const size_t n = m.layers.size();
  // compress_ratios: one entry per layer, then one per MTP layer (num_nextn_predict_layers; not
  // counted, as for DeepSeek-V3). 0: sliding window only; 4: CSA (compressor with overlapping
  // blocks + indexer selecting index_topk entries); 128: HCA (dense over the compressed entries).
  // Every layer keeps the last sliding_window raw tokens (docs/capacity.md).
  const auto ratios = f.opt_int_list("compress_ratios");
  if (!ratios) throw errors::missing_field(f.where(), "compress_ratios");
  const int64_t mtp = f.int_or("num_nextn_predict_layers", 0);
  if (ratios->size() != n + static_cast<size_t>(std::max<int64_t>(mtp, 0))) {
    throw InputError(fmt::format("{}: compress_ratios has {} entries for {} layers + {} MTP layers",
                                 f.where(), ratios->size(), n, mtp));
  }
  const int64_t window = req_pos(f, "sliding_window");
  for (size_t i = 0; i < n; ++i) {
    const int64_t r = (*ratios)[i];
    LayerSpec& li = m.layers[i];
    if (r == 0) {
      li.span = {SpanKind::kSlidingWindow, window};
    } else if (r == 4 || r == 128) {
      li.span.kind = SpanKind::kCompressed;
      li.span.ratio = r;
      li.span.window = window;
      if (r == 4) {
        li.span.tokens = req_pos(f, "index_topk");
        li.attention.index_heads = req_pos(f, "index_n_heads");
        li.attention.index_head_dim = req_pos(f, "index_head_dim");
      }
    } else {
      throw InputError(fmt::format("{}: compress_ratios[{}] = {}: DeepSeek-V4 layers are 0 (window), "
                                   "4 (CSA) or 128 (HCA)", f.where(), i, r));
    }
  }
  return m;
}

}  // namespace gmha::hf_detail
