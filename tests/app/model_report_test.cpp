#include "gmha/app/model_report.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmha/attention/presets.hpp"
#include "gmha/core/error.hpp"
#include "gmha/rank/metrics.hpp"
#include "report/svg_check.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using namespace gmha::app;
namespace fs = std::filesystem;

namespace {

const ReportFile* find(const std::vector<ReportFile>& files, const std::string& name) {
  for (const auto& f : files) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A circuit with the given singular values (metrics from the rank library).
CircuitAudit circuit(std::vector<double> sigma, double tol) {
  CircuitAudit c;
  c.nominal_rank = static_cast<int64_t>(sigma.size());
  c.metrics = rank_metrics(sigma, tol, 0.99);
  c.sigma = std::move(sigma);
  return c;
}

// Two GQA layers of three heads with rank 4 nominal; layer 1 head 2 is planted at rank 1.
AuditReport planted_audit() {
  AuditReport a;
  a.checkpoint = "planted";
  a.format = "safetensors";
  a.architecture = "llama";
  a.model_layers = 2;
  a.rank_tol = 0x1p-22;
  a.rank_tol_source = "default for F32 (4u)";
  for (int l = 0; l < 2; ++l) {
    LayerAudit la;
    la.layer = l;
    la.layout = "gqa";
    la.variant = "gqa";
    la.nominal = {4, 8, 12, "h"};
    la.measured_slsd = 8;
    for (int h = 0; h < 3; ++h) {
      HeadAudit ha;
      ha.head = h;
      ha.kv_head = h / 2;
      const bool low = l == 1 && h == 2;
      ha.qk = circuit(low ? std::vector<double>{1, 0, 0, 0} : std::vector<double>{1, 0.8, 0.6, 0.4},
                      a.rank_tol);
      ha.vo = circuit({1, 0.9, 0.7, 0.5}, a.rank_tol);
      ha.qk_below_nominal = low;
      la.heads_below_nominal += low ? 1 : 0;
      la.measured_ter += ha.qk.metrics.numerical_rank;
      la.measured_ter_entropy += ha.qk.metrics.entropy_rank;
      la.heads.push_back(ha);
    }
    a.layers.push_back(la);
  }
  return a;
}

std::string xml_check(const std::string& text, const std::string& tag) {
  const std::string dir = gmha::test::scratch_dir(tag);
  const std::string path = dir + "/" + tag + ".xml";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace

TEST_CASE("report: the paper comparison has its tables, figures and LaTeX, all rendering",
          "[report][model_report]") {
  ReportInput in;
  in.title = "Step-3 vs DeepSeek-V3 vs Qwen3";
  in.command = "gmha report step3 deepseek-v3 qwen3-235b-a22b --out r";
  for (const char* m : {"step3", "deepseek-v3", "qwen3-235b-a22b"})
    in.models.push_back(read_preset(m));
  in.cards = {read_hardware("h800"), read_hardware("h20")};
  in.contexts = {8192, 32768};
  const auto files = build_report(in);
  for (const char* name :
       {"report.md", "report.html", "figures/kv_cache_vs_context.svg", "figures/roofline.svg",
        "figures/cost_h800.svg", "figures/cost_h20.svg", "tables/capacity.tex", "tables/decode.tex",
        "tables/cost.tex", "tables/cards.tex"}) {
    INFO(name);
    CHECK(find(files, name) != nullptr);
  }
  const std::string& md = find(files, "report.md")->content;
  // Capacity row of Step-3 (MFA: TER = 64 heads x 256, KV = 2 x 256 x 2 B x 61 layers = 61 KiB).
  CHECK(md.find("| step3 | MFA | 61 | 64 | 1 | 256 | 256 | 256 | 16384 | 61.00 KiB |") !=
        std::string::npos);
  CHECK(md.find("AFD: ") != std::string::npos);
  CHECK(md.find("![") != std::string::npos);
  CHECK(md.find(in.command) != std::string::npos);
  CHECK(find(files, "tables/capacity.tex")->content.find("\\toprule") != std::string::npos);
  // The HTML is self-contained: inline SVG, no external resources.
  const std::string& html = find(files, "report.html")->content;
  CHECK(html.find("<svg ") != std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("href=\"http") == std::string::npos);
  if (gmha::test::have_tool("xmllint")) {
    const std::string path = xml_check(html, "report-html");
    CHECK(std::system(("xmllint --noout '" + path + "'").c_str()) == 0);
  }
  for (const auto& f : files) {
    if (f.name.ends_with(".svg"))
      gmha::test::check_svg_renders(f.content, fs::path(f.name).stem().string());
  }
}

TEST_CASE("report: the audit section shows nominal vs measured, the heat map and worst heads",
          "[report][model_report]") {
  ReportInput in;
  in.audit = planted_audit();
  in.audit_source = "planted.json";
  in.worst_heads = 2;
  const auto files = build_report(in);
  const std::string& md = find(files, "report.md")->content;
  CHECK(md.find("## Rank audit") != std::string::npos);
  // Nominal TER 24 over two layers; measured 4 + 4 + 4 + 4 + 4 + 1 = 21.
  CHECK(md.find("Nominal TER 24, measured TER 21") != std::string::npos);
  // The planted rank-1 head is the worst: first row of the worst-heads table.
  const size_t worst = md.find("Worst heads");
  REQUIRE(worst != std::string::npos);
  CHECK(md.find("| 1 | 2 | 4 | 1 | 1 | 1 |", worst) != std::string::npos);
  for (const char* name : {"figures/audit_ter.svg", "figures/audit_slsd.svg",
                           "figures/audit_entropy_heatmap.svg", "figures/audit_worst_spectra.svg",
                           "tables/audit_layers.tex", "tables/audit_worst_heads.tex"}) {
    INFO(name);
    REQUIRE(find(files, name) != nullptr);
    if (std::string(name).ends_with(".svg")) {
      gmha::test::check_svg_renders(find(files, name)->content, fs::path(name).stem().string());
    }
  }
  CHECK(find(files, "figures/kv_cache_vs_context.svg") == nullptr);  // no models given
}

TEST_CASE("report: the audit-diff section has its per-layer table and angle heat maps",
          "[report][model_report]") {
  // Layer 0: head 0 moved its QK query side by 20° and its VO output side by 35°, head 1 its QK
  // key side by 10°. Max 35; mean QK angle (20 + 10)/2 = 15; mean VO (35 + 0)/2 = 17.5;
  // ‖ΔW‖/σ₁ largest at head 0's QK, 0.347. Layer 1: head 1 non-finite, head 0 unmoved.
  AuditDiffReport d;
  d.a = "a", d.b = "b", d.a_format = d.b_format = "safetensors";
  d.a_architecture = d.b_architecture = "llama";
  d.model_layers = 2;
  for (int64_t l = 0; l < 2; ++l) {
    LayerDiff ld;
    ld.layer = l;
    ld.variant = "gqa";
    ld.heads.resize(2);
    for (int64_t h = 0; h < 2; ++h) ld.heads[static_cast<size_t>(h)].head = h;
    d.layers.push_back(ld);
  }
  HeadDiff& h0 = d.layers[0].heads[0];
  h0.qk.left_angle_deg = 20, h0.vo.right_angle_deg = 35, h0.qk.change_rel = 0.347;
  d.layers[0].heads[1].qk.right_angle_deg = 10;
  d.layers[1].heads[1].qk.finite = false;
  ReportInput in;
  in.audit_diff = d;
  const auto files = build_report(in);
  const std::string& md = find(files, "report.md")->content;
  CHECK(md.find("## Audit diff") != std::string::npos);
  CHECK(md.find("| 0 | gqa | 2 | 35 | 15 | 17.5 | 0.347 |") != std::string::npos);
  CHECK(md.find("| 1 | gqa | 2 | 0 | 0 | 0 | 0 | 0 | 0 | 1 |") != std::string::npos);
  for (const char* name : {"figures/audit_diff_qk_angles.svg", "figures/audit_diff_vo_angles.svg",
                           "tables/audit_diff_layers.tex"}) {
    INFO(name);
    REQUIRE(find(files, name) != nullptr);
    if (std::string(name).ends_with(".svg"))
      gmha::test::check_svg_renders(find(files, name)->content, fs::path(name).stem().string());
  }
}

TEST_CASE("report: nothing to report and bad contexts are input errors", "[report][model_report]") {
  ReportInput in;
  CHECK_THROWS_AS(build_report(in), InputError);
  in.models.push_back(read_preset("llama3-8b"));
  in.contexts = {0};
  CHECK_THROWS_AS(build_report(in), InputError);
}

TEST_CASE("report folder: written whole, replaces an earlier report, refuses other folders",
          "[report][model_report]") {
  const fs::path base = gmha::test::scratch_dir("report-folder");
  const fs::path dir = base / "r";
  write_report_folder(dir.string(), {{"report.md", "one"}, {"figures/a.svg", "<svg/>"}});
  CHECK(slurp(dir / "report.md") == "one");
  CHECK(slurp(dir / "figures/a.svg") == "<svg/>");
  // A second report replaces the first wholesale (stale files go too).
  write_report_folder(dir.string(), {{"report.md", "two"}});
  CHECK(slurp(dir / "report.md") == "two");
  CHECK_FALSE(fs::exists(dir / "figures/a.svg"));
  // No temporary folders left beside it.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(base)) ++entries;
  CHECK(entries == 1);
  // A folder that is not a report is left alone.
  const fs::path other = base / "mine";
  fs::create_directories(other);
  std::ofstream(other / "notes.txt") << "keep";
  CHECK_THROWS_AS(write_report_folder(other.string(), {{"report.md", "x"}}), InputError);
  CHECK(slurp(other / "notes.txt") == "keep");
  // Never a checkpoint, even one with a report.md in it.
  const fs::path ckpt = base / "ckpt";
  fs::create_directories(ckpt);
  std::ofstream(ckpt / "report.md") << "old";
  std::ofstream(ckpt / "model.safetensors") << "weights";
  CHECK_THROWS_WITH(write_report_folder(ckpt.string(), {{"report.md", "x"}}),
                    Catch::Contains("checkpoint"));
  CHECK(slurp(ckpt / "model.safetensors") == "weights");
  CHECK_THROWS_AS(write_report_folder((base / "no/such/parent/r").string(), {{"report.md", "x"}}),
                  InputError);
}

TEST_CASE("report CLI: the stories260K audit report is written end to end",
          "[report][model_report]") {
  auto data = gmha::test::shared_data("stories260K-hf-f32");
  if (!data) {
    gmha::test::skip_missing("../shared/data/stories260K-hf-f32 not found; end-to-end audit report not checked");
    return;
  }
  const fs::path out = fs::path(gmha::test::scratch_dir("stories-report")) / "r";
  auto r = gmha::test::run_gmha("report --audit '" + *data + "' --out '" + out.string() + "'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string md = slurp(out / "report.md");
  CHECK(md.find("## Rank audit") != std::string::npos);
  CHECK(fs::exists(out / "figures/audit_entropy_heatmap.svg"));
  gmha::test::check_svg_renders(slurp(out / "figures/audit_entropy_heatmap.svg"), "stories-heat");
}
