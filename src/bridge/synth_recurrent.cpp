// synth's recurrent layers: their query and key factors in each family's fused projection
// (synth_layers.hpp, synth.hpp).
#include <algorithm>

#include <Eigen/QR>
#include <fmt/format.h>

#include "gmha/attention/variant.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parallel.hpp"
#include "synth_layers.hpp"  // internal, beside this file

namespace gmha::synth_detail {

void write_recurrent_layer(LayerPlan& p, int64_t l, int64_t decoder, bool second, const AttentionShape& sl) {
  const SynthOptions& o = p.o;
  const uint64_t seed = o.seed;
  const int64_t d = p.d;
  // A KDA layer (Kimi-Linear): q_proj and k_proj [H·d_k, d], each head's rows a planted
  // factor (recurrent_q_rank, recurrent_k_rank); a Gated DeltaNet layer: the same factors
  // in its fused input projection (synth.hpp). No other recurrent tensor is written.
  const bool gdn = sl.recurrent == RecurrentKind::kGatedDeltaNet;
  const bool mamba2 = sl.recurrent == RecurrentKind::kMamba2;
  const bool mamba1 = sl.recurrent == RecurrentKind::kMamba;
  const bool lightning = sl.recurrent == RecurrentKind::kLightning;
  if (sl.recurrent != RecurrentKind::kKda && !gdn && !mamba2 && !mamba1 && !lightning)
    throw InputError(fmt::format("synth: layer {}: only KDA, Gated DeltaNet, Mamba2, Mamba-1 and "
                                 "lightning recurrent layers are written", l));
  if (lightning && sl.state_value_dim != sl.head_dim)
    throw InputError(fmt::format("synth: layer {}: a lightning layer's value width must equal head_dim", l));
  // Query/key heads and their width: KDA's heads, GDN's key heads (d_k), Mamba2's groups
  // (N), Mamba-1's one B and C (N).
  const int64_t hk = gdn || mamba2 ? sl.key_heads : mamba1 ? 1 : sl.heads;
  const int64_t dk = mamba2 || mamba1 ? sl.state_value_dim : sl.head_dim, dv = sl.state_value_dim;
  if (dk > d || dv > d) throw InputError("synth: recurrent head widths must not exceed hidden_size");
  check_rank(o.recurrent_q_rank, o.layers, hk, dk, "recurrent-q-rank");
  check_rank(o.recurrent_k_rank, o.layers, hk, dk, "recurrent-k-rank");
  const std::string b = fmt::format("model.layers.{}.", decoder);
  if (!second) p.add_input_norm(decoder);
  auto plant = [=](std::span<float> v, int64_t row, Role role, int64_t i) {
    auto rng = rng_for(seed, l, role, i);
    const RankPattern& pat = role == kQHead ? o.recurrent_q_rank : o.recurrent_k_rank;
    put(v, d, row, 0, planted_factor(d, dk, pat.rank_of(l, i, hk, dk), rng).transpose());
  };
  // `rows` rows of full-rank noise from `row` (blocks of at most d rows).
  auto noise = [=](std::span<float> v, int64_t row, int64_t rows, int64_t tag) {
    for (int64_t r = 0; r < rows; r += d) {
      auto rng = rng_for(seed, l, kVHead, tag + r);
      const int64_t w = std::min(d, rows - r);
      put(v, d, row + r, 0, planted_factor(d, w, w, rng).transpose());
    }
  };
  if (mamba1) {
    // Jamba's x_proj [dt R, B N, C N] over the inner width I (transformers' split): B and
    // C planted (factors of width I), dt noise; b/c_layernorm all ones, so the audit's
    // diag(γ)·W is the planted factor itself.
    const int64_t I = sl.inner, R = sl.dt_rank, n = dk;
    p.add(b + "mamba.x_proj.weight", {R + 2 * n, I}, [=](std::span<float> v) {
      auto rng = rng_for(seed, l, kVHead, 0);
      put(v, I, 0, 0, planted_factor(I, R, R, rng).transpose());
      for (auto [row, role] : {std::pair{R, kKHead}, std::pair{R + n, kQHead}}) {
        auto r2 = rng_for(seed, l, role, 0);
        const RankPattern& pat = role == kQHead ? o.recurrent_q_rank : o.recurrent_k_rank;
        put(v, I, row, 0, planted_factor(I, n, pat.rank_of(l, 0, 1, n), r2).transpose());
      }
    });
    for (const char* norm : {"mamba.b_layernorm.weight", "mamba.c_layernorm.weight"})
      p.add(b + norm, {n}, [](std::span<float> v) { std::fill(v.begin(), v.end(), 1.0f); });
    return;
  }
  if (mamba2) {
    // in_proj [z I, x I, B G·N, C G·N, dt H] (transformers' Mamba2 split): B planted as the
    // key, C as the query of each group, the rest noise.
    const int64_t I = sl.inner, gn = hk * dk;
    p.add(b + "mamba.in_proj.weight", {2 * I + 2 * gn + sl.heads, d}, [=](std::span<float> v) {
      noise(v, 0, 2 * I, 0);
      parallel_for(hk, 0, [&](int64_t i) {
        plant(v, 2 * I + i * dk, kKHead, i);
        plant(v, 2 * I + gn + i * dk, kQHead, i);
      });
      noise(v, 2 * I + 2 * gn, sl.heads, 1 << 20);
    });
    return;
  }
  if (lightning) {
    // MiniMax's qkv_proj [H·3d_k, d]: per head its q (planted), k (planted), v (noise).
    p.add(b + "self_attn.qkv_proj.weight", {3 * hk * dk, d}, [=](std::span<float> v) {
      parallel_for(hk, 0, [&](int64_t i) {
        plant(v, 3 * i * dk, kQHead, i);
        plant(v, 3 * i * dk + dk, kKHead, i);
        auto rng = rng_for(seed, l, kVHead, i);
        put(v, d, 3 * i * dk + 2 * dk, 0, planted_factor(d, dk, dk, rng).transpose());
      });
    });
    return;
  }
  if (!gdn) {
    for (auto [proj_name, proj_role] : {std::pair{"q_proj", kQHead}, std::pair{"k_proj", kKHead}}) {
      const Role role = proj_role;
      p.add(b + "self_attn." + proj_name + ".weight", {hk * dk, d}, [=](std::span<float> v) {
        parallel_for(hk, 0, [&](int64_t i) { plant(v, i * dk, role, i); });
      });
    }
    return;
  }
  // Rows per key head (Qwen3-Next) or per block (Qwen3.5); `per` value heads per key head.
  const int64_t hv = sl.heads, per = hv / hk;
  const int64_t stride = o.gdn_qkvz ? 2 * dk + 2 * per * dv : dk;
  const int64_t k0 = o.gdn_qkvz ? dk : hk * dk;
  const int64_t rows = o.gdn_qkvz ? hk * stride : 2 * hk * dk + hv * dv;
  p.add(b + "linear_attn." + (o.gdn_qkvz ? "in_proj_qkvz" : "in_proj_qkv") + ".weight", {rows, d},
      [=](std::span<float> v) {
        parallel_for(hk, 0, [&](int64_t i) {
          plant(v, i * stride, kQHead, i);
          plant(v, k0 + i * stride, kKHead, i);
          // This key head's value heads: v (and z) rows of full-rank noise.
          for (int64_t j = 0; j < (o.gdn_qkvz ? 2 : 1) * per; ++j) {
            const int64_t row = o.gdn_qkvz ? i * stride + 2 * dk + j * dv : 2 * hk * dk + (i * per + j) * dv;
            auto rng = rng_for(seed, l, kVHead, i * 2 * per + j);
            put(v, d, row, 0, planted_factor(d, dv, dv, rng).transpose());
          }
        });
      });
}

}  // namespace gmha::synth_detail
