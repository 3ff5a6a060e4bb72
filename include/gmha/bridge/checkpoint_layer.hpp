#pragma once
// One layer of a real checkpoint, set up for the double reference exactly as the model's Hugging
// Face attention module computes it: what `gmha attention` runs. For hidden states x [T, d] at
// positions 0..T-1 the output is
//   y = model.layers[N].self_attn(hidden_states=x, position_embeddings=rope(0..T-1))
// before the residual add (optionally x goes through the layer's input_layernorm first). The
// family conventions (RoPE pairing and rope_scaling, inner-norm eps, softmax scale, sliding
// window, Qwen3's q/k norms, biases) come from config.json; docs/kernels.md lists them.
#include <cstdint>
#include <map>
#include <string>

#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/kernels/layer_weights.hpp"
#include "gmha/kernels/reference.hpp"

namespace gmha {

/// Everything the forward pass of one checkpoint layer needs, in double.
struct CheckpointLayer {
  int64_t layer = 0;
  std::string architecture;  // HF model_type
  LayoutKind kind = LayoutKind::kGqa;
  LayerWeights weights;          // LayerWeights names; q_norm/k_norm for Qwen3
  LayerOptions options;          // RoPE, inner-norm eps, softmax scale, sliding window
  MatrixRM o_bias;               // [d, 1] o_proj bias (Llama/Qwen3 attention_bias), or empty
  MatrixRM input_norm;           // [d, 1] input_layernorm gamma, or empty when the file has none
  double input_norm_eps = 1e-6;  // the config's rms_norm_eps
  std::string where;             // "<checkpoint>: layer N", for messages
};

/// Reads layer `layer` of an opened checkpoint (`layout` = detect_layout(ck)) into double. Throws
/// InputError naming the checkpoint and the layer when the index is out of range, the model_type's
/// attention is one gmha does not reproduce (Gemma, Llama 4, MiniMax, ERNIE), the layer is linear
/// or chunked attention, the RoPE is partial, or a self_attn tensor of the layer would go unused
/// (e.g. MLA biases): gmha refuses rather than compute a different layer.
CheckpointLayer load_checkpoint_layer(const Checkpoint& ck, const Layout& layout, int64_t layer);

/// Rounds every element to bf16 (nearest even; NaN stays NaN).
void round_to_bf16(MatrixRM& m);
/// Rounds every tensor of `l` (projections, norms, biases) to bf16: what a bf16 copy holds.
void round_layer_to_bf16(CheckpointLayer& l);

/// y [T, d] for x [T, d]: the layer's attention output in `form` (all three agree to ~1e-15),
/// o_proj bias included. With `input_norm`, x is first normalised by the layer's input_layernorm
/// (x is then the residual stream). Throws InputError for a wrong width, non-finite x, or
/// `input_norm` on a checkpoint without that tensor; bilinear refuses d > 512.
MatrixRM checkpoint_attention(const CheckpointLayer& l, const MatrixRM& x, AttentionForm form,
                              bool input_norm);

/// Reads tensor `name` of the safetensors file `path` as hidden states [T, d_model] (F64, F32,
/// BF16 or F16). Throws InputError naming the file and the tensor when it is missing, not 2-D,
/// of another width, empty, of another dtype, or has a non-finite value (its position given).
MatrixRM read_hidden_states(const std::string& path, const std::string& name, int64_t d_model);

/// Writes `y` as tensor `name` [T, d] of one safetensors file at `path` (atomically), stored as
/// "F32" or "BF16" (rounded to nearest even), with `metadata` in the header.
void write_hidden_states(const std::string& path, const std::string& name, const MatrixRM& y,
                         const std::string& dtype,
                         const std::map<std::string, std::string>& metadata);

}  // namespace gmha
