#include "gmha/bridge/checkpoint_model.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>
#include <vector>

#include "gguf_layers.hpp"
#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/hf_config.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/checkpoint/gguf.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

namespace {

// GGUF files start with "GGUF", llama2.c ones with the magic 0x616b3432 ("42ka" as stored); a
// .gguf or .bin name is taken at its word (open_checkpoint then checks the bytes).
bool looks_like_checkpoint_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  if (path.ends_with(".gguf") || path.ends_with(".bin")) return true;
  char head[4] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(head, 4);
  return in.gcount() == 4 &&
         (std::memcmp(head, "GGUF", 4) == 0 || std::memcmp(head, "42ka", 4) == 0);
}

// A GGUF file states each tensor's type (Q4_K_M files mix Q4_K, Q6_K and F32): what the file
// stores per weight is its bytes over its elements, block scales and mins included.
void measure_storage(const GgufSource& gguf, ModelDesign& m) {
  uint64_t bytes = 0;
  int64_t elements = 0;
  std::map<std::string, int64_t> by_type;
  for (const TensorInfo& t : gguf.tensors()) {
    bytes += t.bytes;
    elements += t.elements();
    by_type[t.dtype] += t.elements();
  }
  if (elements <= 0) return;
  m.stored_bits_per_weight = 8.0 * static_cast<double>(bytes) / static_cast<double>(elements);
  std::vector<std::pair<std::string, int64_t>> order(by_type.begin(), by_type.end());
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [type, n] : order) {
    m.stored_types += fmt::format("{}{} {:.0f}%", m.stored_types.empty() ? "" : ", ", type,
                                  100.0 * static_cast<double>(n) / static_cast<double>(elements));
  }
}

}  // namespace

std::optional<ModelDesign> model_from_checkpoint_file(const std::string& path) {
  if (!looks_like_checkpoint_file(path)) return std::nullopt;
  const Checkpoint c = open_checkpoint(path);
  if (c.format != "gguf" && c.format != "llama2c") return std::nullopt;
  const auto* gguf = dynamic_cast<const GgufSource*>(c.stored.get());
  nlohmann::json config = c.config;
  if (gguf && gguf_layers::has_per_layer_metadata(gguf->header().metadata)) {
    // Per-layer arrays: the header reader takes one value per key, so it reads a stand-in and
    // gguf_layers::apply (below) sets each layer. Ties and vocabulary as open_checkpoint finds them.
    config = hf_config_from_gguf(gguf_layers::with_scalar_layers(gguf->header().metadata), path);
    config["tie_word_embeddings"] = gguf->find("output.weight") == nullptr;
    if (!config.contains("vocab_size"))
      if (const TensorInfo* e = gguf->find("token_embd.weight")) config["vocab_size"] = e->rows();
  } else if (!c.config.is_object()) {
    // open_checkpoint keeps such a file listable for `inspect` but builds no config; rebuilding it
    // from the metadata throws the line that names the key or architecture gmha cannot map.
    if (const auto* g = dynamic_cast<const GgufSource*>(c.stored.get())) {
      (void)hf_config_from_gguf(g->header().metadata, path);
    }
    throw InputError(path + ": the checkpoint's header does not describe a model gmha can read");
  }
  // The dtype the model is served in decides the KV dtype (hf_config.cpp): a llama2.c file is
  // fp32 weights, which vLLM's dtype "auto" serves in fp16; GGUF is served in fp16 by llama.cpp
  // and vLLM alike. docs/model_defaults.md, "KV dtype".
  if (!config.contains("torch_dtype")) config["torch_dtype"] = c.format == "llama2c" ? "float32" : "float16";
  ModelDesign m = model_from_hf_config(config, path);
  if (gguf) {
    gguf_layers::apply(gguf->header().metadata, m, path);
    m.spec = design_spec_of(m);
  }
  if (gguf) measure_storage(*gguf, m);
  m.name = std::filesystem::path(path).stem().string();
  m.source = fmt::format("{} ({} checkpoint, model_type {})", path, c.format, c.architecture);
  return m;
}

}  // namespace gmha
