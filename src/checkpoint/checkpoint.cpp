#include "gmha/checkpoint/checkpoint.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include <fmt/format.h>

#include "gmha/checkpoint/gguf.hpp"
#include "gmha/checkpoint/llama2c.hpp"
#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/json_text.hpp"

namespace gmha {
namespace fs = std::filesystem;

namespace {

// A view of another source under Hugging Face names; q/k rows of interleaved-rotary formats are
// reordered into HF's rotate_half order on the fly (no copy of the file is made).
class HfView : public TensorSource {
 public:
  struct Entry {
    TensorInfo info;
    int64_t rotary_head = 0;  // head size h when rows are permuted, else 0
  };
  HfView(std::shared_ptr<const TensorSource> base, std::vector<Entry> entries)
      : base_(std::move(base)) {
    for (auto& e : entries) {
      list_.push_back(e.info);
      rotary_.push_back(e.rotary_head);
    }
    index_tensors();
  }
  std::string_view format() const override { return base_->format(); }
  const std::vector<TensorInfo>& tensors() const override { return list_; }
  const std::string& where() const override { return base_->where(); }
  void read_rows(std::string_view name, int64_t begin, int64_t end,
                 std::span<float> out) const override {
    read(name, begin, end, out);
  }
  void read_rows(std::string_view name, int64_t begin, int64_t end,
                 std::span<double> out) const override {
    read(name, begin, end, out);
  }

