// gmha bench decode: times the CPU decode kernel for a design and context, beside the machine's
// sgemm rate and read bandwidth measured in the same run, and the floor they imply.
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/model_args.hpp"
#include "cli/output.hpp"
#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"
#include "gmha/kernels/bench.hpp"
#include "gmha/report/table.hpp"

namespace gmha::cli {

namespace {

struct BenchArgs {
  std::string design;
  std::string context = kDefaultContext;
  int64_t batch = 1;
  std::string dtype = "bf16";  // the cache dtype every other command assumes
  int threads = 0;
  int repeats = 0;
  bool portable = false;
  std::string kernel = "auto";
  std::string format = "table";
  std::string out;
};

// The attention shape a --design names: a spec, or a preset's first full-attention softmax layer.
AttentionShape design_shape(const std::string& design) {
  const ModelDesign m = is_preset(design) ? read_preset(design) : parse_design_spec(design);
  for (const LayerSpec& l : m.layers) {
    if (l.attention.variant != Variant::kLinear && l.span.kind == SpanKind::kFull) return l.attention;
  }
  for (const LayerSpec& l : m.layers) {
    if (l.attention.variant != Variant::kLinear) return l.attention;
  }
  throw InputError(fmt::format("--design {}: no softmax attention layer to benchmark", design));
}

KernelPath kernel_path(const std::string& name) {
  if (name == "auto") return KernelPath::kAuto;
  if (name == "portable") return KernelPath::kPortable;
  if (name == "avx2") return KernelPath::kAvx2;
  if (name == "avx512") return KernelPath::kAvx512;
  if (name == "cuda") return KernelPath::kCuda;
  throw errors::unknown_name("--kernel", "kernel", name, "auto, portable, avx2, avx512, cuda");
}

nlohmann::json to_json(const std::string& design, const DecodeBenchOptions& o, const DecodeBenchResult& r) {
  return {{"design", design},
          {"context", o.context},
          {"batch", o.batch},
          {"dtype", cache_dtype_name(o.dtype)},
          {"threads", r.threads},
          {"kernel", r.kernel},
          {"repeats", r.repeats},
          {"seconds", r.seconds},
          {"min_seconds", r.min_seconds},
          {"flops", r.flops},
          {"bytes", r.bytes},
          {"gflops", r.gflops},
          {"gbps", r.gbps},
          {"sgemm_gflops", r.machine.sgemm_gflops},
          {"sgemm_source", r.machine.sgemm_source},
          {"read_gbps", r.machine.read_gbps},
          {"floor_seconds", r.floor_seconds},
          {"fraction_of_sgemm", r.gflops / r.machine.sgemm_gflops},
          {"fraction_of_floor", r.floor_seconds / r.seconds}};
}

void run_bench_decode(const BenchArgs& a) {
  const AttentionShape shape = design_shape(a.design);
  const report::Format format = report::read_format(a.format);
  DecodeBenchOptions o;
  o.batch = a.batch;
  o.dtype = read_cache_dtype(a.dtype, "--dtype");
  o.threads = a.threads;
  o.repeats = a.repeats;
  o.path = a.portable ? KernelPath::kPortable : kernel_path(a.kernel);
  const std::vector<int64_t> contexts = parse_token_counts(a.context, "--context");
  const MachineRates machine = measure_machine(a.threads);
  nlohmann::json runs = nlohmann::json::array();
  report::Table t;
  t.title = fmt::format("decode step, {} ({} cache), {} thread(s); sgemm {:.1f} GFLOP/s ({}), read {:.1f} GB/s",
                        a.design, a.dtype, machine.threads, machine.sgemm_gflops, machine.sgemm_source, machine.read_gbps);
  t.columns = {{"T"}, {"B"}, {"kernel", report::Align::kLeft}, {"ms"}, {"GFLOP/s"}, {"GB/s"},
               {"% sgemm"}, {"floor ms"}, {"% of floor"}};
  for (long long ctx : contexts) {
    o.context = ctx;
    const DecodeBenchResult r = bench_decode(shape, o, &machine);
    runs.push_back(to_json(a.design, o, r));
    t.add_row({std::to_string(ctx), std::to_string(o.batch), r.kernel, fmt::format("{:.3f}", r.seconds * 1e3),
               fmt::format("{:.1f}", r.gflops), fmt::format("{:.1f}", r.gbps),
               fmt::format("{:.0f}%", 100 * r.gflops / machine.sgemm_gflops),
               fmt::format("{:.3f}", r.floor_seconds * 1e3), fmt::format("{:.0f}%", 100 * r.floor_seconds / r.seconds)});
  }
  t.notes.push_back("FLOPs 2*n*T*(qk+v) per sequence (docs/kernels.md); floor = max(FLOPs/sgemm, bytes/read bandwidth)");
  if (format == report::Format::kJson) {
    emit((runs.size() == 1 ? runs[0] : runs).dump(2) + "\n", a.out);
  } else {
    emit(report::render(t, format), a.out);
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks of gmha's kernels on this machine.\n\n"
                                                "Example:\n  gmha bench decode --design step3 --context 32k");
  bench->require_subcommand(1);
  auto a = std::make_shared<BenchArgs>();
  CLI::App* dec = bench->add_subcommand(
      "decode",
      "Time one decode step's attention (split-K, online softmax) over a T-token cache, with the\n"
      "sgemm rate and memory bandwidth measured in the same run and the floor they imply.\n"
      "JSON keys: seconds (median step), gflops, gbps, floor_seconds, sgemm_gflops, read_gbps, ...\n\n"
      "Examples:\n"
      "  gmha bench decode --design mfa:d=7168,heads=64,c=256,cq=2048 --context 32k\n"
      "  gmha bench decode --design step3 --context 8k,32k --dtype bf16 --threads 2 --format json\n"
      "  gmha bench decode --design deepseek-v3 --context 4096 --batch 4");
  dec->add_option("--design", a->design, "design spec or preset (its first full-attention layer)")->required();
  dec->add_option("--context", a->context, "cached tokens T, e.g. 32768, 32k or a list 8k,32k")->capture_default_str();
  dec->add_option("--batch", a->batch, "independent sequences B")->capture_default_str();
  dec->add_option("--dtype", a->dtype, "cache dtype: fp32 or bf16")->capture_default_str();
  dec->add_option("--threads", a->threads, "threads (0 = all cores)")->capture_default_str();
  dec->add_option("--repeats", a->repeats, "timed steps (0 = about one second's worth)")->capture_default_str();
  dec->add_option("--kernel", a->kernel,
                  "auto (AVX-512, else AVX2+FMA, else portable), portable, avx2, avx512 or cuda")
      ->capture_default_str();
  dec->add_flag("--portable", a->portable, "same as --kernel portable");
  dec->add_option("--format", a->format, "table, md, csv, json or latex")->capture_default_str();
  dec->add_option("--out", a->out, "write the result to this file (atomically)");
  dec->callback([a] { run_bench_decode(*a); });
}

}  // namespace gmha::cli
