#pragma once
// Rotary position embedding exactly as Hugging Face transformers applies it
// (modeling_rope_utils.py): inverse frequencies base^(-2i/dim), optionally rescaled by
// rope_scaling (linear, dynamic NTK, llama3, yarn), an attention factor multiplying cos and sin
// (yarn), and one of two pairings: halves (Llama, Qwen, Step-3: element i pairs with i + dim/2,
// "rotate_half") or interleaved (DeepSeek-V3 rope_interleave: element 2i pairs with 2i+1).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace gmha {

enum class RopeStyle { kHalves, kInterleaved };
enum class RopeScalingKind { kNone, kLinear, kDynamic, kLlama3, kYarn };

/// Parameters of a model's RoPE, as read from config.json (rope_theta, rope_scaling).
struct RopeConfig {
  bool enabled = true;
  RopeStyle style = RopeStyle::kHalves;
  double theta = 10000.0;                 // rope_theta (base)
  RopeScalingKind scaling = RopeScalingKind::kNone;
  double factor = 1.0;                    // rope_scaling.factor
  int64_t max_position = 0;               // max_position_embeddings (dynamic)
  int64_t original_max_position = 0;      // rope_scaling.original_max_position_embeddings
  double low_freq_factor = 1.0;           // llama3
  double high_freq_factor = 4.0;          // llama3
  double beta_fast = 32.0;                // yarn
  double beta_slow = 1.0;                 // yarn
  double mscale = 0.0;                    // yarn (DeepSeek): 0 = absent
  double mscale_all_dim = 0.0;            // yarn (DeepSeek): 0 = absent
  double attention_factor = 0.0;          // yarn: explicit attention_factor, 0 = derive
  bool truncate = true;                   // yarn: floor/ceil the correction range
};

/// RoPE resolved for one rotary width and sequence length: per pair i (dim/2 of them) the
/// angle per position inv_freq[i] (radians per token), and the factor cos/sin are scaled by.
struct RopeTable {
  bool enabled = false;
  RopeStyle style = RopeStyle::kHalves;
  int64_t dim = 0;                 // rotary width (even)
  std::vector<double> inv_freq;    // [dim / 2]
  double attention_factor = 1.0;   // multiplies cos and sin (yarn), 1 otherwise
};

/// Resolves the inverse frequencies of `cfg` for a rotary width `dim` (even, > 0) when the
/// longest sequence is `seq_len` tokens (dynamic NTK rescales the base once seq_len exceeds
/// max_position). Throws InputError on an odd width or impossible scaling parameters.
RopeTable resolve_rope(const RopeConfig& cfg, int64_t dim, int64_t seq_len);

/// Rotates `v` (dim elements, in place) to token position `pos`.
void apply_rope(const RopeTable& t, int64_t pos, double* v);
/// Rotates float data likewise (angles still computed in double).
void apply_rope(const RopeTable& t, int64_t pos, float* v);
/// Undoes apply_rope (rotation by -angle), exactly up to rounding.
void apply_rope_inverse(const RopeTable& t, int64_t pos, double* v);

/// yarn's get_mscale(scale, mscale) = 0.1 * mscale * ln(scale) + 1 for scale > 1, else 1.
double yarn_get_mscale(double scale, double mscale);

/// Reads rope_theta, rope_scaling (type or rope_type), max_position_embeddings and
/// rope_interleave from a (text) config. `where` names the file in errors. Style defaults to
/// interleaved for deepseek_v2/v3 and kimi_k2, halves otherwise.
RopeConfig rope_from_hf_config(const nlohmann::json& config, const std::string& where);

}  // namespace gmha
