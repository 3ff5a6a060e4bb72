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
#include "synth_quant.hpp"  // internal, beside this file

namespace gmha {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr double kSigmaMin = 0.3;  // planted σ run linearly from 1 down to 0.3·σ₁

// splitmix64: decorrelates the seeds of the per-tensor generators.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// One generator per (seed, layer, role, index), so every tensor is reproducible on its own and
// the order in which tensors are generated does not matter.
std::mt19937_64 rng_for(uint64_t seed, int64_t layer, int role, int64_t index) {
  return std::mt19937_64(mix(mix(mix(seed) ^ static_cast<uint64_t>(layer)) ^
                             (static_cast<uint64_t>(role) << 32) ^ static_cast<uint64_t>(index)));
}

// rows×cols with orthonormal columns (rows ≥ cols), from a Gaussian matrix.
MatrixXd orthonormal(Index rows, Index cols, std::mt19937_64& rng) {
  std::normal_distribution<double> n(0.0, 1.0);
  MatrixXd g(rows, cols);
  for (Index i = 0; i < g.size(); ++i) g.data()[i] = n(rng);
  if (rows >= 4 * cols) {
    // Tall Gaussian matrices have κ close to 1: Cholesky-QR is exact to rounding and fast.
    Eigen::LLT<MatrixXd> llt(g.transpose() * g);
    return llt.matrixU().solve<Eigen::OnTheRight>(g);
  }
  Eigen::HouseholderQR<MatrixXd> qr(g);
  return qr.householderQ() * MatrixXd::Identity(rows, cols);
}

// σ of a circuit of width `width` planted at `rank`: linear from 1 to 0.3, then zeros.
VectorXd planted_sigma(Index width, int64_t rank) {
  VectorXd s = VectorXd::Zero(width);
  for (Index i = 0; i < rank; ++i) s(i) = rank == 1 ? 1.0 : 1.0 - (1.0 - kSigmaMin) * i / (rank - 1);
  return s;
}

// A rows×width factor U·diag(σ)·Vᵀ with the planted spectrum.
MatrixXd planted_factor(Index rows, Index width, int64_t rank, std::mt19937_64& rng) {
  const MatrixXd u = orthonormal(rows, width, rng);
  const MatrixXd v = orthonormal(width, width, rng);
  return u * planted_sigma(width, rank).asDiagonal() * v.transpose();
}

// RMSNorm weights γ in [0.5, 2] (log-uniform).
VectorXd norm_weights(Index n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(std::log(0.5), std::log(2.0));
  VectorXd g(n);
  for (Index i = 0; i < n; ++i) g(i) = std::exp(u(rng));
  return g;
}

// Roles of the per-tensor generators.
enum Role { kQHead = 1, kKGroup, kVGroup, kOHead, kQDown, kQNorm, kKvDown, kKvNorm, kKHead, kVHead,
            kQRope, kSDown, kKrAlpha, kKrOrtho, kGate, kSinks, kIndexQ, kIndexK, kIndexNorm,
            kIndexW };

// Copies `m` (rows×cols, any storage) into the row-major float block at (r0, c0) of `out`
// (out_cols wide).
void put(std::span<float> out, Index out_cols, Index r0, Index c0, const MatrixXd& m) {
  for (Index i = 0; i < m.rows(); ++i)
    for (Index j = 0; j < m.cols(); ++j)
      out[static_cast<size_t>((r0 + i) * out_cols + c0 + j)] = static_cast<float>(m(i, j));
}

void check_rank(const RankPattern& p, int64_t layers, int64_t heads, int64_t nominal,
                const char* flag) {
  for (int64_t r : p.ranks) {
    if (r < -1 || r > nominal) {
      throw errors::bad_option(
          flag, fmt::format("planted rank {} is outside 0..{} (the nominal rank)", r, nominal));
    }
  }
  (void)layers;
  (void)heads;
}

}  // namespace

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
  const uint64_t seed = o.seed;
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<int64_t> shape,
                 std::function<void(std::span<float>)> fill) {
    tensors.push_back({name, dt, std::move(shape), std::move(fill)});
  };
  nlohmann::ordered_json config;
  const std::string torch_dtype = dt == "F32" ? "float32" : "bfloat16";

  // One MLA layer in DeepSeek's names (with its DSA indexer when m has one): entry l of the
  // options (its generators and rank patterns), the checkpoint's layers.`decoder`, with the input
  // norm unless it is a second mixer. The uniform deepseek_v3 layout and mixed llama stacks
  // (Kimi-Linear's MLA beside KDA) both write through it.
  auto mla_layer = [&](int64_t l, int64_t decoder, bool second, const AttentionShape& m) {
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
    if (!second)
      add(fmt::format("model.layers.{}.input_layernorm.weight", decoder), {d},
          [](std::span<float> v) { std::fill(v.begin(), v.end(), 1.0f); });
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
      add(b + "q_a_proj.weight", {ql, d}, [=](std::span<float> v) {
        auto rng = rng_for(seed, l, kQDown, 0);
        put(v, d, 0, 0, orthonormal(d, ql, rng).transpose());
      });
      add(b + "q_a_layernorm.weight", {ql}, [=](std::span<float> v) {
        auto rng = rng_for(seed, l, kQNorm, 0);
        put(v, 1, 0, 0, norm_weights(ql, rng));
      });
      add(b + "q_b_proj.weight", {n * qk, ql}, q_blocks);
    } else {
      add(b + "q_proj.weight", {n * qk, d}, q_blocks);
    }
    // kv_a_proj_with_mqa [C + rope, d]: orthonormal rows (latent, then the RoPE key).
    add(b + "kv_a_proj_with_mqa.weight", {C + rope, d}, [=](std::span<float> v) {
      auto rng = rng_for(seed, l, kKvDown, 0);
      put(v, d, 0, 0, orthonormal(d, C + rope, rng).transpose());
    });
    add(b + "kv_a_layernorm.weight", {C}, [=](std::span<float> v) {
      auto rng = rng_for(seed, l, kKvNorm, 0);
      put(v, 1, 0, 0, norm_weights(C, rng));
    });
    // kv_b_proj [n·(nope + v), C]: per head key rows Qᵀ·diag(1/γ_kv), then value rows
    // Q'ᵀ·diag(1/γ_kv), Q and Q' with orthonormal columns (C×nope, C×v).
    add(b + "kv_b_proj.weight", {n * (nope + hv), C}, [=](std::span<float> v) {
      auto grng = rng_for(seed, l, kKvNorm, 0);
      const VectorXd inv = norm_weights(C, grng).cwiseInverse();
      parallel_for(n, 0, [&](int64_t c) {
        auto krng = rng_for(seed, l, kKHead, c), vrng = rng_for(seed, l, kVHead, c);
        put(v, C, c * (nope + hv), 0, orthonormal(C, nope, krng).transpose() * inv.asDiagonal());
        put(v, C, c * (nope + hv) + nope, 0,
            orthonormal(C, hv, vrng).transpose() * inv.asDiagonal());
      });
    });
    add(b + "o_proj.weight", {d, n * hv}, [=](std::span<float> v) {
      parallel_for(n, 0, [&](int64_t c) {
        auto rng = rng_for(seed, l, kOHead, c);
        put(v, n * hv, 0, c * hv, planted_factor(d, hv, o.vo_rank.rank_of(l, c, n, vo_nom), rng));
      });
    });
    if (hi > 0) {
      // DSA indexer (DeepSeek-V3.2 names). Head j's query rows are (U Σ Vᵀ)ᵀ·diag(1/γ_q) with
      // V (d_I × (d_I − 1)) orthonormal and orthogonal to 1, then ·diag(1/γ_k) on the right of
      // the key: wk has orthonormal rows, so the circuit Q_a·F_j·diag(γ_k)·P·W_k has exactly
      // the planted σ (P, the LayerNorm's centring, is the identity on 1's complement).
      add(b + "indexer.wq_b.weight", {hi * di, ql}, [=](std::span<float> v) {
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
      add(b + "indexer.wk.weight", {di, d}, [=](std::span<float> v) {
        auto rng = rng_for(seed, l, kIndexK, 0);
        put(v, d, 0, 0, orthonormal(d, di, rng).transpose());
      });
      add(b + "indexer.k_norm.weight", {di}, [=](std::span<float> v) {
        auto rng = rng_for(seed, l, kIndexNorm, 0);
        put(v, 1, 0, 0, norm_weights(di, rng));
      });
      add(b + "indexer.k_norm.bias", {di}, [](std::span<float> v) {
        std::fill(v.begin(), v.end(), 0.0f);
      });
      add(b + "indexer.weights_proj.weight", {hi, d}, [=](std::span<float> v) {
        auto rng = rng_for(seed, l, kIndexW, 0);
        put(v, d, 0, 0, orthonormal(d, hi, rng).transpose());
      });
    }
  };

  switch (o.layout) {
    case SynthLayout::kLlama: {
      if (!o.layer_shapes.empty() && static_cast<int64_t>(o.layer_shapes.size()) != o.layers)
        throw InputError(fmt::format("synth: {} layer shapes for {} layers", o.layer_shapes.size(),
                                     o.layers));
      config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
                {"hidden_size", d}, {"intermediate_size", ffn},
                {"num_hidden_layers", o.layers}, {"num_attention_heads", n},
                {"num_key_value_heads", s.kv_heads}, {"head_dim", s.head_dim}};
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
        // The layer's input norm, once per decoder layer.
        auto input_norm = [&](const std::string& b) {
          if (second) return;
          add(b + "input_layernorm.weight", {d}, [](std::span<float> v) { std::fill(v.begin(), v.end(), 1.0f); });
        };
        validate_shape(sl, fmt::format("synth: layer {}", l));
        if (sl.d_model != d) throw InputError(fmt::format("synth: layer {} has another hidden size", l));
        if (sl.variant == Variant::kMla) {  // beside other kinds (Kimi-Linear)
          mla_layer(l, decoder, second, sl);
          continue;
        }
        if (sl.variant == Variant::kLinear) {
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
          input_norm(b);
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
            add(b + "mamba.x_proj.weight", {R + 2 * n, I}, [=](std::span<float> v) {
              auto rng = rng_for(seed, l, kVHead, 0);
              put(v, I, 0, 0, planted_factor(I, R, R, rng).transpose());
              for (auto [row, role] : {std::pair{R, kKHead}, std::pair{R + n, kQHead}}) {
                auto r2 = rng_for(seed, l, role, 0);
                const RankPattern& pat = role == kQHead ? o.recurrent_q_rank : o.recurrent_k_rank;
                put(v, I, row, 0, planted_factor(I, n, pat.rank_of(l, 0, 1, n), r2).transpose());
              }
            });
            for (const char* norm : {"mamba.b_layernorm.weight", "mamba.c_layernorm.weight"})
              add(b + norm, {n}, [](std::span<float> v) { std::fill(v.begin(), v.end(), 1.0f); });
            continue;
          }
          if (mamba2) {
            // in_proj [z I, x I, B G·N, C G·N, dt H] (transformers' Mamba2 split): B planted as the
            // key, C as the query of each group, the rest noise.
            const int64_t I = sl.inner, gn = hk * dk;
            add(b + "mamba.in_proj.weight", {2 * I + 2 * gn + sl.heads, d}, [=](std::span<float> v) {
              noise(v, 0, 2 * I, 0);
              parallel_for(hk, 0, [&](int64_t i) {
                plant(v, 2 * I + i * dk, kKHead, i);
                plant(v, 2 * I + gn + i * dk, kQHead, i);
              });
              noise(v, 2 * I + 2 * gn, sl.heads, 1 << 20);
            });
            continue;
          }
          if (lightning) {
            // MiniMax's qkv_proj [H·3d_k, d]: per head its q (planted), k (planted), v (noise).
            add(b + "self_attn.qkv_proj.weight", {3 * hk * dk, d}, [=](std::span<float> v) {
              parallel_for(hk, 0, [&](int64_t i) {
                plant(v, 3 * i * dk, kQHead, i);
                plant(v, 3 * i * dk + dk, kKHead, i);
                auto rng = rng_for(seed, l, kVHead, i);
                put(v, d, 3 * i * dk + 2 * dk, 0, planted_factor(d, dk, dk, rng).transpose());
              });
            });
            continue;
          }
          if (!gdn) {
            for (auto [proj_name, proj_role] : {std::pair{"q_proj", kQHead}, std::pair{"k_proj", kKHead}}) {
              const Role role = proj_role;
              add(b + "self_attn." + proj_name + ".weight", {hk * dk, d}, [=](std::span<float> v) {
                parallel_for(hk, 0, [&](int64_t i) { plant(v, i * dk, role, i); });
              });
            }
            continue;
          }
          // Rows per key head (Qwen3-Next) or per block (Qwen3.5); `per` value heads per key head.
          const int64_t hv = sl.heads, per = hv / hk;
          const int64_t stride = o.gdn_qkvz ? 2 * dk + 2 * per * dv : dk;
          const int64_t k0 = o.gdn_qkvz ? dk : hk * dk;
          const int64_t rows = o.gdn_qkvz ? hk * stride : 2 * hk * dk + hv * dv;
          add(b + "linear_attn." + (o.gdn_qkvz ? "in_proj_qkvz" : "in_proj_qkv") + ".weight", {rows, d},
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
          continue;
        }
        if (sl.o_lora_rank > 0) {
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
          auto full = [=](const std::string& name, int64_t rows, int64_t cols, Role role) {
            add(b + name, {rows, cols}, [=](std::span<float> v) {
              auto rng = rng_for(seed, l, role, 0);
              // Full rank either way round (planted_factor needs rows >= width).
              if (rows <= cols) put(v, cols, 0, 0, planted_factor(cols, rows, rows, rng).transpose());
              else put(v, cols, 0, 0, planted_factor(rows, cols, cols, rng));
            });
          };
          auto norm = [=](const std::string& name, int64_t size, Role role) {
            add(b + name, {size}, [=](std::span<float> v) {
              auto rng = rng_for(seed, l, role, 0);
              const VectorXd g = norm_weights(size, rng);
              for (int64_t i = 0; i < size; ++i) v[static_cast<size_t>(i)] = static_cast<float>(g(i));
            });
          };
          full("wq_a.weight", ql, d, kQDown);
          norm("q_norm.weight", ql, kQNorm);
          add(b + "wq_b.weight", {nl * c, ql}, [=](std::span<float> v) {
            parallel_for(nl, 0, [&](int64_t i) {
              auto rng = rng_for(seed, l, kQHead, i);
              put(v, ql, i * c, 0, planted_factor(ql, nope, o.qk_rank.rank_of(l, i, nl, nom_l.frh), rng).transpose());
              if (rope > 0) put(v, ql, i * c + nope, 0, planted_factor(ql, rope, rope, rng).transpose());
            });
          });
          full("wkv.weight", c, d, kKvDown);
          norm("kv_norm.weight", c, kKvNorm);
          add(b + "wo_a.weight", {G * R, nl * c / G}, [=](std::span<float> v) {
            parallel_for(nl, 0, [&](int64_t i) {
              auto rng = rng_for(seed, l, kOHead, i);
              put(v, per * c, (i / per) * R, (i % per) * c,
                  planted_factor(R, c, o.vo_rank.rank_of(l, i, nl, nom_l.vo_rank), rng));
            });
          });
          // wo_b [d, G·R]: each group's R columns orthonormal (drawn per group: G·R may exceed d,
          // as in V4-Flash's 8 × 1024 over d = 4096), so group g's map has wo_a_g's σ.
          add(b + "wo_b.weight", {d, G * R}, [=](std::span<float> v) {
            parallel_for(G, 0, [&](int64_t g) {
              auto rng = rng_for(seed, l, kSDown, g);
              put(v, G * R, 0, g * R, orthonormal(d, R, rng));
            });
          });
          add(b + "attn_sink", {nl}, [](std::span<float> v) { std::fill(v.begin(), v.end(), 0.5f); });
          continue;
        }
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
        input_norm(b);
        // q_proj [n·h, d]: head c rows are A_cᵀ = (U Σ Vᵀ)ᵀ, A_c d×h planted.
        add(b + "self_attn.q_proj.weight", {nl * qs, d}, [=](std::span<float> v) {
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
          add(b + "self_attn." + name + ".weight", {g * w, d}, [=](std::span<float> v) {
            parallel_for(g, 0, [&](int64_t j) {
              auto rng = rng_for(seed, l, role, j);
              put(v, d, j * w, 0, orthonormal(d, w, rng).transpose());
            });
          });
        }
        // o_proj [d, n·hv]: head c columns are Wo_c = U Σ Vᵀ (d×hv), the VO circuit's own factor.
        add(b + "self_attn.o_proj.weight", {d, nl * hv}, [=](std::span<float> v) {
          parallel_for(nl, 0, [&](int64_t c) {
            auto rng = rng_for(seed, l, kOHead, c);
            put(v, nl * hv, 0, c * hv, planted_factor(d, hv, o.vo_rank.rank_of(l, c, nl, nom_l.vo_rank), rng));
          });
        });
        // Biases (zeros: a circuit ignores them) and q/k norm weights (ones) where the shape has them.
        auto constant = [&](const std::string& name, int64_t size, float value) {
          add(b + "self_attn." + name, {size}, [value](std::span<float> v) { std::fill(v.begin(), v.end(), value); });
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
          add(b + "self_attn.g_proj.weight", {nl, d}, [=](std::span<float> v) {
            auto rng = rng_for(seed, l, kGate, 0);
            put(v, d, 0, 0, orthonormal(d, nl, rng).transpose());
          });
        }
        if (sl.sinks) {
          add(b + "self_attn.sinks", {nl}, [=](std::span<float> v) {
            auto rng = rng_for(seed, l, kSinks, 0);
            std::normal_distribution<double> z(0.0, 1.0);
            for (float& x : v) x = static_cast<float>(z(rng));
          });
        }
      }
      break;
    }
    case SynthLayout::kGta: {
      // GTA (modeling_llama_GTA.py): head c's q rows [c·h, c·h + h − d_R) are planted against
      // its group's tied state, kv_proj rows [j·h, (j+1)·h) orthonormal (so QK's σ are the planted
      // ones, and VO's those of o_proj); the last d_R q rows of each head and W_rope_k carry the
      // RoPE circuit at full rank.
      const int64_t g = s.kv_heads, h = s.head_dim, rope = s.qk_rope_dim, tied = h - rope;
      if (g * h + rope > d) throw InputError("synth: GTA construction needs kv_heads·head_dim + rope ≤ hidden_size");
      config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
                {"hidden_size", d}, {"intermediate_size", ffn},
                {"num_hidden_layers", o.layers}, {"num_attention_heads", n},
                {"num_key_value_heads", g}, {"head_dim", h}, {"rope_dim", rope}};
      for (int64_t l = 0; l < o.layers; ++l) {
        const std::string b = fmt::format("model.layers.{}.self_attn.", l);
        add(fmt::format("model.layers.{}.input_layernorm.weight", l), {d},
            [](std::span<float> v) { std::fill(v.begin(), v.end(), 1.0f); });
        add(b + "q_proj.weight", {n * h, d}, [=](std::span<float> v) {
          parallel_for(n, 0, [&](int64_t c) {
            auto rng = rng_for(seed, l, kQHead, c);
            put(v, d, c * h, 0, planted_factor(d, tied, o.qk_rank.rank_of(l, c, n, qk_nom), rng).transpose());
            auto rrng = rng_for(seed, l, kQRope, c);
            if (rope > 0) put(v, d, c * h + tied, 0, planted_factor(d, rope, rope, rrng).transpose());
          });
        });
        // The tied states and the RoPE key, drawn together: orthonormal rows, independent.
        add(b + "kv_proj.weight", {g * h, d}, [=](std::span<float> v) {
          auto rng = rng_for(seed, l, kKGroup, 0);
          put(v, d, 0, 0, orthonormal(d, g * h + rope, rng).leftCols(g * h).transpose());
        });
        if (rope > 0) {
          add(b + "W_rope_k.weight", {rope, d}, [=](std::span<float> v) {
            auto rng = rng_for(seed, l, kKGroup, 0);
            put(v, d, 0, 0, orthonormal(d, g * h + rope, rng).rightCols(rope).transpose());
          });
        }
        add(b + "o_proj.weight", {d, n * h}, [=](std::span<float> v) {
          parallel_for(n, 0, [&](int64_t c) {
            auto rng = rng_for(seed, l, kOHead, c);
            put(v, n * h, 0, c * h, planted_factor(d, h, o.vo_rank.rank_of(l, c, n, vo_nom), rng));
          });
        });
      }
      break;
    }
    case SynthLayout::kGla: {
      // GLA (modeling_llama_GLA.py): W_dQ orthonormal rows, q_norm γ_q, W_uQ_rope per head a
      // planted nope block and a full RoPE block, both ·diag(1/γ_q); W_dKV orthonormal rows (h_c
      // latents of d_c, then the RoPE key); per latent head g, kv_norm_{g+1} γ_g and W_ukv_{g+1}
      // with each head's key and value rows orthonormal ·diag(1/γ_g). head_dim is nope and v.
      const int64_t ql = s.q_lora_rank, hc = s.kv_heads, dc = s.kv_lora_rank, nope = s.qk_nope_dim,
                    rope = s.qk_rope_dim, hv = s.v_head_dim, qk = nope + rope, per = n / hc;
      if (nope != hv)
        throw InputError("synth: the GLA reference layout has one head_dim: nope and v must be equal");
      if (ql < nope || ql < rope || ql > d || dc < nope || hc * dc + rope > d)
        throw InputError("synth: GLA construction needs q_lora ≥ nope, rope; kv_lora ≥ nope; "
                         "q_lora and hc·kv_lora + rope ≤ hidden_size");
      config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
                {"hidden_size", d}, {"intermediate_size", ffn},
                {"num_hidden_layers", o.layers}, {"num_attention_heads", n},
                {"num_key_value_heads", n}, {"head_dim", nope}, {"qk_rope_dim", rope}};
      for (int64_t l = 0; l < o.layers; ++l) {
        const std::string b = fmt::format("model.layers.{}.self_attn.", l);
        add(fmt::format("model.layers.{}.input_layernorm.weight", l), {d},
            [](std::span<float> v) { std::fill(v.begin(), v.end(), 1.0f); });
        add(b + "W_dQ.weight", {ql, d}, [=](std::span<float> v) {
          auto rng = rng_for(seed, l, kQDown, 0);
          put(v, d, 0, 0, orthonormal(d, ql, rng).transpose());
        });
        add(b + "q_norm.weight", {ql}, [=](std::span<float> v) {
          auto rng = rng_for(seed, l, kQNorm, 0);
          put(v, 1, 0, 0, norm_weights(ql, rng));
        });
        add(b + "W_uQ_rope.weight", {n * qk, ql}, [=](std::span<float> v) {
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
        add(b + "W_dKV.weight", {hc * dc + rope, d}, [=](std::span<float> v) {
          auto rng = rng_for(seed, l, kKvDown, 0);
          put(v, d, 0, 0, orthonormal(d, hc * dc + rope, rng).transpose());
        });
        for (int64_t gi = 0; gi < hc; ++gi) {
          add(b + fmt::format("kv_norm_{}.weight", gi + 1), {dc}, [=](std::span<float> v) {
            auto rng = rng_for(seed, l, kKvNorm, gi);
            put(v, 1, 0, 0, norm_weights(dc, rng));
          });
          add(b + fmt::format("W_ukv_{}.weight", gi + 1), {per * (nope + hv), dc}, [=](std::span<float> v) {
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
        add(b + "o_proj.weight", {d, n * hv}, [=](std::span<float> v) {
          parallel_for(n, 0, [&](int64_t c) {
            auto rng = rng_for(seed, l, kOHead, c);
            put(v, n * hv, 0, c * hv, planted_factor(d, hv, o.vo_rank.rank_of(l, c, n, vo_nom), rng));
          });
        });
      }
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
      for (int64_t l = 0; l < o.layers; ++l) mla_layer(l, l, false, s);
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
      for (int64_t l = 0; l < o.layers; ++l) {
        const std::string b = fmt::format("model.layers.{}.self_attn.", l);
        add(fmt::format("model.layers.{}.input_layernorm.weight", l), {d},
            [](std::span<float> v) { std::fill(v.begin(), v.end(), 1.0f); });
        add(b + "q_proj.weight", {cq, d}, [=](std::span<float> v) {
          auto rng = rng_for(seed, l, kSDown, 0);
          put(v, d, 0, 0, orthonormal(d, cq, rng).transpose());
        });
        add(b + "inter_norm.weight", {cq}, [=](std::span<float> v) {
          auto rng = rng_for(seed, l, kQNorm, 0);
          put(v, 1, 0, 0, norm_weights(cq, rng));
        });
        add(b + "wq.weight", {n * C, cq}, [=](std::span<float> v) {
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
        add(b + "k_proj.weight", {C, d}, [=](std::span<float> v) {
          auto rng = rng_for(seed, l, kKGroup, 0);
          put(v, d, 0, 0, orthonormal(d, C, rng).transpose());
        });
        if (!kr) {
          add(b + "v_proj.weight", {C, d}, [=](std::span<float> v) {
            auto rng = rng_for(seed, l, kVGroup, 0);
            put(v, d, 0, 0, orthonormal(d, C, rng).transpose());
          });
        } else {
          // Key reuse: V = (I + diag(α)·N)·K with α in [0.5, 1] and N = diag(1/α)(O − I) for a
          // random orthogonal O, so the value projection O·S_K has orthonormal rows.
          add(b + "kr_n.weight", {C, C}, [=](std::span<float> v) {
            auto arng = rng_for(seed, l, kKrAlpha, 0), orng = rng_for(seed, l, kKrOrtho, 0);
            std::uniform_real_distribution<double> u(0.5, 1.0);
            VectorXd alpha(C);
            for (Index i = 0; i < C; ++i) alpha(i) = u(arng);
            const MatrixXd ortho = orthonormal(C, C, orng);
            put(v, C, 0, 0, alpha.cwiseInverse().asDiagonal() * (ortho - MatrixXd::Identity(C, C)));
          });
          add(b + "kr_alpha", {C}, [=](std::span<float> v) {
            auto arng = rng_for(seed, l, kKrAlpha, 0);
            std::uniform_real_distribution<double> u(0.5, 1.0);
            for (Index i = 0; i < C; ++i) v[static_cast<size_t>(i)] = static_cast<float>(u(arng));
          });
        }
        add(b + "o_proj.weight", {d, n * C}, [=](std::span<float> v) {
          parallel_for(n, 0, [&](int64_t c) {
            auto rng = rng_for(seed, l, kOHead, c);
            put(v, n * C, 0, c * C, planted_factor(d, C, o.vo_rank.rank_of(l, c, n, vo_nom), rng));
          });
        });
      }
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

  SynthPlan plan{std::move(config), std::move(tensors), {}, {}, {}, 0};
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
