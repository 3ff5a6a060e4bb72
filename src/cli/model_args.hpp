#pragma once
// Options shared by the commands that take models and cards (compare, show, report, fit):
// positional presets / config.json / model folders, --design, --kv-dtype, --convention,
// --hardware, --hardware-def.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "gmha/attention/model.hpp"
#include "gmha/attention/weights.hpp"
#include "gmha/capacity/hardware.hpp"
#include "gmha/capacity/weight_format.hpp"

namespace gmha::cli {

/// The context lengths every command assumes when --context is not given (README, "Defaults"):
/// commands that take a list use kDefaultContexts, commands that take one use its largest.
inline constexpr const char* kDefaultContexts = "8k,32k";
inline constexpr const char* kDefaultContext = "32k";

struct ModelArgs {
  std::vector<std::string> models;   // presets, config.json files, model folders
  std::vector<std::string> designs;  // --design specs
  std::string kv_dtype;              // empty: each model's own
  std::string convention = "exact";
};

struct HardwareArgs {
  std::string hardware;                   // "h800,h20" or "all"
  std::vector<std::string> hardware_defs;  // custom cards
  std::string compute_dtype;              // empty: the convention's (exact bf16, step3-paper fp8)
};

struct ServingArgs {
  long long tp = 1;          // tensor-parallel devices per card group
  long long ep = 1;          // expert groups over those devices (MoE experts)
  std::string weight_dtype;  // empty: each model's own (quantization_config, else torch_dtype)
  long long decode_tokens = 1;
};

/// Registers the model options on `cmd`.
void add_model_options(CLI::App* cmd, ModelArgs& a);
/// Registers --hardware, --hardware-def and --compute-dtype on `cmd`.
void add_hardware_options(CLI::App* cmd, HardwareArgs& h);
/// Registers --tp, --weight-dtype and --decode-tokens on `cmd`.
void add_serving_options(CLI::App* cmd, ServingArgs& s);
/// --weight-dtype, else the model's own weights (default_weight_format).
WeightFormat weight_format_of(const ServingArgs& s, const ModelDesign& m);

/// --compute-dtype, else the convention's: BF16 (exact) or the Step-3 paper's FP8.
ComputeDType compute_dtype_of(const HardwareArgs& h, Convention c);

/// Loads every model (presets, configs, designs), applies --kv-dtype and the convention's
/// precision. Throws InputError when none is given or one cannot be read.
std::vector<ModelDesign> load_models(const ModelArgs& a, Convention c);
/// The cards named by --hardware plus --hardware-def (empty when neither is given).
std::vector<Hardware> load_hardware(const HardwareArgs& h);

}  // namespace gmha::cli
