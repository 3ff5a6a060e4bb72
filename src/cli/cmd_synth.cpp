// gmha synth: parses the options, takes a preset's or the flags' shape and calls the library's
// write_synth_checkpoint; prints what was written.
#include "cli/cmd_synth.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "cli/output.hpp"
#include "cli/progress.hpp"
#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"
#include "gmha/bridge/synth.hpp"
#include "gmha/bridge/synth_model.hpp"
#include "gmha/core/json_text.hpp"

namespace gmha::cli {
namespace {

struct SynthCliOptions {
  std::string out_dir;
  std::string preset;
  std::string layout;  // llama | deepseek_v3 | step3 | mfa-kr
  int64_t d = 0, heads = 0, kv_heads = 0, head_dim = 0, layers = 0;
  int64_t q_lora = -1, kv_lora = 0, nope = 0, rope = 0, v_dim = 0, share_q = 0;
  int64_t index_heads = 0, index_dim = 0;
  std::string qk_rank = "full", vo_rank = "full", index_rank = "full";
  std::string config;  // --config: a config.json (or its folder)
  std::string recurrent_q_rank = "full", recurrent_k_rank = "full", compressor_rank = "full";
  uint64_t seed = 0;
  std::string dtype = "bf16";
  double shard_gb = 0;
  bool force = false;
};

// Whether a GGUF file's metadata (within its first MiB) holds synth's "gmha.synth" key.
bool gguf_by_synth(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string head(1 << 20, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return head.starts_with("GGUF") && head.find("gmha.synth") != std::string::npos;
}

// Whether a safetensors file's JSON header carries synth's "gmha_synth" metadata.
bool written_by_synth(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char len[8] = {};
  if (!in.read(reinterpret_cast<char*>(len), 8)) return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | len[i];
  std::string header(std::min<uint64_t>(n, 1 << 20), '\0');
  in.read(header.data(), static_cast<std::streamsize>(header.size()));
  return header.find("\"gmha_synth\"") != std::string::npos;
}

// An earlier synth folder: only config.json, safetensors files and the index, and a safetensors
// header that synth wrote. Anything else (a real checkpoint, a user's files) is not ours.
bool is_synth_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool marked = false;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.ends_with(".safetensors")) {
      marked = marked || written_by_synth(e.path());
    } else if (n == "model.gguf") {
      marked = marked || gguf_by_synth(e.path());
    } else if (n != "config.json" && n != "model.safetensors.index.json" &&
               n != "hf_quant_config.json") {
      return false;
    }
  }
  return !ec && marked;
}

// Refuses, before anything is generated or written, a checkpoint that cannot fit: on the disk
// (statvfs) or, for the largest tensor's float buffer, in this machine's memory.
void check_sizes(const std::string& out_dir, const SynthOptions& s) {
  const SynthSize size = synth_checkpoint_size(s);
  const double ram = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) *
                     static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (ram > 0 && static_cast<double>(size.largest_fill_bytes) > ram / 2) {
    throw InputError(fmt::format(
        "synth {}: the largest tensor needs {:.1f} GB of memory to generate, more than half of "
        "this machine's {:.1f} GB; use smaller --d/--heads/--head-dim",
        out_dir, static_cast<double>(size.largest_fill_bytes) / 1e9, ram / 1e9));
  }
  // statvfs on the folder, or on its nearest existing ancestor when it is new.
  require_free_space("synth", out_dir, size.tensor_bytes);
}

// `--config`: the model a config.json describes, every layer planted in its family's names, the
// file itself written as the folder's config.json.
SynthOptions from_config(const SynthCliOptions& o) {
  const std::pair<const char*, bool> shape_flags[] = {
      {"--preset", !o.preset.empty()}, {"--layout", !o.layout.empty()}, {"--d", o.d != 0},
      {"--heads", o.heads != 0},       {"--kv-heads", o.kv_heads != 0}, {"--head-dim", o.head_dim != 0},
      {"--layers", o.layers != 0},     {"--q-lora", o.q_lora >= 0},     {"--kv-lora", o.kv_lora != 0},
      {"--nope", o.nope != 0},         {"--rope", o.rope != 0},         {"--v-dim", o.v_dim != 0},
      {"--share-q", o.share_q != 0},   {"--index-heads", o.index_heads != 0},
      {"--index-dim", o.index_dim != 0}};
  for (const auto& [flag, given] : shape_flags)
    if (given) throw InputError(fmt::format("--config: the shapes come from the config; drop {}", flag));
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string file = fs::is_directory(o.config, ec) ? (fs::path(o.config) / "config.json").string() : o.config;
  if (!fs::exists(file, ec)) throw InputError(file + ": no such file");
  const std::string text = read_text_file(file);
  const nlohmann::json j = parse_json_text(text, file);
  const ModelDesign m = model_from_hf_config(j, file);
  const nlohmann::json& t = j.contains("text_config") && j["text_config"].is_object() ? j["text_config"] : j;
  const std::string type = t.value("model_type", j.value("model_type", std::string()));
  SynthOptions s = synth_options_for_model(m, type);
  s.config = nlohmann::ordered_json::parse(text);  // the user's file, in its key order
  return s;
}

