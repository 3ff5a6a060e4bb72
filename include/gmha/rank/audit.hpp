#pragma once
// The rank audit of a checkpoint (docs/audit.md): for every layer and head, the spectra of the QK
// circuit W_c and the VO circuit U_c from thin factors (spectrum.hpp), their four metrics
// (metrics.hpp), and per layer the nominal FRH / SLSD / TER beside the measured ones.
//
// Layouts: MHA/GQA/MQA (with tied K = V, gates, sinks, per-layer widths), MLA (the nope circuit;
// the RoPE circuit apart as qk_rope; the DSA indexer as its own circuits), GTA, GLA, MFA and
// MFA-KR, as the checkpoint's layout detector names their factors (docs/audit.md, "Layouts"). RMSNorm weights between a down- and an
// up-projection (MLA's q_a/kv_a layernorms, MFA's inter_norm, Qwen3's per-head q/k norms) fold in
// as diag(γ); biases, the layer's input norm, RoPE and the softmax scale are not part of a circuit.
//
// Memory: layers are streamed one at a time. A layer's attention tensors are converted to float
// (F64 tensors to double), the reader drops their file pages as it goes, and everything is freed
// before the next layer: the peak is about one layer's attention weights in float plus 8·d·r
// bytes per thread (Llama-3-8B: ~170 MB + 2 × 4 MB; DeepSeek-V3: ~760 MB).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gmha/attention/variant.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/rank/metrics.hpp"

