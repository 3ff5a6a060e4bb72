// gmha attention: one layer's attention forward pass on a checkpoint's weights and given hidden
// states, as the model's Hugging Face module computes it (library: kernels/checkpoint_layer.hpp).
// Parses options, refuses an --out that would land on the inputs, prints one summary line.
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"
#include "gmha/bridge/checkpoint_layer.hpp"

namespace gmha::cli {

namespace {
namespace fs = std::filesystem;

struct AttentionCliOptions {
  std::string weights, config, input, input_tensor = "x", out;
  int64_t layer = -1;
  std::string form = "prefill", dtype = "fp32";
  bool no_rope = false, input_norm = false;
};

// "F32" or "BF16" for --dtype.
std::string read_dtype(const std::string& d) {
  if (d == "fp32" || d == "f32" || d == "float32") return "F32";
  if (d == "bf16" || d == "bfloat16") return "BF16";
  throw errors::unknown_name("--dtype", "dtype", d, "fp32, bf16");
}

// --out must not replace the checkpoint, its config or the input, nor add a second
// *.safetensors file to a checkpoint folder (which would make the folder unreadable).
void check_out_path(const std::string& out, const Checkpoint& ck, const AttentionCliOptions& o) {
  std::error_code ec;
  if (out == "-") throw InputError("--out -: y is a safetensors file; give its path, not stdout");
  if (fs::is_directory(out, ec))
    throw InputError(fmt::format("--out {}: is a folder, expected a file", out));
  resolve_output_target(out);  // a device, FIFO or missing folder: refused before the forward pass
  std::vector<std::string> inputs = {ck.path, o.input};
  if (!o.config.empty()) inputs.push_back(o.config);
  if (const auto* s = dynamic_cast<const SafetensorsSource*>(ck.stored.get()))
    for (const std::string& f : s->files()) inputs.push_back(f);
  if (fs::exists(out, ec))
    for (const std::string& in : inputs)
      if (fs::equivalent(out, in, ec))
        throw InputError(fmt::format("--out {}: would overwrite an input ({})", out, in));
  const fs::path parent = fs::absolute(fs::path(out), ec).parent_path();
  if (fs::is_directory(ck.path, ec) && fs::equivalent(parent, ck.path, ec))
    throw InputError(
        fmt::format("--out {}: inside the checkpoint folder {} (gmha never writes "
                    "into a checkpoint)",
                    out, ck.path));
}

void run(const AttentionCliOptions& o) {
  const std::optional<AttentionForm> form = find_form(o.form);
  if (!form) throw errors::unknown_name("--form", "form", o.form, "bilinear, prefill, decode");
  const std::string dtype = read_dtype(o.dtype);
  const Checkpoint ck =
      o.config.empty() ? open_checkpoint(o.weights) : open_checkpoint(o.weights, o.config);
  if (!ck.config.is_object() && ck.format == "safetensors")
    throw InputError(
        fmt::format("{}: no config.json beside the weights; pass --config C.json", o.weights));
  const Layout layout = detect_layout(ck);
  CheckpointLayer layer = load_checkpoint_layer(ck, layout, o.layer);
  if (o.no_rope) layer.options.rope.enabled = false;
  if (dtype == "BF16") round_layer_to_bf16(layer);
  check_out_path(o.out, ck, o);
  const AttentionShape& s = layer.weights.shape;
  MatrixRM x = read_hidden_states(o.input, o.input_tensor, s.d_model);
  if (dtype == "BF16") round_to_bf16(x);
  fmt::print(stderr, "gmha attention: {} layer {} ({} {}, {} heads{}), T = {}, form {}, {}{}{}\n",
             ck.path, o.layer, layout.architecture, layout_kind_name(layer.kind), s.heads,
             layer.options.window > 0 ? fmt::format(", window {}", layer.options.window) : "",
             x.rows(), form_name(*form), dtype == "BF16" ? "bf16" : "fp32",
             layer.options.rope.enabled ? "" : ", no RoPE", o.input_norm ? ", input norm" : "");
  const MatrixRM y = checkpoint_attention(layer, x, *form, o.input_norm);
  write_hidden_states(o.out, "y", y, dtype,
                      {{"gmha", "attention"},
                       {"weights", o.weights},
                       {"model_type", layout.architecture},
                       {"layer", std::to_string(o.layer)},
                       {"form", std::string(form_name(*form))},
                       {"dtype", o.dtype},
                       {"rope", layer.options.rope.enabled ? "on" : "off"},
                       {"input_norm", o.input_norm ? "applied" : "no"}});
}

}  // namespace

void add_attention_command(CLI::App& app) {
  auto o = std::make_shared<AttentionCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "attention",
      "One layer's attention forward pass on a checkpoint's weights, in double precision, exactly\n"
      "as the model's Hugging Face implementation computes it (RoPE pairing and rope_scaling,\n"
      "norm eps, softmax scale incl. DeepSeek's YaRN mscale^2, sliding window, Qwen3 q/k norms,\n"
      "biases), at positions 0..T-1. x is tensor `x` [T, d] of --input (F32, BF16, F16 or F64):\n"
      "by default the attention module's input (after input_layernorm), and y (tensor `y`\n"
      "[T, d] of --out) is what `model.model.layers[N].self_attn(hidden_states=x,\n"
      "position_embeddings=rotary_emb(x, positions), attention_mask=causal)` returns, before\n"
      "the residual add. With --input-norm, x is the residual stream and the layer's\n"
      "input_layernorm is applied first. --dtype bf16 rounds every tensor of the layer and x to\n"
      "bf16 (nearest even), computes in double and writes y as BF16; fp32 writes y as F32.\n"
      "Families: llama, mistral, mixtral, qwen2(_moe), qwen3(_moe), deepseek_v2/v3, kimi_k2,\n"
      "step3 (and gmha's mfa-kr). docs/kernels.md has a transformers script that writes x and\n"
      "compares y.\n\n"
      "Examples:\n"
      "  gmha attention --weights stories260K-hf-f32 --layer 2 \\\n"
      "      --input x.safetensors --out y.safetensors\n"
      "  gmha attention --weights model.safetensors --config config.json --layer 0 \\\n"
      "      --input x.safetensors --out y.safetensors --form decode --dtype bf16\n"
      "  gmha attention --weights stories260K.gguf --layer 4 \\\n"
      "      --input h.safetensors --input-tensor h --input-norm --out y.safetensors");
  cmd->add_option("--weights", o->weights,
                  "Checkpoint: safetensors file or folder, .gguf, or llama2.c .bin")
      ->required();
  cmd->add_option("--config", o->config,
                  "config.json (default: the folder's, or the format's own metadata)");
  cmd->add_option("--layer", o->layer, "Layer index N (0-based)")->required();
  cmd->add_option("--input", o->input, "safetensors file holding x [T, d]")->required();
  cmd->add_option("--input-tensor", o->input_tensor, "Name of x in --input")->capture_default_str();
  cmd->add_option("--out", o->out, "safetensors file to write y [T, d] to (atomically)")
      ->required();
  cmd->add_option("--form", o->form, "bilinear (d <= 512) | prefill | decode")
      ->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "fp32 | bf16 (see above)")->capture_default_str();
  cmd->add_flag("--no-rope", o->no_rope, "Skip the rotation (the softmax scale is unchanged)");
  cmd->add_flag("--input-norm", o->input_norm,
                "Apply the layer's input_layernorm to x first (x is the residual stream)");
  cmd->callback([o] { run(*o); });
}

}  // namespace gmha::cli