// The shape flags (and --preset): one attention shape for every layer.
SynthOptions from_flags(const SynthCliOptions& o) {
  SynthOptions s;
  if (!o.preset.empty()) {
    const ModelDesign m = read_preset(o.preset);
    s.shape = m.layers.at(0).attention;
    for (const auto& l : m.layers) {
      if (l.attention.variant != s.shape.variant || l.attention.d_model != s.shape.d_model) {
        throw InputError(fmt::format("--preset {}: layers differ in attention shape; a preset's synth "
                                     "is uniform (use --config with the model's config.json)", o.preset));
      }
    }
    s.layers = static_cast<int64_t>(m.layers.size());
    s.vocab_size = m.vocab_size;
    s.intermediate_size = m.layers[0].ffn.intermediate;
  }
  if (!o.layout.empty()) {
    s.layout = read_synth_layout(o.layout);
  } else {
    s.layout = o.preset.empty() ? SynthLayout::kLlama : synth_layout_for(s.shape.variant);
  }
  AttentionShape& a = s.shape;
  if (o.preset.empty()) {
    switch (s.layout) {
      case SynthLayout::kLlama: a.variant = Variant::kGqa; break;
      case SynthLayout::kDeepseekV3: a.variant = Variant::kMla; break;
      case SynthLayout::kStep3: a.variant = Variant::kMfa; break;
      case SynthLayout::kMfaKr: a.variant = Variant::kMfaKr; break;
      case SynthLayout::kGta: a.variant = Variant::kGta; break;
      case SynthLayout::kGla: a.variant = Variant::kGla; break;
    }
    a.kv_heads = 1;
  }
  if (s.layout == SynthLayout::kMfaKr && a.variant == Variant::kMfa) a.variant = Variant::kMfaKr;
  // Flags override the preset's values.
  if (o.d) a.d_model = o.d;
  if (o.heads) a.heads = o.heads;
  if (o.kv_heads) a.kv_heads = o.kv_heads;
  if (o.head_dim) a.head_dim = o.head_dim;
  if (o.q_lora >= 0) a.q_lora_rank = o.q_lora;
  if (o.kv_lora) a.kv_lora_rank = o.kv_lora;
  if (o.nope) a.qk_nope_dim = o.nope;
  if (o.rope) a.qk_rope_dim = o.rope;
  if (o.v_dim) a.v_head_dim = o.v_dim;
  if (o.share_q) a.q_share_dim = o.share_q;
  if (o.index_heads) a.index_heads = o.index_heads;
  if (o.index_dim) a.index_head_dim = o.index_dim;
  if (a.variant == Variant::kGta && o.rope == 0 && a.head_dim > 0) a.qk_rope_dim = gta_default_rope_dim(a.head_dim);
  if (a.variant == Variant::kGla) {
    // The reference's one head_dim is both nope and v.
    if (o.head_dim) a.qk_nope_dim = a.v_head_dim = o.head_dim;
    a.head_dim = 0;
  }
  if (o.layers) s.layers = o.layers;
  if (s.layers == 0) s.layers = 1;
  if (a.variant == Variant::kGqa || a.variant == Variant::kMha || a.variant == Variant::kMqa) {
    if (a.kv_heads == 0) a.kv_heads = a.heads;
    if (a.head_dim == 0 && a.heads > 0) a.head_dim = a.d_model / a.heads;
    a.variant = a.kv_heads == a.heads ? Variant::kMha : a.kv_heads == 1 ? Variant::kMqa : Variant::kGqa;
  }
  return s;
}

