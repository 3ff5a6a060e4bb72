// gmha validate: every variant, every form, against the double reference, on fresh random inputs.
#include <memory>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"
#include "gmha/kernels/validate.hpp"
#include "gmha/report/table.hpp"

namespace gmha::cli {

namespace {

struct ValidateArgs {
  std::vector<std::string> designs;
  std::vector<std::string> rules;
  std::string device = "cpu";
  std::string seed;  // empty: fresh from std::random_device
  int64_t tokens = 70;
  int threads = 2;
  std::string format = "table";
  std::string out;
};

uint64_t read_seed(const std::string& text) {
  if (text.empty()) {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  return static_cast<uint64_t>(parse_integer(text, "--seed", 0));
}

void run_validate(const ValidateArgs& a) {
  ValidateOptions o;
  o.designs = a.designs;
  o.rules = a.rules;
  o.device = a.device;
  o.seed = read_seed(a.seed);
  o.tokens = a.tokens;
  o.threads = a.threads;
  const report::Format format = report::read_format(a.format);
  const std::vector<ValidationRow> rows = run_validation(o);
  size_t failed = 0;
  for (const auto& r : rows) failed += r.passed ? 0 : 1;
  if (format == report::Format::kJson) {
    nlohmann::json j = {{"seed", o.seed}, {"device", o.device}, {"checks", rows.size()}, {"failed", failed}};
    j["rows"] = nlohmann::json::array();
    for (const auto& r : rows) {
      j["rows"].push_back({{"design", r.design}, {"variant", r.variant}, {"check", r.check}, {"tokens", r.tokens},
                           {"rel_error", r.rel_error}, {"tolerance", r.tolerance}, {"passed", r.passed},
                           {"worst", r.worst}});
    }
    emit(j.dump(2) + "\n", a.out);
  } else {
    report::Table t;
    t.title = fmt::format("gmha validate: seed {} (rerun with --seed {}), device {}, T = {}", o.seed, o.seed,
                          o.device, o.tokens);
    t.columns = {{"design", report::Align::kLeft}, {"variant", report::Align::kLeft}, {"check", report::Align::kLeft},
                 {"rel error"}, {"tolerance"}, {"result", report::Align::kLeft}};
    for (const auto& r : rows) {
      t.add_row({r.design, r.variant, r.check, fmt::format("{:.2e}", r.rel_error), fmt::format("{:.0e}", r.tolerance),
                 r.passed ? "pass" : "FAIL: " + r.worst});
    }
    t.notes.push_back(fmt::format("{} checks, {} failed; reference: double-precision prefill (causal softmax)",
                                  rows.size(), failed));
    emit(report::render(t, format), a.out);
  }
  if (failed > 0) throw CheckFailed(fmt::format("validate: {} of {} checks failed (seed {})", failed, rows.size(), o.seed));
}

}  // namespace

void add_validate_command(CLI::App& app) {
  auto a = std::make_shared<ValidateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Check every attention form against the double-precision reference: bilinear (explicit W_c,\n"
      "U_c), decode with the minimal cache (MLA absorbed), and the float32/bf16 decode kernels, on\n"
      "fresh random weights and inputs (the seed is printed); sparse rules (DSA top-k, MoBA, NSA,\n"
      "CSA/HCA), sinks, output gates and shared caches as extra reference rows. Exit 1 when any\n"
      "check fails.\n\n"
      "Examples:\n"
      "  gmha validate\n"
      "  gmha validate --design mla:d=64,heads=4,c=32,qlora=24,nope=16,rope=8,v=16 --seed 7\n"
      "  gmha validate --design step3 --design deepseek-v3 --format json\n"
      "  gmha validate --design gqa:d=32,heads=4,kv=2,hd=8 --rules topk,moba,nsa,csa,sinks,gate=elem,share\n"
      "  gmha validate --device cuda");
  cmd->add_option("--design", a->designs, "design spec or preset (presets run reduced: d<=256, heads<=4)")
      ->allow_extra_args(false);
  cmd->add_option("--rules", a->rules,
                  "reference rows under these rules (comma list): topk, moba, nsa, compress, csa, sinks,\n"
                  "gate=head, gate=elem, share; default: the built-in cases with the built-in designs")
      ->delimiter(',');
  cmd->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed (default: fresh each run)");
  cmd->add_option("--tokens", a->tokens, "tokens per case, 1..512")->capture_default_str();
  cmd->add_option("--threads", a->threads, "threads for the decode kernels")->capture_default_str();
  cmd->add_option("--format", a->format, "table, md, csv, json or latex")->capture_default_str();
  cmd->add_option("--out", a->out, "write the table to this file (atomically)");
  cmd->callback([a] { run_validate(*a); });
}

}  // namespace gmha::cli
