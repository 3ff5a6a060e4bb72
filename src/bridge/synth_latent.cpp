// synth's latent-cache layers: MLA (DeepSeek's names, DSA indexer), GTA and GLA (their reference
// code's names), MFA and MFA-KR (Step-3's) (synth_layers.hpp).
#include <algorithm>

#include <Eigen/QR>
#include <fmt/format.h>

#include "gmha/attention/variant.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parallel.hpp"
#include "synth_layers.hpp"  // internal, beside this file

namespace gmha::synth_detail {

void write_mla_layer(LayerPlan& p, int64_t l, int64_t decoder, bool second, const AttentionShape& m) {
  const SynthOptions& o = p.o;
  const uint64_t seed = o.seed;
  const int64_t d = p.d;
  const int64_t n = m.heads, ql = m.q_lora_rank, C = m.kv_lora_rank, nope = m.qk_nope_dim,
                rope = m.qk_rope_dim, hv = m.v_head_dim, qk = nope + rope;
  if ((ql > 0 && (ql < nope || ql < rope || ql > d)) || C < nope || C < hv || C + rope > d ||
      (ql == 0 && qk > d)) {
    throw InputError(fmt::format("synth: layer {}: MLA construction needs q_lora ≥ nope, rope; kv_lora ≥ "
                                 "nope, v; q_lora and kv_lora + rope ≤ hidden_size", l));
  }
  const int64_t hi = m.index_heads, di = m.index_head_dim;
  if (hi > 0 && (ql == 0 || di < 2 || di - 1 > ql || di > d))
    throw InputError(fmt::format("synth: layer {}: a DSA indexer needs q_lora > 0 and 2 ≤ index_head_dim ≤ "
                                 "q_lora + 1, hidden_size", l));
  const CapacityRanks nom = capacity_ranks(m);
  const int64_t qk_nom = nom.frh, vo_nom = nom.vo_rank;
  check_rank(o.qk_rank, o.layers, n, qk_nom, "qk-rank");
  check_rank(o.vo_rank, o.layers, n, vo_nom, "vo-rank");
  if (hi > 0) check_rank(o.index_rank, o.layers, hi, di - 1, "index-rank");
  const std::string b = fmt::format("model.layers.{}.self_attn.", decoder);
  if (!second) p.add_input_norm(decoder);
  // Query: per head c a nope block and a rope block. With q_lora the block is
  // (U Σ Vᵀ)ᵀ·diag(1/γ_q) with U ql×width (q_a_proj has orthonormal rows); without, q_proj
  // rows are (U Σ Vᵀ)ᵀ with U d×width.
  const int64_t qin = ql > 0 ? ql : d;
  auto q_blocks = [=](std::span<float> v) {
    auto grng = rng_for(seed, l, kQNorm, 0);
    const VectorXd gamma = ql > 0 ? norm_weights(ql, grng) : VectorXd::Ones(qin);
    const VectorXd inv = gamma.cwiseInverse();
    parallel_for(n, 0, [&](int64_t c) {
      auto rng = rng_for(seed, l, kQHead, c);
      put(v, qin, c * qk, 0,
          planted_factor(qin, nope, o.qk_rank.rank_of(l, c, n, qk_nom), rng).transpose() *
              inv.asDiagonal());
      auto rrng = rng_for(seed, l, kQRope, c);
      if (rope > 0)
        put(v, qin, c * qk + nope, 0,
            planted_factor(qin, rope, rope, rrng).transpose() * inv.asDiagonal());
    });
  };
  if (ql > 0) {
    p.add_orthonormal_rows(b + "q_a_proj.weight", ql, d, l, kQDown);
    p.add_norm_weights(b + "q_a_layernorm.weight", ql, l, kQNorm);
    p.add(b + "q_b_proj.weight", {n * qk, ql}, q_blocks);
  } else {
    p.add(b + "q_proj.weight", {n * qk, d}, q_blocks);
  }
  // kv_a_proj_with_mqa [C + rope, d]: orthonormal rows (latent, then the RoPE key).
  p.add(b + "kv_a_proj_with_mqa.weight", {C + rope, d}, [=](std::span<float> v) {
    auto rng = rng_for(seed, l, kKvDown, 0);
    put(v, d, 0, 0, orthonormal(d, C + rope, rng).transpose());
  });
  p.add_norm_weights(b + "kv_a_layernorm.weight", C, l, kKvNorm);
  // kv_b_proj [n·(nope + v), C]: per head key rows Qᵀ·diag(1/γ_kv), then value rows
  // Q'ᵀ·diag(1/γ_kv), Q and Q' with orthonormal columns (C×nope, C×v).
  p.add(b + "kv_b_proj.weight", {n * (nope + hv), C}, [=](std::span<float> v) {
    auto grng = rng_for(seed, l, kKvNorm, 0);
    const VectorXd inv = norm_weights(C, grng).cwiseInverse();
    parallel_for(n, 0, [&](int64_t c) {
      auto krng = rng_for(seed, l, kKHead, c), vrng = rng_for(seed, l, kVHead, c);
      put(v, C, c * (nope + hv), 0, orthonormal(C, nope, krng).transpose() * inv.asDiagonal());
      put(v, C, c * (nope + hv) + nope, 0,
          orthonormal(C, hv, vrng).transpose() * inv.asDiagonal());
    });
  });
  p.add_planted_output(b + "o_proj.weight", l, n, hv, vo_nom);
  if (hi > 0) {
    // DSA indexer (DeepSeek-V3.2 names). Head j's query rows are (U Σ Vᵀ)ᵀ·diag(1/γ_q) with
    // V (d_I × (d_I − 1)) orthonormal and orthogonal to 1, then ·diag(1/γ_k) on the right of
    // the key: wk has orthonormal rows, so the circuit Q_a·F_j·diag(γ_k)·P·W_k has exactly
    // the planted σ (P, the LayerNorm's centring, is the identity on 1's complement).
    p.add(b + "indexer.wq_b.weight", {hi * di, ql}, [=](std::span<float> v) {
      auto grng = rng_for(seed, l, kQNorm, 0), krng = rng_for(seed, l, kIndexNorm, 0);
      const VectorXd inv_q = norm_weights(ql, grng).cwiseInverse();
      const VectorXd inv_k = norm_weights(di, krng).cwiseInverse();
      parallel_for(hi, 0, [&](int64_t j) {
        auto rng = rng_for(seed, l, kIndexQ, j);
        const MatrixXd u = orthonormal(ql, di - 1, rng);
        MatrixXd g = orthonormal(di, di, rng).leftCols(di - 1);
        g -= VectorXd::Ones(di) * (VectorXd::Ones(di).transpose() * g) / static_cast<double>(di);
        const MatrixXd vbasis = Eigen::HouseholderQR<MatrixXd>(g).householderQ() *
                                MatrixXd::Identity(di, di - 1);
        const MatrixXd f = u * planted_sigma(di - 1, o.index_rank.rank_of(l, j, hi, di - 1)).asDiagonal() *
                           vbasis.transpose() * inv_k.asDiagonal();  // ql × d_I
        put(v, ql, j * di, 0, (inv_q.asDiagonal() * f).transpose());
      });
    });
    p.add_orthonormal_rows(b + "indexer.wk.weight", di, d, l, kIndexK);
    p.add_norm_weights(b + "indexer.k_norm.weight", di, l, kIndexNorm);
    p.add(b + "indexer.k_norm.bias", {di}, [](std::span<float> v) {
      std::fill(v.begin(), v.end(), 0.0f);
    });
    p.add_orthonormal_rows(b + "indexer.weights_proj.weight", hi, d, l, kIndexW);
  }
}

void write_gta_layer(LayerPlan& p, int64_t l, const AttentionShape& s) {
  // GTA (modeling_llama_GTA.py): head c's q rows [c·h, c·h + h − d_R) are planted against
  // its group's tied state, kv_proj rows [j·h, (j+1)·h) orthonormal (so QK's σ are the planted
  // ones, and VO's those of o_proj); the last d_R q rows of each head and W_rope_k carry the
  // RoPE circuit at full rank.
  const SynthOptions& o = p.o;
  const uint64_t seed = o.seed;
  const int64_t d = p.d;
  const int64_t n = s.heads;
  const CapacityRanks nominal = capacity_ranks(s);
  const int64_t qk_nom = nominal.frh, vo_nom = nominal.vo_rank;
  const int64_t g = s.kv_heads, h = s.head_dim, rope = s.qk_rope_dim, tied = h - rope;
  const std::string b = fmt::format("model.layers.{}.self_attn.", l);
  p.add_input_norm(l);
  p.add(b + "q_proj.weight", {n * h, d}, [=](std::span<float> v) {
    parallel_for(n, 0, [&](int64_t c) {
      auto rng = rng_for(seed, l, kQHead, c);
      put(v, d, c * h, 0, planted_factor(d, tied, o.qk_rank.rank_of(l, c, n, qk_nom), rng).transpose());
      auto rrng = rng_for(seed, l, kQRope, c);
      if (rope > 0) put(v, d, c * h + tied, 0, planted_factor(d, rope, rope, rrng).transpose());
    });
  });
  // The tied states and the RoPE key, drawn together: orthonormal rows, independent.
  p.add(b + "kv_proj.weight", {g * h, d}, [=](std::span<float> v) {
    auto rng = rng_for(seed, l, kKGroup, 0);
    put(v, d, 0, 0, orthonormal(d, g * h + rope, rng).leftCols(g * h).transpose());
  });
  if (rope > 0) {
    p.add(b + "W_rope_k.weight", {rope, d}, [=](std::span<float> v) {
      auto rng = rng_for(seed, l, kKGroup, 0);
      put(v, d, 0, 0, orthonormal(d, g * h + rope, rng).rightCols(rope).transpose());
    });
  }
  p.add_planted_output(b + "o_proj.weight", l, n, h, vo_nom);
}

void write_gla_layer(LayerPlan& p, int64_t l, const AttentionShape& s) {
  // GLA (modeling_llama_GLA.py): W_dQ orthonormal rows, q_norm γ_q, W_uQ_rope per head a
  // planted nope block and a full RoPE block, both ·diag(1/γ_q); W_dKV orthonormal rows (h_c
  // latents of d_c, then the RoPE key); per latent head g, kv_norm_{g+1} γ_g and W_ukv_{g+1}
  // with each head's key and value rows orthonormal ·diag(1/γ_g). head_dim is nope and v.
  const SynthOptions& o = p.o;
  const uint64_t seed = o.seed;
  const int64_t d = p.d;
  const int64_t n = s.heads;
  const CapacityRanks nominal = capacity_ranks(s);
  const int64_t qk_nom = nominal.frh, vo_nom = nominal.vo_rank;
  const int64_t ql = s.q_lora_rank, hc = s.kv_heads, dc = s.kv_lora_rank, nope = s.qk_nope_dim,
                rope = s.qk_rope_dim, hv = s.v_head_dim, qk = nope + rope, per = n / hc;
  const std::string b = fmt::format("model.layers.{}.self_attn.", l);
  p.add_input_norm(l);
  p.add_orthonormal_rows(b + "W_dQ.weight", ql, d, l, kQDown);
  p.add_norm_weights(b + "q_norm.weight", ql, l, kQNorm);
  p.add(b + "W_uQ_rope.weight", {n * qk, ql}, [=](std::span<float> v) {
    auto grng = rng_for(seed, l, kQNorm, 0);
    const VectorXd inv = norm_weights(ql, grng).cwiseInverse();
    parallel_for(n, 0, [&](int64_t c) {
      auto rng = rng_for(seed, l, kQHead, c), rrng = rng_for(seed, l, kQRope, c);
      put(v, ql, c * qk, 0,
          planted_factor(ql, nope, o.qk_rank.rank_of(l, c, n, qk_nom), rng).transpose() *
              inv.asDiagonal());
      if (rope > 0)
        put(v, ql, c * qk + nope, 0, planted_factor(ql, rope, rope, rrng).transpose() * inv.asDiagonal());
    });
  });
  p.add(b + "W_dKV.weight", {hc * dc + rope, d}, [=](std::span<float> v) {
    auto rng = rng_for(seed, l, kKvDown, 0);
    put(v, d, 0, 0, orthonormal(d, hc * dc + rope, rng).transpose());
  });
  for (int64_t gi = 0; gi < hc; ++gi) {
    p.add(b + fmt::format("kv_norm_{}.weight", gi + 1), {dc}, [=](std::span<float> v) {
      auto rng = rng_for(seed, l, kKvNorm, gi);
      put(v, 1, 0, 0, norm_weights(dc, rng));
    });
    p.add(b + fmt::format("W_ukv_{}.weight", gi + 1), {per * (nope + hv), dc}, [=](std::span<float> v) {
      auto grng = rng_for(seed, l, kKvNorm, gi);
      const VectorXd inv = norm_weights(dc, grng).cwiseInverse();
      parallel_for(per, 0, [&](int64_t i) {
        const int64_t c = gi * per + i;
        auto krng = rng_for(seed, l, kKHead, c), vrng = rng_for(seed, l, kVHead, c);
        put(v, dc, i * (nope + hv), 0, orthonormal(dc, nope, krng).transpose() * inv.asDiagonal());
        put(v, dc, i * (nope + hv) + nope, 0, orthonormal(dc, hv, vrng).transpose() * inv.asDiagonal());
      });
    });
  }
  p.add_planted_output(b + "o_proj.weight", l, n, hv, vo_nom);
}

void write_mfa_layer(LayerPlan& p, int64_t l, const AttentionShape& s, bool key_reuse) {
  const SynthOptions& o = p.o;
  const uint64_t seed = o.seed;
  const int64_t d = p.d;
  const int64_t n = s.heads;
  const CapacityRanks nominal = capacity_ranks(s);
  const int64_t qk_nom = nominal.frh, vo_nom = nominal.vo_rank;
  const int64_t C = s.head_dim, cq = s.q_share_dim > 0 ? s.q_share_dim : C;
  const bool kr = key_reuse;
  const std::string b = fmt::format("model.layers.{}.self_attn.", l);
  p.add_input_norm(l);
  p.add_orthonormal_rows(b + "q_proj.weight", cq, d, l, kSDown);
  p.add_norm_weights(b + "inter_norm.weight", cq, l, kQNorm);
  p.add(b + "wq.weight", {n * C, cq}, [=](std::span<float> v) {
    auto grng = rng_for(seed, l, kQNorm, 0);
    const VectorXd inv = norm_weights(cq, grng).cwiseInverse();
    parallel_for(n, 0, [&](int64_t c) {
      auto rng = rng_for(seed, l, kQHead, c);
      put(v, cq, c * C, 0,
          planted_factor(cq, C, o.qk_rank.rank_of(l, c, n, qk_nom), rng).transpose() *
              inv.asDiagonal());
    });
  });
  // S_K and S_V: orthonormal rows, drawn together so they are independent directions.
  p.add_orthonormal_rows(b + "k_proj.weight", C, d, l, kKGroup);
  if (!kr) {
    p.add_orthonormal_rows(b + "v_proj.weight", C, d, l, kVGroup);
  } else {
    // Key reuse: V = (I + diag(α)·N)·K with α in [0.5, 1] and N = diag(1/α)(O − I) for a
    // random orthogonal O, so the value projection O·S_K has orthonormal rows.
    p.add(b + "kr_n.weight", {C, C}, [=](std::span<float> v) {
      auto arng = rng_for(seed, l, kKrAlpha, 0), orng = rng_for(seed, l, kKrOrtho, 0);
      std::uniform_real_distribution<double> u(0.5, 1.0);
      VectorXd alpha(C);
      for (Index i = 0; i < C; ++i) alpha(i) = u(arng);
      const MatrixXd ortho = orthonormal(C, C, orng);
      put(v, C, 0, 0, alpha.cwiseInverse().asDiagonal() * (ortho - MatrixXd::Identity(C, C)));
    });
    p.add(b + "kr_alpha", {C}, [=](std::span<float> v) {
      auto arng = rng_for(seed, l, kKrAlpha, 0);
      std::uniform_real_distribution<double> u(0.5, 1.0);
      for (Index i = 0; i < C; ++i) v[static_cast<size_t>(i)] = static_cast<float>(u(arng));
    });
  }
  p.add_planted_output(b + "o_proj.weight", l, n, C, vo_nom);
}

}  // namespace gmha::synth_detail