void run(const SynthCliOptions& o) {
  SynthOptions s = o.config.empty() ? from_flags(o) : from_config(o);
  s.qk_rank = parse_rank_pattern(o.qk_rank, "--qk-rank");
  s.recurrent_q_rank = parse_rank_pattern(o.recurrent_q_rank, "--recurrent-q-rank");
  s.recurrent_k_rank = parse_rank_pattern(o.recurrent_k_rank, "--recurrent-k-rank");
  s.compressor_rank = parse_rank_pattern(o.compressor_rank, "--compressor-rank");
  s.vo_rank = parse_rank_pattern(o.vo_rank, "--vo-rank");
  s.index_rank = parse_rank_pattern(o.index_rank, "--index-rank");
  s.seed = o.seed;
  static const std::pair<const char*, const char*> kDtypes[] = {
      {"bf16", "BF16"},   {"f32", "F32"},     {"fp32", "F32"},         {"q8_0", "Q8_0"},
      {"q4_k", "Q4_K"},   {"q4_k_m", "Q4_K_M"}, {"mxfp4", "MXFP4"},    {"nvfp4", "NVFP4"},
      {"fp8-block", "FP8_BLOCK"}};
  s.dtype.clear();
  for (const auto& [flag, name] : kDtypes)
    if (o.dtype == flag || o.dtype == name) s.dtype = name;
  if (s.dtype.empty())
    throw InputError(fmt::format("--dtype: '{}' is not one of bf16, f32, q8_0, q4_k, q4_k_m, "
                                 "mxfp4, nvfp4, fp8-block", o.dtype));
  if (o.shard_gb < 0) throw InputError("--shard-gb: must not be negative");
  s.max_shard_bytes = static_cast<uint64_t>(o.shard_gb * 1e9);
  s.progress = terminal_progress("synth", "tensors");
  if (o.out_dir == "-") throw InputError("synth -: a checkpoint is a folder; give its path");
  check_sizes(o.out_dir, s);
  StagedFolder folder("synth", o.out_dir, o.force, is_synth_folder);
  const SynthResult r = write_synth_checkpoint(folder.path(), s);
  folder.commit();
  emit(fmt::format("wrote {} ({} layout, {} layers, {} tensors, {:.3f} GB of {} weights): {}\n",
                   o.out_dir, synth_layout_name(s.layout), s.layers, r.tensors,
                   static_cast<double>(r.tensor_bytes) / 1e9, s.dtype, fmt::join(r.files, ", ")),
       "");
}

}  // namespace