 private:
  template <typename T>
  void read(std::string_view name, int64_t begin, int64_t end, std::span<T> out) const {
    const TensorInfo& t = info(name);
    const int64_t h = rotary_[&t - list_.data()];
    if (h == 0) return base_->read_rows(t.stored_name, begin, end, out);
    if (begin < 0 || end < begin || end > t.rows())
      throw InputError(fmt::format("{}: tensor '{}': rows {}..{} outside 0..{}", where(), name,
                                   begin, end, t.rows()));
    const int64_t cols = t.cols();
    if (out.size() != static_cast<size_t>((end - begin) * cols))
      throw InputError(fmt::format("{}: tensor '{}': output holds {} values, rows {}..{} need {}",
                                   where(), name, out.size(), begin, end, (end - begin) * cols));
    // HF row j*h/2 + i of a head is stored row 2i + j (adjacent rotary pairs). The permutation
    // stays inside a head, so the heads covering [begin, end) are read in one call (one decode
    // of a quantized row run, one page release) and their rows moved into place; a call per row
    // cost more than the dequantisation.
    const int64_t half = h / 2;
    const int64_t first = begin / h * h, last = std::min(t.rows(), (end + h - 1) / h * h);
    std::vector<T> heads(static_cast<size_t>((last - first) * cols));
    base_->read_rows(t.stored_name, first, last, std::span<T>(heads));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t head = r / h, w = r % h, j = w / half, i = w % half;
      const int64_t src = head * h + 2 * i + j - first;
      std::copy_n(heads.begin() + src * cols, cols, out.begin() + (r - begin) * cols);
    }
  }
  std::shared_ptr<const TensorSource> base_;
  std::vector<TensorInfo> list_;
  std::vector<int64_t> rotary_;
};

// Integer metadata value or throws naming the key.
int64_t meta_int(const nlohmann::json& m, const std::string& key, const std::string& where) {
  if (!m.contains(key)) throw errors::missing_field(where, key);
  const auto& v = m[key];
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(v.get<uint64_t>());
  if (v.is_number_integer()) return v.get<int64_t>();
  throw InputError(fmt::format("{}: {} is not an integer", where, key));
}

double meta_float(const nlohmann::json& m, const std::string& key, double fallback,
                  const std::string& where) {
  if (!m.contains(key)) return fallback;
  if (!m[key].is_number()) throw InputError(fmt::format("{}: {} is not a number", where, key));
  return m[key].get<double>();
}

// llama.cpp tensor names (per layer suffix) -> Hugging Face names.
struct NameMap {
  const char* gguf;
  const char* hf;
  bool rotary;  // q/k rows stored with adjacent rotary pairs (llama arch)
};
constexpr NameMap kLayerNames[] = {
    {"attn_norm.weight", "input_layernorm.weight", false},
    {"attn_q.weight", "self_attn.q_proj.weight", true},
    {"attn_k.weight", "self_attn.k_proj.weight", true},
    {"attn_v.weight", "self_attn.v_proj.weight", false},
    {"attn_output.weight", "self_attn.o_proj.weight", false},
    {"attn_q.bias", "self_attn.q_proj.bias", true},
    {"attn_k.bias", "self_attn.k_proj.bias", true},
    {"attn_v.bias", "self_attn.v_proj.bias", false},
    {"attn_q_norm.weight", "self_attn.q_norm.weight", false},
    {"attn_k_norm.weight", "self_attn.k_norm.weight", false},
    {"attn_q_a.weight", "self_attn.q_a_proj.weight", false},
    {"attn_q_a_norm.weight", "self_attn.q_a_layernorm.weight", false},
    {"attn_q_b.weight", "self_attn.q_b_proj.weight", false},
    {"attn_kv_a_mqa.weight", "self_attn.kv_a_proj_with_mqa.weight", false},
    {"attn_kv_a_norm.weight", "self_attn.kv_a_layernorm.weight", false},
    {"attn_kv_b.weight", "self_attn.kv_b_proj.weight", false},
    {"ffn_norm.weight", "post_attention_layernorm.weight", false},
    {"ffn_gate.weight", "mlp.gate_proj.weight", false},
    {"ffn_up.weight", "mlp.up_proj.weight", false},
    {"ffn_down.weight", "mlp.down_proj.weight", false},
    {"ffn_gate_inp.weight", "mlp.gate.weight", false},
};

std::string gguf_to_hf(const std::string& name, bool* rotary) {
  *rotary = false;
  if (name == "token_embd.weight") return "model.embed_tokens.weight";
  if (name == "output_norm.weight") return "model.norm.weight";
  if (name == "output.weight") return "lm_head.weight";
  static const std::regex kBlock(R"(blk\.(\d+)\.(.+))");
  std::smatch m;
  if (std::regex_match(name, m, kBlock)) {
    for (const auto& n : kLayerNames)
      if (m[2] == n.gguf) {
        *rotary = n.rotary;
        return fmt::format("model.layers.{}.{}", m[1].str(), n.hf);
      }
  }
  return name;  // unmapped tensors keep their llama.cpp name
}

std::string llama2c_to_hf(const std::string& name, bool* rotary) {
  *rotary = false;
  if (name == "token_embedding") return "model.embed_tokens.weight";
  if (name == "rms_final") return "model.norm.weight";
  if (name == "wcls") return "lm_head.weight";
  static const std::regex kLayer(R"(layers\.(\d+)\.(\w+))");
  static const std::pair<const char*, const char*> kMap[] = {
      {"rms_att", "input_layernorm.weight"}, {"wq", "self_attn.q_proj.weight"},
      {"wk", "self_attn.k_proj.weight"},     {"wv", "self_attn.v_proj.weight"},
      {"wo", "self_attn.o_proj.weight"},     {"rms_ffn", "post_attention_layernorm.weight"},
      {"w1", "mlp.gate_proj.weight"},        {"w2", "mlp.down_proj.weight"},
      {"w3", "mlp.up_proj.weight"}};
  std::smatch m;
  if (std::regex_match(name, m, kLayer))
    for (const auto& [from, to] : kMap)
      if (m[2] == from) {
        *rotary = m[2] == "wq" || m[2] == "wk";
        return fmt::format("model.layers.{}.{}", m[1].str(), to);
      }
  return name;  // freq_cis_real / freq_cis_imag keep their names
}

std::string detect_format(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return "safetensors";
  if (!fs::exists(path, ec)) throw InputError(fmt::format("{}: no such file or folder", path));
  if (path.ends_with(".safetensors") || path.ends_with(".index.json")) return "safetensors";
  if (path.ends_with(".gguf")) return "gguf";
  char head[9] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(head, 9);
  const auto got = in.gcount();
  if (got >= 4 && std::memcmp(head, "GGUF", 4) == 0) return "gguf";
  if (got >= 4 && std::memcmp(head, "42ka", 4) == 0) return "llama2c";  // "ak42" little-endian
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0)
    throw InputError(fmt::format("{}: a PyTorch zip/pickle checkpoint, which gmha does not read "
                                 "(convert it to safetensors)", path));
  if (got >= 9 && head[8] == '{') return "safetensors";
  if (path.ends_with(".bin")) return "llama2c";
  throw InputError(fmt::format(
      "{}: unknown checkpoint format (expected a safetensors file or folder, .gguf, or a "
      "llama2.c .bin)", path));
}

