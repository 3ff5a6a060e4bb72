#include "cli/model_args.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "cli/hub.hpp"
#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/presets.hpp"

#include "gmha/attention/resolve.hpp"
#include "gmha/attention/design_spec.hpp"
#include "gmha/bridge/checkpoint_model.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/serving.hpp"
#include "gmha/core/dtype.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"

namespace gmha::cli {

void add_model_options(CLI::App* cmd, ModelArgs& a) {
  cmd->add_option("models", a.models, "Presets (see `gmha presets`), config.json files, model folders, .gguf / llama2.c .bin checkpoints, or Hugging Face ids org/name[@revision] (read from the local HF cache, config.json downloaded when missing)");
  cmd->add_option("--design", a.designs,
                  "Ad-hoc design, e.g. gqa:d=4096,heads=32,kv=8,hd=128,layers=32 (repeatable)")
      ->allow_extra_args(false);  // one value per flag: `--design X preset` keeps the preset
  cmd->add_option("--kv-dtype", a.kv_dtype, "KV cache dtype for softmax layers: fp32, bf16, fp16, fp8, int8, int4, or fp8_ds_mla "
                  "(vLLM's 656 B MLA row: 512 fp8 latent + 4 fp32 scales + 64 bf16 RoPE; mla/mtla only)");
  cmd->add_option("--convention", a.convention,
                  "exact (what a kernel does; default) or step3-paper (the Step-3 paper's accounting)");
}

void add_hardware_options(CLI::App* cmd, HardwareArgs& h) {
  cmd->add_option("--hardware", h.hardware, "Cards for roofline and cost, comma-separated, or 'all'");
  cmd->add_option("--hardware-def", h.hardware_defs,
                  "Custom card name:price=USD/h,bf16=FLOP/s,fp8=FLOP/s,bw=B/s[,fp4=FLOP/s,mem=B,net=B/s]")
      ->allow_extra_args(false);
  cmd->add_option("--compute-dtype", h.compute_dtype,
                  "Matmul precision whose peak is charged: bf16, fp8 or fp4 (default bf16; "
                  "fp8 under --convention step3-paper; a card without it runs at the next wider)");
}

void add_serving_options(CLI::App* cmd, ServingArgs& s) {
  cmd->add_option("--tp", s.tp, "Tensor-parallel devices per card group N (per-device weights, KV)")
      ->capture_default_str();
  cmd->add_option("--ep", s.ep,
                  "Expert-parallel groups M over the N devices: each holds E/M whole routed experts "
                  "(M divides N and E; default 1, every expert split N ways)")
      ->capture_default_str();
  cmd->add_option("--weight-dtype", s.weight_dtype,
                  "Weights stored and read, scales counted: bf16, fp16, fp32, fp8, int8, int4, "
                  "mxfp4, nvfp4 (default: the config's quantization_config, else its dtype)");
  cmd->add_option("--decode-tokens", s.decode_tokens,
                  "Query tokens per sequence and step sharing one KV read (MTP / speculative)")
      ->capture_default_str();
}

WeightFormat weight_format_of(const ServingArgs& s, const ModelDesign& m) {
  return weights_of(m, s.weight_dtype);
}

ComputeDType compute_dtype_of(const HardwareArgs& h, Convention c) {
  if (!h.compute_dtype.empty()) return read_compute_dtype(h.compute_dtype);
  return c == Convention::kStep3Paper ? ComputeDType::kFp8 : ComputeDType::kBf16;
}

namespace {
// A Hugging Face id (org/name[@revision]) that is not a local path: its cached config.json,
// named by the id (tables show "org/name", sources keep the id and the cached file).
ModelDesign read_hub_model(const HubId& id) {
  ModelDesign d = read_hf_config(hub_config_path(id));
  const std::string text = id.revision == "main" ? id.repo() : id.repo() + "@" + id.revision;
  d.source = "huggingface.co/" + id.repo() + "@" + id.revision + ": " + d.source;
  d.name = text;
  return d;
}
}  // namespace

std::vector<ModelDesign> load_models(const ModelArgs& a, Convention c) {
  std::vector<ModelDesign> out;
  // Capacity figures are over all layers: a design must say how many (validate and bench,
  // which run one layer, take designs without it).
  auto require_layers = [](const std::string& spec, const char* what) {
    if (spec.find(":layers=") == std::string::npos && spec.find(",layers=") == std::string::npos) {
      throw InputError(
          fmt::format("{}'{}': give layers=N (the figures are over all layers)", what, spec));
    }
  };
  for (const auto& m : a.models) {
    // A .gguf or llama2.c .bin is read through its checkpoint header; anything else is a preset,
    // a config.json or folder, or a design spec.
    auto from_checkpoint = model_from_checkpoint_file(m);
    std::error_code ec;
    const auto hub = from_checkpoint || is_preset(m) || std::filesystem::exists(m, ec)
                         ? std::nullopt : parse_hub_id(m);
    ModelDesign d = from_checkpoint ? std::move(*from_checkpoint)
                    : hub           ? read_hub_model(*hub)
                                    : resolve_model(m);
    if (d.source == "--design") require_layers(m, "design ");
    out.push_back(std::move(d));
  }
  for (const auto& d : a.designs) {
    require_layers(d, "--design ");
    out.push_back(parse_design_spec(d));
  }
  if (out.empty()) {
    throw InputError("no model given: name presets (gmha presets), config.json files, or --design");
  }
  for (auto& m : out) {
    if (c == Convention::kStep3Paper) apply_step3_paper_precision(m);
    if (!a.kv_dtype.empty()) m.set_kv_cache_type(read_kv_cache_type(a.kv_dtype, "--kv-dtype"), "--kv-dtype");
    if (!a.kv_dtype.empty() || c == Convention::kStep3Paper) m.spec = design_spec_of(m);
  }
  return out;
}

std::vector<Hardware> load_hardware(const HardwareArgs& h) {
  std::vector<Hardware> out;
  if (h.hardware == "all") {
    out = list_hardware();
  } else if (!h.hardware.empty()) {
    for (std::string_view name : split_list(h.hardware, "--hardware")) {
      out.push_back(read_hardware(std::string(name)));
    }
  }
  for (const auto& d : h.hardware_defs) out.push_back(parse_hardware_def(d));
  return out;
}

}  // namespace gmha::cli