void add_synth_command(CLI::App& app) {
  auto o = std::make_shared<SynthCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "synth",
      "Write a Hugging Face-style checkpoint folder (config.json + safetensors) with a planted\n"
      "rank for every head's QK and VO circuit: the known answer for `gmha audit`. Layouts:\n"
      "llama (MHA/GQA/MQA), deepseek_v3 (MLA; DSA indexer with --index-heads), step3 (MFA),\n"
      "mfa-kr, gta and gla (the names of the GTA/GLA reference code). Only attention weights\n"
      "and input norms are stored (config.json describes the whole model). Planted spectra run\n"
      "linearly from 1 to 0.3 (then zeros), so BF16 rounding cannot blur the rank.\n"
      "Quantized dtypes store the same planted weights as people download them: q8_0, q4_k,\n"
      "q4_k_m (llama.cpp's mix) as one model.gguf (llama layout); mxfp4 (gpt-oss), nvfp4\n"
      "(ModelOpt), fp8-block (DeepSeek 128x128) as safetensors.\n"
      "--config takes the whole model from a config.json: mixed layer kinds (sliding/full\n"
      "geometry, gates, sinks, K = V), DeepSeek-V4, and recurrent layers (Gated DeltaNet, KDA,\n"
      "Mamba2, Mamba-1, lightning; their query/key factors planted with --recurrent-q/k-rank).\n\n"
      "Examples:\n"
      "  gmha synth llama8b --preset llama3-8b --layers 2 --dtype bf16\n"
      "  gmha synth small --layout llama --d 256 --heads 8 --kv-heads 2 --layers 4 "
      "--qk-rank 1,8,full --seed 7\n"
      "  gmha synth mla --layout deepseek_v3 --d 512 --heads 4 --q-lora 96 --kv-lora 64 "
      "--nope 32 --rope 16 --v-dim 32 --layers 2 --dtype f32\n"
      "  gmha synth step3 --preset step3 --layers 1 --shard-gb 1\n"
      "  gmha synth gta --layout gta --d 256 --heads 8 --kv-heads 2 --head-dim 32 --rope 16\n"
      "  gmha synth gla --layout gla --d 256 --heads 8 --kv-heads 2 --head-dim 32 --q-lora 64 "
      "--kv-lora 48 --rope 16 --qk-rank 1,full\n"
      "  gmha synth q4km --layout llama --d 512 --heads 8 --kv-heads 2 --layers 2 --dtype q4_k_m\n"
      "  gmha synth planted260k --config ../shared/data/stories260K-hf-f32/config.json --qk-rank 4 --vo-rank 2,full");
  cmd->add_option("out_dir", o->out_dir, "Folder to write (new, empty, or an earlier synth folder; replaced as a whole)")->required();
  cmd->add_option("--preset", o->preset, "Take the shapes of a preset (see `gmha presets`)");
  cmd->add_option("--config", o->config,
                  "Plant every layer of the model a Hugging Face config.json describes (hybrids included),\n"
                  "in its family's tensor names, and write that config.json (no shape flags with it)");
  cmd->add_option("--recurrent-q-rank", o->recurrent_q_rank,
                  "Planted rank of each recurrent layer's query factor (KDA, Gated DeltaNet, Mamba2 C, "
                  "lightning), as --qk-rank")->capture_default_str();
  cmd->add_option("--recurrent-k-rank", o->recurrent_k_rank, "... and of its key factor (Mamba2: B)")
      ->capture_default_str();
  cmd->add_option("--compressor-rank", o->compressor_rank,
                  "DeepSeek-V4 (--config): planted rank of each compressor half's wkv, as --qk-rank")
      ->capture_default_str();
  cmd->add_option("--layout", o->layout, "llama | deepseek_v3 | step3 | mfa-kr | gta | gla (default: "
                                         "from the preset, else llama)");
  cmd->add_option("--d", o->d, "hidden_size d");
  cmd->add_option("--heads", o->heads, "query heads");
  cmd->add_option("--kv-heads", o->kv_heads, "KV heads g (llama; default: heads), h_kv (gta), latent heads h_c (gla)");
  cmd->add_option("--head-dim", o->head_dim, "head_dim h (llama, gta), C (step3, mfa-kr), nope = v (gla)");
  cmd->add_option("--layers", o->layers, "layers (default: the preset's, else 1)");
  cmd->add_option("--q-lora", o->q_lora, "MLA q_lora_rank (0: plain q_proj)");
  cmd->add_option("--kv-lora", o->kv_lora, "MLA kv_lora_rank C");
  cmd->add_option("--nope", o->nope, "MLA qk_nope_head_dim");
  cmd->add_option("--rope", o->rope, "MLA qk_rope_head_dim");
  cmd->add_option("--v-dim", o->v_dim, "MLA v_head_dim");
  cmd->add_option("--share-q", o->share_q, "MFA share_q_dim C_q");
  cmd->add_option("--index-heads", o->index_heads, "deepseek_v3: DSA indexer heads H_I (writes a deepseek_v32)");
  cmd->add_option("--index-dim", o->index_dim, "deepseek_v3: DSA indexer head width d_I");
  cmd->add_option("--index-rank", o->index_rank, "Planted rank of each indexer head's circuit, as --qk-rank")
      ->capture_default_str();
  cmd->add_option("--qk-rank", o->qk_rank,
                  "Planted QK rank: a number, 'full', or a list cycled over (layer, head), e.g. "
                  "1,8,full")->capture_default_str();
  cmd->add_option("--vo-rank", o->vo_rank, "Planted VO rank, as --qk-rank")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed (same seed, same bytes)")->capture_default_str();
  cmd->add_option("--dtype", o->dtype,
                  "bf16 | f32 | q8_0 | q4_k | q4_k_m | mxfp4 | nvfp4 | fp8-block")
      ->capture_default_str();
  cmd->add_option("--shard-gb", o->shard_gb,
                  "Shard above this many GB (model-0000k-of-0000n + index); 0: one file")
      ->capture_default_str();
  cmd->add_flag("--force", o->force,
                "Replace out_dir even when it is a non-empty folder that synth did not write");
  cmd->callback([o] { run(*o); });
}

}  // namespace gmha::cli