std::string model_type_of(const nlohmann::json& config) {
  if (!config.is_object()) return "";
  if (config.contains("model_type") && config["model_type"].is_string())
    return config["model_type"].get<std::string>();
  return "";
}

// The HF model_type of a config; a multimodal wrapper without its own names its text_config's.
std::string architecture_of(const nlohmann::json& config) {
  if (config.is_object() && config.contains("text_config") && config["text_config"].is_object() &&
      model_type_of(config).empty())
    return model_type_of(config["text_config"]);
  return model_type_of(config);
}

}  // namespace

nlohmann::json hf_config_from_gguf(const nlohmann::json& m, const std::string& where) {
  if (!m.contains("general.architecture") || !m["general.architecture"].is_string())
    throw errors::missing_field(where, "general.architecture");
  const std::string arch = m["general.architecture"].get<std::string>();
  // llama.cpp's architecture -> the Hugging Face model_type whose attention it stores unchanged
  // (convert_hf_to_gguf.py: only llama/mistral permute q/k; Gemma's norms are written as 1 + w).
  static const std::pair<const char*, const char*> kArchs[] = {
      {"llama", "llama"},        {"mistral", "llama"},      {"qwen2", "qwen2"}, {"qwen3", "qwen3"},
      {"qwen2moe", "qwen2_moe"}, {"qwen3moe", "qwen3_moe"}, {"gemma3", "gemma3_text"}};
  std::string type;
  for (const auto& [a, t] : kArchs)
    if (arch == a) type = t;
  if (type.empty())
    throw InputError(fmt::format(
        "{}: GGUF architecture '{}' is not supported for layout detection (llama, mistral, qwen2, "
        "qwen3, qwen2moe, qwen3moe, gemma3)", where, arch));
  const std::string p = arch + ".";
  nlohmann::json c;
  c["model_type"] = type;
  c["hidden_size"] = meta_int(m, p + "embedding_length", where);
  c["intermediate_size"] = meta_int(m, p + "feed_forward_length", where);
  c["num_hidden_layers"] = meta_int(m, p + "block_count", where);
  const int64_t heads = meta_int(m, p + "attention.head_count", where);
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = m.contains(p + "attention.head_count_kv")
                                 ? meta_int(m, p + "attention.head_count_kv", where)
                                 : heads;
  if (m.contains(p + "attention.key_length"))
    c["head_dim"] = meta_int(m, p + "attention.key_length", where);
  else if (heads > 0)
    c["head_dim"] = c["hidden_size"].get<int64_t>() / heads;
  c["rms_norm_eps"] = meta_float(m, p + "attention.layer_norm_rms_epsilon", 1e-5, where);
  c["rope_theta"] = meta_float(m, p + "rope.freq_base", 10000.0, where);
  if (m.contains(p + "context_length"))
    c["max_position_embeddings"] = meta_int(m, p + "context_length", where);
  if (m.contains(p + "vocab_size")) c["vocab_size"] = meta_int(m, p + "vocab_size", where);
  if (arch == "qwen2moe" || arch == "qwen3moe") {
    // Experts (llama.cpp's LLM_KV_EXPERT_*): every layer sparse, as the Qwen MoE releases are.
    c["num_experts"] = meta_int(m, p + "expert_count", where);
    c["num_experts_per_tok"] = meta_int(m, p + "expert_used_count", where);
    c["moe_intermediate_size"] = meta_int(m, p + "expert_feed_forward_length", where);
    if (m.contains(p + "expert_shared_feed_forward_length"))
      c["shared_expert_intermediate_size"] = meta_int(m, p + "expert_shared_feed_forward_length", where);
  }
  if (arch == "gemma3" && m.contains(p + "attention.sliding_window")) {
    // llama.cpp's Gemma 3: one global layer every 6 (set_swa_pattern(6)), HF's default too.
    c["sliding_window"] = meta_int(m, p + "attention.sliding_window", where);
  }
  return c;
}

