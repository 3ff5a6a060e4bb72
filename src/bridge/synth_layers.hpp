#pragma once
// Internal to the bridge area: synth's layer writers (one file per family of layouts) and what
// they share: the per-tensor generators, the planted factors (docs/audit.md, "gmha synth") and
// the tensor list of a plan (synth.cpp builds the plan and its config.json).
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "gmha/bridge/synth.hpp"
#include "gmha/checkpoint/safetensors_writer.hpp"

namespace gmha::synth_detail {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

/// One generator per (seed, layer, role, index), so every tensor is reproducible on its own and
/// the order in which tensors are generated does not matter.
std::mt19937_64 rng_for(uint64_t seed, int64_t layer, int role, int64_t index);
/// rows×cols with orthonormal columns (rows ≥ cols), from a Gaussian matrix.
MatrixXd orthonormal(Index rows, Index cols, std::mt19937_64& rng);
/// σ of a circuit of width `width` planted at `rank`: linear from 1 to 0.3, then zeros.
VectorXd planted_sigma(Index width, int64_t rank);
/// A rows×width factor U·diag(σ)·Vᵀ with the planted spectrum.
MatrixXd planted_factor(Index rows, Index width, int64_t rank, std::mt19937_64& rng);
/// RMSNorm weights γ in [0.5, 2] (log-uniform).
VectorXd norm_weights(Index n, std::mt19937_64& rng);
/// Copies `m` into the row-major float block at (r0, c0) of `out` (out_cols wide).
void put(std::span<float> out, Index out_cols, Index r0, Index c0, const MatrixXd& m);
/// Throws naming `flag` when a planted rank of `p` is outside 0..nominal.
void check_rank(const RankPattern& p, int64_t layers, int64_t heads, int64_t nominal, const char* flag);

/// Roles of the per-tensor generators.
enum Role { kQHead = 1, kKGroup, kVGroup, kOHead, kQDown, kQNorm, kKvDown, kKvNorm, kKHead, kVHead,
            kQRope, kSDown, kKrAlpha, kKrOrtho, kGate, kSinks, kIndexQ, kIndexK, kIndexNorm,
            kIndexW, kCompKv, kCompGate, kCompNorm };

/// The tensors of a plan, each with the fill that generates it when the writer reaches it.
/// `o` outlives the plan (write_synth_checkpoint and synth_checkpoint_size hold it).
struct LayerPlan {
  const SynthOptions& o;
  int64_t d = 0;
  std::string dtype;  // "F32" or "BF16": the planted floats (quantized dtypes encode them later)
  std::vector<TensorToWrite> tensors;
  void add(const std::string& name, std::vector<int64_t> shape, std::function<void(std::span<float>)> fill);
  /// The pre-attention RMSNorm of checkpoint layer `layer` ([d], ones: not part of a circuit).
  void add_input_norm(int64_t layer);
  /// An output projection [d, heads·width] of entry l: head c's columns U·Σ·Vᵀ planted at
  /// o.vo_rank (nominal `nominal`), the VO circuit's own factor.
  void add_planted_output(const std::string& name, int64_t l, int64_t heads, int64_t width, int64_t nominal);
  /// A shared factor [rows, cols] of entry l with orthonormal rows (rows ≤ cols), from generator
  /// (l, role, 0): down-projections and latents, whose σ are all 1.
  void add_orthonormal_rows(const std::string& name, int64_t rows, int64_t cols, int64_t l, Role role);
  /// RMSNorm weights [size] of entry l in [0.5, 2], from generator (l, role, 0): the up-projection
  /// that reads them divides them out with the same generator.
  void add_norm_weights(const std::string& name, int64_t size, int64_t l, Role role);
};

// The writers of one layer: entry l of the options (its generators and rank patterns), stored
// as the checkpoint's layers.`decoder`, with its input norm unless it is a second mixer of that
// layer. Each throws InputError for a shape its construction cannot plant.
/// A GQA-family layer (llama names: gates, sinks, K = V, biases, q/k norms).
void write_gqa_layer(LayerPlan& p, int64_t l, int64_t decoder, bool second, const AttentionShape& sl);
/// DeepSeek-V4's attention (attn. names): compressed query, K = V latent, grouped output LoRA,
/// and on a compressed layer (compress_ratio > 0) its compressor.
void write_v4_layer(LayerPlan& p, int64_t l, int64_t decoder, const AttentionShape& sl, int64_t compress_ratio);
/// A recurrent layer's query and key factors (KDA, Gated DeltaNet, Mamba2, Mamba-1, lightning).
void write_recurrent_layer(LayerPlan& p, int64_t l, int64_t decoder, bool second, const AttentionShape& sl);
/// MLA in DeepSeek's names, with its DSA indexer when the shape has one.
void write_mla_layer(LayerPlan& p, int64_t l, int64_t decoder, bool second, const AttentionShape& m);
/// GTA and GLA in their reference code's names, MFA (and MFA-KR) in Step-3's.
void write_gta_layer(LayerPlan& p, int64_t l, const AttentionShape& s);
void write_gla_layer(LayerPlan& p, int64_t l, const AttentionShape& s);
void write_mfa_layer(LayerPlan& p, int64_t l, const AttentionShape& s, bool key_reuse);

}  // namespace gmha::synth_detail
