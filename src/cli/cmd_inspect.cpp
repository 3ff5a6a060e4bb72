// gmha inspect: parses the options, opens the checkpoint through the library and formats what it
// finds. Tensor statistics are computed in chunks of rows so memory stays bounded on big tensors.
#include "cli/cmd_inspect.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/output.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/core/error.hpp"
#include "gmha/report/table.hpp"

namespace gmha::cli {

namespace {

struct InspectOptions {
  std::string path;
  std::string format = "table";
  std::string tensor;
  bool stats = false;
  bool stored_names = false;
  std::string out;
};

struct Stats {
  int64_t elements = 0, nan = 0, inf = 0;
  double min = 0, max = 0, mean = 0, std = 0;  // over the finite values
};

// Welford's running mean/variance in double over the finite values, rows read in chunks of
// about 1M elements.
Stats tensor_stats(const TensorSource& src, const TensorInfo& t) {
  Stats s;
  const int64_t cols = std::max<int64_t>(t.cols(), 1);
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 20) / cols);
  const bool progress = ::isatty(STDERR_FILENO) && t.rows() > chunk;
  double m2 = 0;
  int64_t finite = 0;
  s.min = std::numeric_limits<double>::infinity();
  s.max = -s.min;
  std::vector<double> buf;
  for (int64_t r = 0; r < t.rows(); r += chunk) {
    const int64_t e = std::min(t.rows(), r + chunk);
    buf.resize(static_cast<size_t>((e - r) * t.cols()));
    src.read_rows(t.name, r, e, std::span<double>(buf));
    for (double v : buf) {
      if (std::isnan(v)) { ++s.nan; continue; }
      if (std::isinf(v)) { ++s.inf; continue; }
      ++finite;
      s.min = std::min(s.min, v);
      s.max = std::max(s.max, v);
      const double d = v - s.mean;
      s.mean += d / static_cast<double>(finite);
      m2 += d * (v - s.mean);
    }
    if (progress) std::fprintf(stderr, "\rinspect: %lld / %lld rows", static_cast<long long>(e),
                               static_cast<long long>(t.rows()));
  }
  if (progress) std::fprintf(stderr, "\n");
  s.elements = t.elements();
  if (finite == 0) s.min = s.max = std::numeric_limits<double>::quiet_NaN();
  s.std = finite > 0 ? std::sqrt(m2 / static_cast<double>(finite)) : 0.0;
  return s;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// Storage format of a tensor: its type, with the scale tensor's type for FP8 block scales.
std::string storage_format(const TensorSource& src, const TensorInfo& t) {
  if (t.scale.empty()) return t.dtype;
  const TensorInfo* sc = src.find(t.scale);
  return t.dtype + "+" + (sc ? sc->dtype : std::string("?")) + " scales";
}

// Stored bits per weight, counting every byte behind the tensor: block scales and mins inside
// GGUF blocks, and the separate scale / zero tensors of safetensors schemes (t.bytes already
// sums `parts`; an FP8 weight's scale tensor is listed on its own and added here).
double bits_per_weight(const TensorSource& src, const TensorInfo& t) {
  uint64_t bytes = t.bytes;
  if (!t.scale.empty())
    if (const TensorInfo* sc = src.find(t.scale)) bytes += sc->bytes;
  const int64_t n = t.elements();
  return n > 0 ? 8.0 * static_cast<double>(bytes) / static_cast<double>(n) : 0.0;
}

struct MixEntry {
  std::string format;
  int64_t tensors = 0, elements = 0;
  uint64_t bytes = 0;  // including scale tensors
};
// Tensors per storage format, most elements first (the file's mix).
std::vector<MixEntry> storage_mix(const TensorSource& src) {
  std::vector<MixEntry> mix;
  std::set<std::string> scales;  // FP8 scale tensors are counted with their weight
  for (const auto& t : src.tensors())
    if (!t.scale.empty()) scales.insert(t.scale);
  for (const auto& t : src.tensors()) {
    if (scales.count(t.name)) continue;
    const std::string f = storage_format(src, t);
    auto it = std::find_if(mix.begin(), mix.end(), [&](const MixEntry& m) { return m.format == f; });
    if (it == mix.end()) it = mix.insert(mix.end(), MixEntry{f});
    ++it->tensors;
    it->elements += t.elements();
    it->bytes += static_cast<uint64_t>(bits_per_weight(src, t) * static_cast<double>(t.elements()) / 8.0 + 0.5);
  }
  std::stable_sort(mix.begin(), mix.end(),
                   [](const MixEntry& a, const MixEntry& b) { return a.elements > b.elements; });
  return mix;
}
double mix_bpw(const MixEntry& m) {
  return m.elements > 0 ? 8.0 * static_cast<double>(m.bytes) / static_cast<double>(m.elements) : 0.0;
}
std::string mix_text(const std::vector<MixEntry>& mix) {
  std::string s;
  for (const auto& m : mix)
    s += fmt::format("{}{} {} tensor{} {:.2f} bpw", s.empty() ? "" : ", ", m.format, m.tensors,
                     m.tensors == 1 ? "" : "s", mix_bpw(m));
  return s;
}

nlohmann::json tensor_json(const TensorSource& src, const TensorInfo& t) {
  nlohmann::json j = {{"name", t.name},   {"dtype", t.dtype}, {"shape", t.shape},
                      {"bytes", t.bytes}, {"file", t.file},   {"convertible", t.convertible}};
  if (t.stored_name != t.name) j["stored_name"] = t.stored_name;
  if (!t.scale.empty()) j["scale"] = t.scale;
  if (!t.parts.empty()) j["parts"] = t.parts;
  j["storage"] = storage_format(src, t);
  j["bpw"] = bits_per_weight(src, t);
  return j;
}

// A JSON number, or null for NaN (JSON has no NaN).
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

std::string dump(const nlohmann::json& j) {
  // Names inside GGUF files need not be UTF-8: replace bad bytes rather than fail.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void run_tensor(const InspectOptions& o, const Checkpoint& c, report::Format f) {
  const TensorSource& src = o.stored_names ? *c.stored : *c.tensors;
  const TensorInfo& t = src.info(o.tensor);
  if (!o.stats) {
    if (f == report::Format::kJson) return emit(dump(tensor_json(src, t)), o.out);
    return emit(fmt::format("{}  {}  {}  {} bytes  {:.3f} bpw  {}{}\n", t.name,
                            storage_format(src, t), shape_text(t.shape), t.bytes,
                            bits_per_weight(src, t), t.file,
                            t.scale.empty() ? "" : "  scale " + t.scale),
                o.out);
  }
  const Stats s = tensor_stats(src, t);
  if (f == report::Format::kJson) {
    nlohmann::json j = tensor_json(src, t);
    j["elements"] = s.elements;
    j["min"] = num(s.min);
    j["max"] = num(s.max);
    j["mean"] = num(s.mean);
    j["std"] = num(s.std);
    j["nan"] = s.nan;
    j["inf"] = s.inf;
    return emit(dump(j), o.out);
  }
  emit(fmt::format("{}  {}  {}{}\nelements {}\nmin {:.9g}\nmax {:.9g}\nmean {:.9g}\nstd {:.9g}\n"
                   "nan {}\ninf {}\n",
                   t.name, t.dtype, shape_text(t.shape),
                   t.scale.empty() ? "" : " (dequantised with " + t.scale + ")", s.elements, s.min,
                   s.max, s.mean, s.std, s.nan, s.inf),
       o.out);
}

void run_inspect(const InspectOptions& o) {
  const report::Format f = report::read_format(o.format);
  const Checkpoint c = open_checkpoint(o.path);
  if (!o.tensor.empty()) return run_tensor(o, c, f);

  // No config at all (a lone safetensors file): list tensors, no layout. Anything else that
  // stops the layout detector is an error in the checkpoint and is reported as such.
  std::optional<Layout> layout;
  std::string no_layout;
  if (c.config.is_object()) {
    layout = detect_layout(c);
  } else {
    try {
      layout = detect_layout(c);
    } catch (const InputError& e) {
      no_layout = e.what();
    }
  }
  const LayerLayout* main = nullptr;
  if (layout)
    for (const auto& l : layout->layers)
      if (l.kind != LayoutKind::kLinear && l.kind != LayoutKind::kNone) { main = &l; break; }
  const CapacityRanks ranks = main ? capacity_ranks(main->shape) : CapacityRanks{};
  std::string kinds;  // distinct layout kinds, in layer order
  if (layout)
    for (const auto& l : layout->layers) {
      const std::string k(layout_kind_name(l.kind));
      if (kinds.find(k) == std::string::npos) kinds += (kinds.empty() ? "" : "+") + k;
    }
  const TensorSource& src = o.stored_names ? *c.stored : *c.tensors;
  uint64_t total_bytes = 0;
  int64_t total_elements = 0;
  for (const auto& t : src.tensors()) {
    total_bytes += t.bytes;
    total_elements += t.elements();
  }

  if (f == report::Format::kJson) {
    nlohmann::json j;
    j["path"] = c.path;
    j["format"] = c.format;
    j["architecture"] = c.architecture;
    j["layers"] = layout ? nlohmann::json(layout->layers.size()) : nlohmann::json();
    j["d_model"] = main ? nlohmann::json(main->shape.d_model) : nlohmann::json();
    j["heads"] = main ? nlohmann::json(main->shape.heads) : nlohmann::json();
    j["kv_heads"] = main ? nlohmann::json(main->shape.kv_heads) : nlohmann::json();
    j["head_dim"] = main ? nlohmann::json(main->shape.head_dim) : nlohmann::json();
    j["attention"] = layout ? nlohmann::json(kinds) : nlohmann::json();
    j["variant"] = main ? nlohmann::json(variant_name(main->shape.variant)) : nlohmann::json();
    j["nominal"] = main ? nlohmann::json({{"frh", ranks.frh},
                                          {"slsd", ranks.slsd},
                                          {"ter", ranks.ter},
                                          {"frh_bound", ranks.frh_bound}})
                        : nlohmann::json();
    if (!no_layout.empty()) j["layout_error"] = no_layout;
    if (layout) {
      j["rms_norm_eps"] = layout->rms_norm_eps;
      j["rope_theta"] = layout->rope_theta;
      nlohmann::json per = nlohmann::json::array();
      for (const auto& l : layout->layers) {
        nlohmann::json factors = nlohmann::json::object();
        auto add = [&](const char* role, const std::string& name) {
          if (!name.empty()) factors[role] = name;
        };
        add("q_proj", l.q_proj); add("k_proj", l.k_proj); add("v_proj", l.v_proj);
        add("o_proj", l.o_proj); add("q_a_proj", l.q_a_proj);
        add("q_a_layernorm", l.q_a_layernorm); add("q_b_proj", l.q_b_proj);
        add("kv_a_proj_with_mqa", l.kv_a_proj_with_mqa); add("kv_a_layernorm", l.kv_a_layernorm);
        add("kv_b_proj", l.kv_b_proj); add("inter_norm", l.inter_norm); add("wq", l.wq);
        add("kr_n", l.kr_n); add("kr_alpha", l.kr_alpha);
        per.push_back({{"layer", l.layer},
                       {"attention", layout_kind_name(l.kind)},
                       {"variant", variant_name(l.shape.variant)},
                       {"factors", factors}});
      }
      j["layer_layouts"] = per;
    }
    nlohmann::json ts = nlohmann::json::array();
    for (const auto& t : src.tensors()) ts.push_back(tensor_json(src, t));
    j["tensors"] = ts;
    nlohmann::json mix = nlohmann::json::array();
    for (const auto& m : storage_mix(src))
      mix.push_back({{"storage", m.format},
                     {"tensors", m.tensors},
                     {"elements", m.elements},
                     {"bytes", m.bytes},
                     {"bpw", mix_bpw(m)}});
    j["mix"] = mix;
    j["totals"] = {{"tensors", src.tensors().size()},
                   {"bytes", total_bytes},
                   {"elements", total_elements}};
    return emit(dump(j), o.out);
  }

  std::string s = fmt::format("path: {}\nformat: {}\narchitecture: {}\n", c.path, c.format,
                              c.architecture.empty() ? "(unknown)" : c.architecture);
  if (main) {
    s += fmt::format("layers: {}, d_model {}\n", layout->layers.size(), main->shape.d_model);
    s += fmt::format("attention: {} ({}), heads {}, kv_heads {}, head_dim {}\n", kinds,
                     variant_label(main->shape.variant), main->shape.heads, main->shape.kv_heads,
                     main->shape.head_dim);
    s += fmt::format("nominal: FRH {} (bound {}), SLSD {}, TER {}\n", ranks.frh, ranks.frh_bound,
                     ranks.slsd, ranks.ter);
  } else {
    s += fmt::format("layout: unavailable ({})\n", no_layout);
  }
  s += fmt::format("mix: {}\n", mix_text(storage_mix(src)));
  report::Table table;
  table.columns = {{"name", report::Align::kLeft},
                   {"dtype", report::Align::kLeft},
                   {"shape", report::Align::kLeft},
                   {"bytes", report::Align::kRight},
                   {"bpw", report::Align::kRight},
                   {"file", report::Align::kLeft}};
  for (const auto& t : src.tensors())
    table.add_row({t.name, storage_format(src, t), shape_text(t.shape), std::to_string(t.bytes),
                   fmt::format("{:.3f}", bits_per_weight(src, t)),
                   std::filesystem::path(t.file).filename().string()});
  table.notes.push_back(fmt::format("{} tensors, {} bytes, {} elements", src.tensors().size(),
                                    total_bytes, total_elements));
  s += "\n" + report::render(table, f);
  emit(s, o.out);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Show what a checkpoint holds: format, architecture, the detected attention layout with its\n"
      "nominal FRH / SLSD / TER, and every tensor (name, dtype, shape, bytes, file). Reads\n"
      "safetensors files and sharded folders (bf16/fp16/fp8 with block scales, MXFP4, NVFP4,\n"
      "GPTQ/AWQ int4, compressed-tensors), GGUF v2/v3 (F32/F16/BF16, Q4_0..Q8_1, K-quants,\n"
      "IQ4_NL/IQ4_XS, MXFP4, NVFP4) and llama2.c .bin files; tensor names are shown in Hugging\n"
      "Face convention. Each tensor's storage format and bits per weight (scales and zeros\n"
      "counted) are shown, and the file's mix of formats.\n\n"
      "Examples:\n"
      "  gmha inspect ../shared/data/stories260K-hf-bf16\n"
      "  gmha inspect ../shared/data/stories260K-gguf/stories260K.gguf --format json\n"
      "  gmha inspect ../shared/data/stories260K-llama2c/stories260K.bin --tensor model.layers.0.self_attn.q_proj.weight --stats\n"
      "  gmha inspect ../shared/data/stories260K-gguf/stories260K.gguf --stored-names --tensor blk.0.attn_k.weight --stats --format json");
  cmd->add_option("path", opts->path, "Checkpoint: safetensors file or folder, .gguf, llama2.c .bin")
      ->required();
  cmd->add_option("--format", opts->format, "table | json | md | csv | latex")->capture_default_str();
  cmd->add_option("--tensor", opts->tensor, "Show one tensor only");
  cmd->add_flag("--stats", opts->stats,
                "With --tensor: min, max, mean, std (finite values), nan and inf counts after "
                "conversion (fp8 dequantised)");
  cmd->add_flag("--stored-names", opts->stored_names,
                "Use the file's own tensor names and row order (GGUF blk.N.*, llama2.c wq...)");
  cmd->add_option("--out", opts->out, "Write to this file (atomically) instead of stdout");
  cmd->callback([opts] {
    if (opts->stats && opts->tensor.empty()) throw InputError("--stats: needs --tensor NAME");
    run_inspect(*opts);
  });
}

}  // namespace gmha::cli
