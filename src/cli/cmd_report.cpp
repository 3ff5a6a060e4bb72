// gmha report: a self-contained report folder (Markdown, HTML, SVG figures, LaTeX tables) for
// models, designs and cards, with an optional rank-audit section.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/model_args.hpp"
#include "cli/output.hpp"
#include "cli/progress.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/json_text.hpp"
#include "gmha/core/parse.hpp"
#include "gmha/rank/audit_diff.hpp"
#include "gmha/rank/audit_json.hpp"
#include "gmha/app/model_report.hpp"

namespace gmha::cli {

namespace {

struct ReportCliOptions {
  ModelArgs models;
  HardwareArgs hardware;
  ServingArgs serving;
  std::string context = kDefaultContexts;
  std::string audit;
  std::vector<std::string> audit_diff;  // A B
  std::string title = "gmha report";
  long long worst_heads = 4;
  std::string out;
  bool force = false;
};

std::string quote(const std::string& s) {
  if (s.find_first_of(" \t'\"$`\\;&|<>()*?") == std::string::npos && !s.empty()) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The command line that reproduces the report, from the parsed options.
std::string command_of(const ReportCliOptions& o, const HardwareArgs& hw) {
  std::string s = "gmha report";
  for (const auto& m : o.models.models) s += " " + quote(m);
  for (const auto& d : o.models.designs) s += " --design " + quote(d);
  if (!o.models.kv_dtype.empty()) s += " --kv-dtype " + quote(o.models.kv_dtype);
  if (o.models.convention != "exact") s += " --convention " + quote(o.models.convention);
  if (!hw.hardware.empty()) s += " --hardware " + quote(hw.hardware);
  for (const auto& d : hw.hardware_defs) s += " --hardware-def " + quote(d);
  if (!hw.compute_dtype.empty()) s += " --compute-dtype " + quote(hw.compute_dtype);
  if (o.serving.tp != 1) s += " --tp " + std::to_string(o.serving.tp);
  if (o.serving.ep != 1) s += " --ep " + std::to_string(o.serving.ep);
  if (!o.serving.weight_dtype.empty()) s += " --weight-dtype " + quote(o.serving.weight_dtype);
  s += " --context " + quote(o.context);
  if (!o.audit.empty()) s += " --audit " + quote(o.audit);
  if (o.audit_diff.size() == 2) s += " --audit-diff " + quote(o.audit_diff[0]) + " " + quote(o.audit_diff[1]);
  if (o.title != "gmha report") s += " --title " + quote(o.title);
  s += " --out " + quote(o.out);
  return s;
}

AuditReport load_audit(const std::string& path) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    const std::string text = read_text_file(path);
    return audit_from_json(parse_json_text(text, "--audit " + path), path);
  }
  AuditOptions ao;
  ao.progress = terminal_progress("audit", "layers");
  return audit_path(path, ao);
}

void run_report(const ReportCliOptions& c) {
  if (c.out.empty()) throw InputError("--out: give a folder for the report");
  if (c.out == "-") throw InputError("--out -: a report is a folder of files; give its path");
  if (c.worst_heads < 0) throw errors::not_positive("--worst-heads", "worst heads", c.worst_heads);
  app::ReportInput in;
  in.title = c.title;
  in.convention = read_convention(c.models.convention);
  if (!c.models.models.empty() || !c.models.designs.empty()) {
    in.models = load_models(c.models, in.convention);
  }
  HardwareArgs hw = c.hardware;
  if (hw.hardware.empty() && hw.hardware_defs.empty()) hw.hardware = "h800,h20";
  in.cards = load_hardware(hw);
  in.compute_dtype = compute_dtype_of(hw, in.convention);
  in.tp = c.serving.tp;
  in.ep = c.serving.ep;
  if (!c.serving.weight_dtype.empty()) read_weight_format(c.serving.weight_dtype, "--weight-dtype");
  in.weight_dtype = c.serving.weight_dtype;
  in.contexts.clear();
  for (long long t : parse_token_counts(c.context, "--context")) in.contexts.push_back(t);
  if (!c.audit.empty()) {
    in.audit = load_audit(c.audit);
    in.audit_source = c.audit;
  }
  if (!c.audit_diff.empty()) {
    if (c.audit_diff.size() != 2) throw InputError("--audit-diff: give two checkpoints, A and B");
    in.audit_diff = diff_paths(c.audit_diff[0], c.audit_diff[1], {});
  }
  in.worst_heads = static_cast<size_t>(c.worst_heads);
  in.command = command_of(c, hw);
  const auto files = app::build_report(in);
  app::write_report_folder(c.out, files, c.force);
  std::fprintf(stderr, "gmha report: wrote %zu files to %s (open report.html or report.md)\n",
               files.size(), c.out.c_str());
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto opts = std::make_shared<ReportCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "Write a self-contained report folder: report.md, report.html (inline SVG, no network),\n"
      "figures/*.svg (KV cache vs context, roofline view, cost per 1M tokens per card) and\n"
      "tables/*.tex (LaTeX booktabs). With --audit (a checkpoint, or `gmha audit --format json`\n"
      "output) it adds the rank audit: measured vs nominal TER/SLSD per layer, a heat map of\n"
      "per-head entropy effective rank and the spectra of the worst heads. With --audit-diff A B\n"
      "it adds `gmha audit diff`: per layer how far the heads moved, and heat maps of each head's\n"
      "largest QK and VO subspace angle.\n\n"
      "Examples:\n"
      "  gmha report step3 deepseek-v3 qwen3-235b-a22b --hardware h800,h20 --out step3-report\n"
      "  gmha report --audit ../shared/data/stories260K-hf-f32 --out stories-report\n"
      "  gmha audit ../shared/data/stories260K-hf-bf16 --spectra --format json --out audit.json && "
      "gmha report --audit audit.json --out r\n"
      "  gmha report --audit-diff ../shared/data/stories260K-hf-f32 ../shared/data/stories260K-hf-bf16 --out diff-report\n"
      "  gmha report llama3-70b --design mfa:d=7168,heads=64,c=256,cq=2048,layers=61 --out r2");
  add_model_options(cmd, opts->models);
  add_hardware_options(cmd, opts->hardware);
  cmd->add_option("--tp", opts->serving.tp, "Tensor-parallel devices per card group (serving section)")
      ->capture_default_str();
  cmd->add_option("--ep", opts->serving.ep, "Expert-parallel groups over those devices (serving section)")
      ->capture_default_str();
  cmd->add_option("--weight-dtype", opts->serving.weight_dtype,
                  "Weights: bf16, fp16, fp32, fp8, int8, int4, mxfp4, nvfp4 (default: the model's)");
  cmd->add_option("--context", opts->context, "Contexts T for the tables (k = 1024)")
      ->capture_default_str();
  cmd->add_option("--audit", opts->audit,
                  "Checkpoint to audit, or an audit JSON (gmha audit --format json)");
  cmd->add_option("--audit-diff", opts->audit_diff,
                  "Two checkpoints A B of one architecture: adds the audit diff (gmha audit diff)")
      ->expected(2);
  cmd->add_option("--title", opts->title, "Title of the report")->capture_default_str();
  cmd->add_option("--worst-heads", opts->worst_heads, "Heads whose spectra are plotted")
      ->capture_default_str();
  cmd->add_option("--out", opts->out,
                  "Report folder (replaced atomically; must be new, empty or an earlier report)")
      ->required();
  cmd->add_flag("--force", opts->force,
                "Replace --out even when it is a non-empty folder that is not an earlier report");
  cmd->callback([opts] { run_report(*opts); });
}

}  // namespace gmha::cli
