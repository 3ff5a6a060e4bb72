// synth's GQA-family and DeepSeek-V4 layers in their checkpoints' names (synth_layers.hpp).
#include <algorithm>

#include <Eigen/QR>
#include <fmt/format.h>

#include "gmha/attention/variant.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parallel.hpp"
#include "synth_layers.hpp"  // internal, beside this file

namespace gmha::synth_detail {

void write_gqa_layer(LayerPlan& p, int64_t l, int64_t decoder, bool second, const AttentionShape& sl) {
  const SynthOptions& o = p.o;
  const uint64_t seed = o.seed;
  const int64_t d = p.d;
  const int64_t g = sl.kv_heads, h = sl.head_dim, nl = sl.heads;
  const int64_t hv = sl.v_head_dim > 0 ? sl.v_head_dim : h;
  if (h > d || hv > d) throw InputError("synth: head_dim must not exceed hidden_size");
  const CapacityRanks nom_l = capacity_ranks(sl);
  check_rank(o.qk_rank, o.layers, nl, nom_l.frh, "qk-rank");
  check_rank(o.vo_rank, o.layers, nl, nom_l.vo_rank, "vo-rank");
  // An element-wise gate: per head h query rows, then h gate rows (Qwen3-Next's q_proj).
  const bool gated = sl.gate == OutputGate::kElementwise;
  const int64_t qs = gated ? 2 * h : h;
  const std::string b = fmt::format("model.layers.{}.", decoder);
  if (!second) p.add_input_norm(decoder);
  // q_proj [n·h, d]: head c rows are A_cᵀ = (U Σ Vᵀ)ᵀ, A_c d×h planted.
  p.add(b + "self_attn.q_proj.weight", {nl * qs, d}, [=](std::span<float> v) {
    parallel_for(nl, 0, [&](int64_t c) {
      auto rng = rng_for(seed, l, kQHead, c);
      put(v, d, c * qs, 0, planted_factor(d, h, o.qk_rank.rank_of(l, c, nl, h), rng).transpose());
      if (gated) {
        auto grng = rng_for(seed, l, kGate, c);
        put(v, d, c * qs + h, 0, orthonormal(d, h, grng).transpose());
      }
    });
  });
  // k_proj, v_proj [g·h, d]: each group's rows orthonormal (σ(B) all 1). K = V tied: no v_proj.
  std::vector<std::pair<const char*, Role>> kv = {{"k_proj", kKGroup}};
  if (!sl.kv_tied) kv.push_back({"v_proj", kVGroup});
  for (auto [proj_name, proj_role] : kv) {
    // Plain copies: lambdas may not capture structured bindings before C++20's P1091 (clang 14).
    const std::string name = proj_name;
    const auto role = proj_role;
    const int64_t w = role == kKGroup ? h : hv;
    p.add(b + "self_attn." + name + ".weight", {g * w, d}, [=](std::span<float> v) {
      parallel_for(g, 0, [&](int64_t j) {
        auto rng = rng_for(seed, l, role, j);
        put(v, d, j * w, 0, orthonormal(d, w, rng).transpose());
      });
    });
  }
  // o_proj [d, n·hv]: head c columns are Wo_c = U Σ Vᵀ (d×hv), the VO circuit's own factor.
  p.add_planted_output(b + "self_attn.o_proj.weight", l, nl, hv, nom_l.vo_rank);
  // Biases (zeros: a circuit ignores them) and q/k norm weights (ones) where the shape has them.
  auto constant = [&](const std::string& name, int64_t size, float value) {
    p.add(b + "self_attn." + name, {size}, [value](std::span<float> v) { std::fill(v.begin(), v.end(), value); });
  };
  if (sl.qkv_bias) {
    constant("q_proj.bias", nl * h, 0.0f);
    constant("k_proj.bias", g * h, 0.0f);
    constant("v_proj.bias", g * h, 0.0f);
  }
  const float unit = static_cast<float>(1.0 - o.qk_norm_offset);  // γ = 1 as the family reads it
  if (sl.qk_norm_per_layer) {
    constant("q_norm.weight", nl * h, unit);
    constant("k_norm.weight", g * h, unit);
  } else if (sl.qk_norm) {
    constant("q_norm.weight", h, unit);
    constant("k_norm.weight", h, unit);
  }
  if (sl.gate == OutputGate::kHeadwise) {
    p.add_orthonormal_rows(b + "self_attn.g_proj.weight", nl, d, l, kGate);
  }
  if (sl.sinks) {
    p.add(b + "self_attn.sinks", {nl}, [=](std::span<float> v) {
      auto rng = rng_for(seed, l, kSinks, 0);
      std::normal_distribution<double> z(0.0, 1.0);
      for (float& x : v) x = static_cast<float>(z(rng));
    });
  }
}

void write_v4_layer(LayerPlan& p, int64_t l, int64_t decoder, const AttentionShape& sl, int64_t compress_ratio) {
  const SynthOptions& o = p.o;
  const uint64_t seed = o.seed;
  const int64_t d = p.d;
  // DeepSeek-V4's attention in its checkpoint names (bridge/layout.hpp): head i's query
  // nope rows of wq_b planted at qk_rank (wq_a, wkv full rank, norms γ ≠ 1), its output
  // block A_ij of wo_a planted at vo_rank (wo_b orthonormal per group), so each circuit's rank is the
  // planted one.
  const int64_t nl = sl.heads, c = sl.head_dim, rope = sl.rotary_dim, nope = c - rope;
  const int64_t ql = sl.q_lora_rank, G = sl.o_groups, R = sl.o_lora_rank, per = nl / G;
  if (sl.kv_heads != 1 || !sl.kv_tied || ql < nope || R < c || ql > d || c > d || R > d)
    throw InputError(fmt::format("synth: layer {}: a DeepSeek-V4 layer needs one K = V latent, "
                                 "head_dim - rope <= q_lora <= d and head_dim <= o_lora <= d", l));
  const CapacityRanks nom_l = capacity_ranks(sl);
  check_rank(o.qk_rank, o.layers, nl, nom_l.frh, "qk-rank");
  check_rank(o.vo_rank, o.layers, nl, nom_l.vo_rank, "vo-rank");
  const std::string b = fmt::format("model.layers.{}.attn.", decoder);
  auto full = [&](const std::string& name, int64_t rows, int64_t cols, Role role) {
    p.add(b + name, {rows, cols}, [=](std::span<float> v) {
      auto rng = rng_for(seed, l, role, 0);
      // Full rank either way round (planted_factor needs rows >= width).
      if (rows <= cols) put(v, cols, 0, 0, planted_factor(cols, rows, rows, rng).transpose());
      else put(v, cols, 0, 0, planted_factor(rows, cols, cols, rng));
    });
  };
  full("wq_a.weight", ql, d, kQDown);
  p.add_norm_weights(b + "q_norm.weight", ql, l, kQNorm);
  p.add(b + "wq_b.weight", {nl * c, ql}, [=](std::span<float> v) {
    parallel_for(nl, 0, [&](int64_t i) {
      auto rng = rng_for(seed, l, kQHead, i);
      put(v, ql, i * c, 0, planted_factor(ql, nope, o.qk_rank.rank_of(l, i, nl, nom_l.frh), rng).transpose());
      if (rope > 0) put(v, ql, i * c + nope, 0, planted_factor(ql, rope, rope, rng).transpose());
    });
  });
  full("wkv.weight", c, d, kKvDown);
  p.add_norm_weights(b + "kv_norm.weight", c, l, kKvNorm);
  p.add(b + "wo_a.weight", {G * R, nl * c / G}, [=](std::span<float> v) {
    parallel_for(nl, 0, [&](int64_t i) {
      auto rng = rng_for(seed, l, kOHead, i);
      put(v, per * c, (i / per) * R, (i % per) * c,
          planted_factor(R, c, o.vo_rank.rank_of(l, i, nl, nom_l.vo_rank), rng));
    });
  });
  // wo_b [d, G·R]: each group's R columns orthonormal (drawn per group: G·R may exceed d,
  // as in V4-Flash's 8 × 1024 over d = 4096), so group g's map has wo_a_g's σ.
  p.add(b + "wo_b.weight", {d, G * R}, [=](std::span<float> v) {
    parallel_for(G, 0, [&](int64_t g) {
      auto rng = rng_for(seed, l, kSDown, g);
      put(v, G * R, 0, g * R, orthonormal(d, R, rng));
    });
  });
  p.add(b + "attn_sink", {nl}, [](std::span<float> v) { std::fill(v.begin(), v.end(), 0.5f); });
  if (compress_ratio <= 0) return;
  // The compressor (model.py's Compressor; CSA's ratio 4 overlaps two blocks: two halves of c
  // rows): half h of wkv is a planted factor ·diag(1/γ) with γ the norm's weights, so the
  // audit's diag(γ)·wkv_h has the planted σ; wgate full rank, ape zeros.
  const int64_t halves = compress_ratio == 4 ? 2 : 1, w = halves * c;
  if (c > d) throw InputError(fmt::format("synth: layer {}: a compressor needs head_dim <= hidden_size", l));
  check_rank(o.compressor_rank, o.layers, halves, c, "compressor-rank");
  p.add(b + "compressor.wkv.weight", {w, d}, [=](std::span<float> v) {
    auto grng = rng_for(seed, l, kCompNorm, 0);
    const VectorXd inv = norm_weights(c, grng).cwiseInverse();
    for (int64_t h = 0; h < halves; ++h) {
      auto rng = rng_for(seed, l, kCompKv, h);
      put(v, d, h * c, 0, inv.asDiagonal() * planted_factor(d, c, o.compressor_rank.rank_of(l, h, halves, c), rng).transpose());
    }
  });
  p.add(b + "compressor.wgate.weight", {w, d}, [=](std::span<float> v) {
    auto rng = rng_for(seed, l, kCompGate, 0);
    put(v, d, 0, 0, orthonormal(d, w, rng).transpose());
  });
  p.add(b + "compressor.ape", {compress_ratio, w}, [](std::span<float> v) { std::fill(v.begin(), v.end(), 0.0f); });
  p.add_norm_weights(b + "compressor.norm.weight", c, l, kCompNorm);
}

}  // namespace gmha::synth_detail