namespace gmha {

/// One circuit (a head's QK, VO or MLA RoPE-QK matrix).
struct CircuitAudit {
  int64_t nominal_rank = 0;   // the smallest inner width of the product (docs/audit.md)
  RankMetrics metrics;        // all 0 when !finite
  std::vector<double> sigma;  // nominal_rank singular values, descending
  bool finite = true;         // false: a factor held NaN/Inf, nothing was computed
  double rank_tol = 0.0;      // τ this circuit's numerical rank used (relative to its σ₁)
};

struct HeadAudit {
  int64_t head = 0;
  int64_t kv_head = 0;  // the KV group (GQA); 0 for MLA/MFA (one shared stream)
  CircuitAudit qk, vo;
  std::optional<CircuitAudit> qk_rope;  // MLA only, not part of TER
  bool qk_below_nominal = false, vo_below_nominal = false;
  // Dead: no σ above the circuit's noise (noise-aware τ), or σ₁ ≤ τ × the layer's largest σ₁ of
  // that circuit (a fixed --rank-tol).
  bool qk_dead = false, vo_dead = false;
  /// Every circuit of the head was computed (no factor held NaN/Inf). A head that is not finite
  /// has no metrics and is left out of every total (TER, entropy sums, min/mean).
  bool finite() const { return qk.finite && vo.finite && (!qk_rope || qk_rope->finite); }
};

struct LayerAudit {
  int64_t layer = 0;
  bool parallel = false;  // the layer's second mixer (LayerLayout::parallel: Falcon-H1's Mamba2)
  std::string mixer;      // linear layouts: the recurrent kind (recurrent_name: Mamba2, KDA, ...)
  std::string layout;  // layout_kind_name: gqa, mla, mfa, mfa-kr, linear
  std::string variant; // variant_name of the shape: mha, mqa, gqa, mla, mfa, mfa-kr, linear
  bool audited = true; // false for linear-attention layers (a fixed state, no circuits)
  CapacityRanks nominal;            // frh, slsd, ter of the shape
  int64_t measured_slsd = 0;        // numerical rank of the stacked key factors (when key_finite)
  double key_rank_tol = 0.0;        // τ of that rank (relative to the keys' σ₁)
  bool key_finite = true;           // false: the key factors held NaN/Inf, no SLSD measured
  /// measured_slsd < nominal.slsd: the keys span fewer directions than the shape allows.
  bool slsd_below_nominal() const { return audited && key_finite && measured_slsd < nominal.slsd; }
  int64_t measured_ter = 0;         // Σ of the finite heads' QK numerical ranks
  double measured_ter_entropy = 0;  // Σ of the finite heads' QK entropy ranks
  int64_t nonfinite_heads = 0;      // heads left out of the sums above (HeadAudit::finite)
  std::vector<double> key_sigma;    // spectrum of the stacked key factors
  std::vector<HeadAudit> heads;
  std::vector<std::string> nonfinite_tensors;  // tensors of the layer holding NaN or Inf
  int64_t heads_below_nominal = 0;  // heads with QK or VO numerical rank below nominal
  int64_t dead_heads = 0;           // heads with a dead QK or VO circuit
  /// Measured SLSD_head: the largest numerical rank of the keys one head can reach (its KV
  /// group's or latent head's stacked key maps); equal to measured_slsd for MHA, MLA and MFA.
  int64_t measured_slsd_head = 0;
  /// DSA indexer (DeepSeek-V3.2, GLM-5): each indexer head's scoring circuit, its query map
  /// through the query latent against the LayerNorm-centred index key (nominal min(d_I - 1,
  /// q_lora)); empty without an indexer. Not part of TER.
  std::vector<CircuitAudit> indexer;
  /// What the circuits do not capture, one sentence each (output gate, sinks, K = V tying, the
  /// indexer's per-head weights), for tables and JSON `notes`.
  std::vector<std::string> notes;
  /// Recurrent layers with their own query and key projections (KDA): per head the spectrum of
  /// W_Q,i and of W_K,i (nominal d_k each). Not softmax circuits and not in any total.
  std::vector<CircuitAudit> recurrent_q, recurrent_k;
  /// DeepSeek-V4's grouped output LoRA: per output group the spectrum of its whole output map
  /// wo_b_g·wo_a_g (d × heads_per_group·c), nominal min(o_lora_rank, heads_per_group·c, d). Not
  /// in TER (the per-head VO circuits are in `heads`).
  std::vector<CircuitAudit> output_groups;
  /// DeepSeek-V4's compressor on a compressed layer: per half of its wkv (one on HCA layers, two
  /// overlapping halves on CSA's) the spectrum of diag(γ_norm)·wkv_half (c × d), nominal c: the
  /// factor every compressed entry's key and value come from (per-channel gates over a block are
  /// data-dependent, so a factor, not a circuit). Not in TER.
  std::vector<CircuitAudit> compressor;
};

struct AuditReport {
  std::string checkpoint;    // path as given
  std::string format;        // safetensors, gguf, llama2c
  std::string architecture;  // HF model_type
  int64_t model_layers = 0;  // layers in the model (the audit may cover fewer)
  /// "noise": each matrix's τ is c × its estimated rounding noise over its σ₁ (docs/audit.md,
  /// "Rank tolerance"); "fixed": one τ for every matrix (--rank-tol).
  std::string rank_tol_mode = "noise";
  double rank_tol = 0.0;      // fixed: that τ; noise: 0 (each circuit carries its own)
  double rounding_noise = 0;  // noise: η of the coarsest attention-weight dtype (metrics.hpp)
  std::string rank_tol_source;  // e.g. "noise of BF16 (coarsest attention-weight dtype)" or "--rank-tol"
  double energy = 0.99;      // p of the energy rank
  std::vector<LayerAudit> layers;  // in layer order
};

/// One sentence for report headers: how numerical ranks were cut (mode, τ or η, and why).
std::string describe_rank_tolerance(const AuditReport& report);

/// Model-level totals over the audited layers.
struct AuditSummary {
  int64_t layers = 0, heads = 0;
  int64_t nominal_ter = 0, measured_ter = 0;
  double measured_ter_entropy = 0.0;
  int64_t heads_below_nominal = 0, dead_heads = 0;
  int64_t layers_slsd_below_nominal = 0;
  int64_t layers_with_nonfinite = 0;
  int64_t nonfinite_heads = 0;  // heads left out of measured TER and the entropy min/mean
  double min_qk_entropy_rank = 0.0, mean_qk_entropy_rank = 0.0;  // over the finite heads
};
AuditSummary summarize(const AuditReport& report);

struct AuditOptions {
  std::optional<double> rank_tol;  // a fixed τ; default: noise-aware (AuditReport::rank_tol_mode)
  double energy = 0.99;
  std::vector<int64_t> layers;     // empty: all
  int threads = 0;                 // 0: all cores
  /// Called after each layer with (layers done, layers to do); may be empty.
  std::function<void(int64_t, int64_t)> progress;
};

/// Audits an opened checkpoint with its detected layout. Throws InputError for a bad option, a
/// layer index out of range, or a storage type with no rounding-noise model and no --rank-tol.
AuditReport audit_checkpoint(const Checkpoint& checkpoint, const Layout& layout,
                             const AuditOptions& options);
/// Opens `path` (any format open_checkpoint reads), detects the layout and audits it.
AuditReport audit_path(const std::string& path, const AuditOptions& options);

/// Parses "0-3,10" into sorted unique layer indices < `layers`; `flag` names the option in errors.
std::vector<int64_t> parse_layer_list(std::string_view text, int64_t layers, const std::string& flag);

}  // namespace gmha