Checkpoint open_checkpoint(const std::string& path) {
  Checkpoint c;
  c.path = path;
  c.format = detect_format(path);
  if (c.format == "safetensors") {
    auto s = SafetensorsSource::open(path);
    c.config = s->config();
    c.architecture = architecture_of(c.config);
    c.stored = s;
    c.tensors = s;
    return c;
  }
  std::vector<HfView::Entry> entries;
  if (c.format == "gguf") {
    auto g = GgufSource::open(path);
    c.stored = g;
    const auto& meta = g->header().metadata;
    if (meta.contains("general.architecture") && meta["general.architecture"].is_string())
      c.architecture = meta["general.architecture"].get<std::string>();
    // Only the llama converter stores q/k with adjacent rotary pairs; qwen2/qwen3 keep HF order.
    const bool permuted = c.architecture == "llama" || c.architecture == "mistral";
    int64_t head = 0;
    try {
      c.config = hf_config_from_gguf(meta, path);
      c.architecture = model_type_of(c.config);
      head = c.config.value("head_dim", int64_t{0});
      c.config["tie_word_embeddings"] = g->find("output.weight") == nullptr;
      if (!c.config.contains("vocab_size"))
        if (const TensorInfo* e = g->find("token_embd.weight")) c.config["vocab_size"] = e->rows();
    } catch (const InputError&) {
      c.config = nullptr;  // listed, but no layout: detect_layout reports why
    }
    for (const auto& t : g->tensors()) {
      HfView::Entry e{t, 0};
      bool rotary = false;
      e.info.name = gguf_to_hf(t.stored_name, &rotary);
      if (rotary && permuted && head >= 2 && head % 2 == 0 && t.rows() % head == 0)
        e.rotary_head = head;
      entries.push_back(std::move(e));
    }
  } else {
    auto l = Llama2cSource::open(path);
    c.stored = l;
    const Llama2cHeader& h = l->header();
    c.architecture = "llama";
    c.config = {{"model_type", "llama"},
                {"hidden_size", h.dim},
                {"intermediate_size", h.hidden_dim},
                {"num_hidden_layers", h.n_layers},
                {"num_attention_heads", h.n_heads},
                {"num_key_value_heads", h.n_kv_heads},
                {"head_dim", h.head_dim()},
                {"vocab_size", h.vocab_size},
                {"max_position_embeddings", h.seq_len},
                {"rms_norm_eps", 1e-5},
                {"rope_theta", 10000.0},
                {"tie_word_embeddings", h.shared_classifier}};
    for (const auto& t : l->tensors()) {
      HfView::Entry e{t, 0};
      bool rotary = false;
      e.info.name = llama2c_to_hf(t.stored_name, &rotary);
      if (rotary && h.head_dim() % 2 == 0) e.rotary_head = h.head_dim();
      entries.push_back(std::move(e));
    }
  }
  c.tensors = std::make_shared<HfView>(c.stored, std::move(entries));
  return c;
}

Checkpoint open_checkpoint(const std::string& path, const std::string& config_path) {
  Checkpoint c = open_checkpoint(path);
  const std::string text = read_text_file(config_path);
  nlohmann::json j = parse_json_text(text, config_path);
  if (!j.is_object()) throw InputError(fmt::format("{}: not a JSON object", config_path));
  c.config = std::move(j);
  c.architecture = architecture_of(c.config);
  return c;
}

}  // namespace gmha
