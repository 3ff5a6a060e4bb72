#pragma once
// `gmha audit diff A B` (docs/audit.md, "audit diff"): two checkpoints of one architecture (a BF16
// release and its quantized GGUF, a base model and its fine-tune) compared head by head. For each
// head's QK circuit W_c and VO circuit U_c: σ₁, energy rank and entropy rank of both, and the
// largest principal angles between the top-r left and right singular subspaces of A's and B's
// circuit, r = A's energy rank at p. Per layer a summary; the heads that moved most.
//
// Memory: both checkpoints stream one layer at a time (layer i of A and of B, in float, plus one
// head's double factors per thread), so the peak is about two layers' attention weights.
// Layouts: every layout the audit reads: the MHA/GQA/MQA family (per-head or per-layer q/k norms
// folded in as diag(γ), tied K = V, V heads of another width, gated q_proj), GTA, MLA, GLA, MFA,
// MFA-KR and DeepSeek-V4, each factor formed in d-space through its down-projection; the RoPE
// circuits (qk_rope of MLA, GLA, GTA, V4), V4's output groups, and as circuits against the
// identity recurrent layers' query and key factors (KDA, Gated DeltaNet, Mamba2, Mamba-1,
// lightning) and V4's compressor factors.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gmha/bridge/layout.hpp"
#include "gmha/checkpoint/checkpoint.hpp"

namespace gmha {

/// The figures of one circuit in one checkpoint.
struct CircuitFigures {
  double sigma_1 = 0.0;
  int64_t energy_rank = 0;    // smallest k with Σ_{i≤k} σᵢ² ≥ p·Σσ²
  double entropy_rank = 0.0;  // Roy & Vetterli effective rank
};

/// One circuit of one head in A and in B.
struct CircuitDiff {
  bool finite = true;  // false: a factor of A or B held NaN/Inf; nothing below was computed
  CircuitFigures a, b;
  int64_t r = 0;                  // subspace dimension: A's energy rank at p
  double left_angle_deg = 0.0;    // largest principal angle between the top-r left subspaces
  double right_angle_deg = 0.0;   // ... and between the right ones
  bool b_rank_short = false;      // B's circuit has fewer than r nonzero σ: both angles are 90°
  double change_rel = 0.0;        // ‖W_B − W_A‖₂ / σ₁ᴬ: how far the circuit moved as a matrix
  double gap_rel = 0.0;           // (σ_rᴬ − σ_{r+1}ᴬ) / σ₁ᴬ: how well A's top-r subspace is defined
  std::vector<double> sigma_a, sigma_b;  // both spectra, descending (not written out)
  /// sin of the larger angle: the subspace distance ‖P_A − P_B‖₂ of the side that moved more.
  double distance() const;
  double max_angle_deg() const { return left_angle_deg > right_angle_deg ? left_angle_deg : right_angle_deg; }
};

struct HeadDiff {
  int64_t head = 0, kv_head = 0;
  CircuitDiff qk, vo;
  std::optional<CircuitDiff> qk_rope;  // MLA, GLA, GTA, DeepSeek-V4 with a RoPE part
  bool finite() const { return qk.finite && vo.finite && (!qk_rope || qk_rope->finite); }
  /// The head's largest angle over its circuits and both sides (0 when not finite).
  double max_angle_deg() const;
};

struct LayerDiff {
  int64_t layer = 0;
  bool parallel = false;  // the layer's second mixer (LayerLayout::parallel)
  std::string variant;   // variant_name of the shape
  std::string mixer;     // linear layers: the recurrent kind (recurrent_name)
  bool audited = true;   // false: no softmax circuits (a recurrent layer, an MLP block)
  std::vector<HeadDiff> heads;
  /// DeepSeek-V4: each output group's whole map wo_b_g·wo_a_g (d × heads-per-group·c).
  std::vector<CircuitDiff> output_groups;
  /// Recurrent layers: each query/key head's (Mamba2: group's) factor W (d × d_k) as W·I.
  std::vector<CircuitDiff> recurrent_q, recurrent_k;
  /// DeepSeek-V4's compressor: each half's diag(norm)·wkv_h (c × d) as a factor, W·I.
  std::vector<CircuitDiff> compressor;
  /// "gqa", "linear: Mamba2", "linear: Mamba2 (parallel)": the layer's kind as tables print it.
  std::string kind_label() const;
};

struct AuditDiffReport {
  std::string a, b;                      // paths as given
  std::string a_format, b_format;        // safetensors, gguf, llama2c
  std::string a_architecture, b_architecture;  // model_type of each (not compared)
  int64_t model_layers = 0;
  double energy = 0.99;
  std::vector<LayerDiff> layers;
};

/// Per-layer summary over the layer's finite heads.
/// The means are over the heads' QK and VO circuits; the maxima and counts over every circuit of
/// the layer (heads, RoPE circuits, output groups, recurrent factors).
struct LayerDiffSummary {
  int64_t heads = 0, nonfinite_heads = 0;
  int64_t factors = 0, nonfinite_factors = 0;  // output groups and recurrent factors
  double max_angle_deg = 0.0, mean_qk_angle_deg = 0.0, mean_vo_angle_deg = 0.0;
  double max_rel_sigma_1_change = 0.0;   // max over circuits of |σ₁ᴮ − σ₁ᴬ| / σ₁ᴬ
  double max_change_rel = 0.0;           // max over circuits of ‖W_B − W_A‖₂ / σ₁ᴬ
  double max_abs_entropy_change = 0.0;   // max |entropy rankᴮ − entropy rankᴬ|
  int64_t energy_rank_changes = 0;       // circuits whose energy rank differs
};
LayerDiffSummary summarize_layer(const LayerDiff& layer);

struct AuditDiffOptions {
  double energy = 0.99;
  std::vector<int64_t> layers;  // empty: all
  int threads = 0;              // 0: all cores
  /// Called after each layer with (layers done, layers to do); may be empty.
  std::function<void(int64_t, int64_t)> progress;
};

/// Throws InputError naming what differs (layer count, a layer's kind, heads, KV heads, widths)
/// when A and B are not one architecture, and naming the layer for a layout diff cannot read.
void check_same_architecture(const Layout& a, const std::string& a_name, const Layout& b,
                             const std::string& b_name);

AuditDiffReport diff_checkpoints(const Checkpoint& a, const Layout& la, const Checkpoint& b,
                                 const Layout& lb, const AuditDiffOptions& options);
/// Opens both paths, detects their layouts, checks they match and diffs them.
AuditDiffReport diff_paths(const std::string& a, const std::string& b, const AuditDiffOptions& options);

}  // namespace gmha
