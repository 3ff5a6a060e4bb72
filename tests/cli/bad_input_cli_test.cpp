// Issue 11, table-driven: every bad input gets its exit code and a one-line message naming what
// was wrong; no crash (exit 3), nothing written that the user did not name.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/checkpoint/safetensors_writer.hpp"
#include "gmha/core/atomic_file.hpp"
#include "support/test_paths.hpp"

namespace fs = std::filesystem;
using gmha::test::run_gmha;

namespace {

struct Case {
  const char* args;  // "{dir}" is the scratch folder, "{ck}" a small synth checkpoint
  int code;
  const char* pattern;  // regex searched in stderr (stdout for code 0)
};

std::string expand(std::string s, const std::string& dir, const std::string& ck) {
  for (auto [key, value] : {std::pair{"{dir}", dir}, std::pair{"{ck}", ck}}) {
    for (size_t p; (p = s.find(key)) != std::string::npos;)
      s.replace(p, std::string(key).size(), value);
  }
  return s;
}

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

void check_case(const Case& c, const std::string& dir, const std::string& ck) {
  const std::string args = expand(c.args, dir, ck);
  INFO("gmha " << args);
  const auto r = run_gmha(args);
  INFO("stdout: " << r.out.substr(0, 2000) << "\nstderr: " << r.err);
  CHECK(r.exit_code == c.code);
  const std::string& text = c.code == 0 ? r.out : r.err;
  CHECK(std::regex_search(text, std::regex(c.pattern)));
  if (c.code == 2) CHECK(lines(r.err) == 1);  // one line, naming the flag, file or field
}

std::string small_checkpoint(const std::string& dir) {
  const std::string ck = dir + "/ck";
  REQUIRE(run_gmha("synth '" + ck +
                   "' --layout llama --d 64 --heads 4 --kv-heads 2 --layers 2 "
                   "--dtype f32 --seed 3")
              .exit_code == 0);
  return ck;
}

// Staging folders (".name.tmp-...") left beside a target would be debris.
bool has_debris(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("cli bad input: each case exits with its code and one line naming the problem", "[cli]") {
  const std::string dir = gmha::test::scratch_dir("bad-input");
  const std::string ck = small_checkpoint(dir);
  fs::create_directories(dir + "/a-folder");
  REQUIRE(::mkfifo((dir + "/fifo").c_str(), 0644) == 0);
  const std::vector<Case> cases = {
      // Crashes that were exit 3.
      {"presets --format json", 0, R"("name": "deepseek-v3")"},
      {"hardware --format json", 0, R"("name": "h800")"},
      {"presets --format latex", 0, R"(\\toprule)"},
      {"presets --format yaml", 2, R"(--format.*'yaml')"},
      {"audit {ck} --worst -1", 2, R"(--worst: -1 is negative)"},
      {"audit merge {dir}/x.json --worst 2", 2, R"(audit merge: unknown option '--worst')"},
      {"audit {ck} --format latex", 2, R"(--format: audit writes table, md, csv or json)"},
      {"synth {dir}/huge --d 1000000 --heads 8", 2, R"(synth .*huge.*(memory|free))"},
      // 100000 layers of 4 x 8192^2 BF16 weights: ~54 TB, more than any test disk.
      {"synth {dir}/deep --d 8192 --heads 64 --layers 100000", 2,
       R"(synth .*deep: needs [0-9.e+]+ GB but only [0-9.e+]+ GB are free there)"},
      {"synth {dir}/wide --d 64 --heads 0", 2, R"(heads)"},
      // --out: devices, FIFOs and folders are refused and left alone.
      {"presets --out /dev/full", 2, R"(/dev/full: is a character device; refusing to replace it)"},
      {"presets --out /dev/null", 2, R"(/dev/null: is a character device)"},
      {"presets --out {dir}/fifo", 2, R"(fifo: is a FIFO; refusing)"},
      {"presets --out {dir}/a-folder", 2, R"(a-folder: is a folder; refusing)"},
      {"presets --out {dir}/no-such-folder/x.txt", 2, R"(folder .*no-such-folder does not exist)"},
      {"presets --format md --out -", 0, R"(\| preset \|)"},
      {"report step3 --out -", 2, R"(--out -: a report is a folder of files)"},
      {"synth - --d 32 --heads 2", 2, R"(synth -: a checkpoint is a folder)"},
      {"attention --weights {ck} --layer 0 --input {dir}/x.safetensors --out /dev/full", 2,
       R"(/dev/full: is a character device)"},
      // Discoverability.
      {"", 0, R"(Commands:\n(.*\n)*  synth +Write)"},
      {"help", 0, R"(  compare +)"},
      {"help compare", 0, R"(--context)"},
      {"help audit merge", 0, R"(shards)"},
      {"help nosuch", 2, R"(unknown command 'nosuch')"},
      {"compar step3", 2, R"(unknown command 'compar' \(did you mean 'compare'\?\))"},
      {"compare step3 --contxt 8k", 2,
       R"(unknown option '--contxt' \(did you mean '--context'\?\))"},
      {"audit mrge {dir}/a.json", 2,
       R"('mrge' is not a checkpoint \(no such file or folder\); did you mean `gmha audit merge`\?)"},
      {"bench decod", 2,
       R"(^gmha: error: bench: unknown command 'decod' \(did you mean 'decode'\?\))"},
      {"bench decode --contxt 1", 2,
       R"(bench decode: unknown option '--contxt' \(did you mean '--context'\?\); `gmha help bench decode`)"},
      {"audit {ck} --frmat json", 2,
       R"(audit: unknown option '--frmat' \(did you mean '--format'\?\))"},
      // Long sweeps are capped up front.
      {"sweep --d 7168 --layers 61 --max-designs 10", 2,
       R"(--max-designs: the grid has \d+ designs, above the cap of 10)"},
      {"sweep --d 64 --layers 2 --max-designs 0", 2, R"(--max-designs)"},
      // Numbers: one parser, NaN/Inf/garbage refused with the flag named.
      {"fit llama3-8b --memory nan", 2, R"(--memory: 'nan' is not a non-negative amount)"},
      {"fit llama3-8b --memory inf", 2, R"(--memory: 'inf' is not a non-negative amount)"},
      {"fit llama3-8b --memory 1e999", 2, R"(--memory: '1e999' is not a non-negative amount)"},
      {"compare llama3-8b --context 8k,,32k", 2, R"(--context: empty item in '8k,,32k')"},
      {"compare llama3-8b --context 1.5k", 2, R"(--context: '1.5k' is not a positive token count)"},
      {"sweep --d 64 --layers 2 --max-kv-bytes-per-token nan", 2,
       R"(--max-kv-bytes-per-token: 'nan' is not a non-negative amount)"},
      {"sweep --d 64 --layers 2 --heads 0-4", 2, R"(--heads: 0 is out of range \(1 to 2147483647\))"},
      // Impossible or degenerate designs name the field.
      {"compare --design gqa:d=64,heads=4,kv=2,hd=16", 2, R"(give layers=N)"},
      {"compare gqa:d=64,heads=4,kv=2,hd=16", 2, R"(give layers=N)"},
      {"compare --design mla:d=64,heads=4,c=32,qlora=24,nope=16,rope=7,v=16,layers=2", 2,
       R"(qk_rope_head_dim \(rope\) = 7 is odd)"},
      {"compare --design mfa:d=64,heads=4,c=32,cq=128,layers=2", 2, R"(cq = 128 exceeds d = 64)"},
      {"compare --design gqa:d=64,heads=4,kv=2,hd=16,layers=2,bogus=1", 2, R"(unknown key 'bogus')"},
      // The library names the option; the CLI shows it under its flag.
      {"fit llama3-8b --gpus 0", 2, R"(^gmha: error: --gpus: must be positive \(got 0\))"},
      {"compare llama3-8b --hardware h999", 2, R"(^gmha: error: --hardware: unknown card 'h999')"},
  };
  for (const Case& c : cases) check_case(c, dir, ck);
  // Nothing was written where it was refused.
  struct stat st {};
  REQUIRE(::stat("/dev/full", &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  REQUIRE(::lstat((dir + "/fifo").c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  CHECK(fs::is_empty(dir + "/a-folder"));
  CHECK_FALSE(fs::exists(dir + "/huge"));
  CHECK_FALSE(fs::exists(dir + "/deep"));
  CHECK_FALSE(has_debris(dir));
}

TEST_CASE("cli --out: a symlink is written through, a replaced file keeps its mode", "[cli]") {
  const std::string dir = gmha::test::scratch_dir("out-kinds");
  const std::string target = dir + "/target.json", link = dir + "/link.json";
  std::ofstream(target) << "old\n";
  fs::create_symlink("target.json", link);
  REQUIRE(run_gmha("presets --format json --out '" + link + "'").exit_code == 0);
  CHECK(fs::is_symlink(link));
  CHECK(nlohmann::json::parse(gmha::read_text_file(target)).size() > 5);

  const std::string own = dir + "/private.csv";
  std::ofstream(own) << "old\n";
  fs::permissions(own, fs::perms::owner_read | fs::perms::owner_write);
  REQUIRE(run_gmha("hardware --format csv --out '" + own + "'").exit_code == 0);
  CHECK(fs::status(own).permissions() == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(gmha::read_text_file(own).rfind("card,", 0) == 0);

  // A dangling symlink names the file to create.
  fs::create_symlink("made.txt", dir + "/dangling");
  REQUIRE(run_gmha("presets --out '" + dir + "/dangling'").exit_code == 0);
  CHECK(fs::is_regular_file(dir + "/made.txt"));
}

TEST_CASE("cli folder outputs: a foreign non-empty folder is refused unless --force", "[cli]") {
  const std::string dir = gmha::test::scratch_dir("folders");
  const std::string mine = dir + "/mine";
  fs::create_directories(mine);
  std::ofstream(mine + "/notes.txt") << "keep me\n";
  const std::string synth = "synth '" + mine + "' --d 32 --heads 2 --dtype f32";
  auto r = run_gmha(synth);
  CHECK(r.exit_code == 2);
  CHECK(std::regex_search(r.err, std::regex("mine: folder is not empty and is not an earlier "
                                            "output of this command.*--force")));
  CHECK(gmha::read_text_file(mine + "/notes.txt") == "keep me\n");
  r = run_gmha("report step3 --out '" + mine + "'");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("is not a gmha report") != std::string::npos);
  CHECK(fs::exists(mine + "/notes.txt"));

  // Its own earlier output is replaced as a whole; --force replaces a foreign folder.
  const std::string ck = dir + "/ck";
  REQUIRE(run_gmha("synth '" + ck + "' --d 32 --heads 2 --layers 2 --dtype f32").exit_code == 0);
  REQUIRE(run_gmha("synth '" + ck + "' --d 32 --heads 2 --layers 1 --dtype f32").exit_code == 0);
  CHECK(gmha::read_text_file(ck + "/config.json").find("\"num_hidden_layers\": 1") !=
        std::string::npos);
  REQUIRE(run_gmha(synth + " --force").exit_code == 0);
  CHECK_FALSE(fs::exists(mine + "/notes.txt"));
  CHECK(fs::exists(mine + "/model.safetensors"));
  // A file where a folder should go is never replaced, --force or not.
  std::ofstream(dir + "/file") << "x";
  r = run_gmha("synth '" + dir + "/file' --d 32 --heads 2 --force");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("exists and is not a folder") != std::string::npos);
  CHECK_FALSE(has_debris(dir));
}

TEST_CASE("cli audit: NaN heads are n/a, left out of the totals, and exit 1", "[cli][rank]") {
  const std::string dir = gmha::test::scratch_dir("nan-audit");
  const std::string clean = small_checkpoint(dir);
  // Copy the checkpoint with a NaN in head 1 of layer 0's q_proj (rows 16..31 of [64, 64]).
  const gmha::Checkpoint ck = gmha::open_checkpoint(clean);
  std::vector<gmha::TensorToWrite> tensors;
  for (const auto& info : ck.tensors->tensors()) {
    const auto m = ck.tensors->read_matrix_f(info.name);
    const bool poison = info.name == "model.layers.0.self_attn.q_proj.weight";
    tensors.push_back({info.name, "F32", info.shape, [m, poison](std::span<float> v) {
                         std::copy(m.data(), m.data() + m.size(), v.begin());
                         if (poison) v[20 * 64 + 5] = std::nanf("");
                       }});
  }
  const std::string bad = dir + "/bad";
  fs::create_directories(bad);
  gmha::write_safetensors(bad, tensors);
  std::ofstream(bad + "/config.json") << gmha::read_text_file(clean + "/config.json");

  auto r = run_gmha("audit '" + bad + "' --format json");
  CHECK(r.exit_code == 1);
  CHECK(std::regex_search(
      r.err,
      std::regex(
          R"(1 heads in 1 layers hold NaN/Inf weights \(first: model\.layers\.0\.self_attn\.q_proj\.weight\).*--allow-nonfinite)")));
  const auto j = nlohmann::json::parse(r.out);
  const auto& h1 = j["layers"][0]["heads"][1];
  CHECK(h1["qk"]["finite"] == false);
  CHECK(h1["qk"]["numerical_rank"].is_null());
  CHECK(h1["qk"]["entropy_rank"].is_null());
  CHECK(j["layers"][0]["flags"]["nonfinite_heads"] == 1);
  CHECK(j["summary"]["nonfinite_heads"] == 1);
  // Measured TER counts the 7 finite heads only: layer 0 has 3 finite heads of rank 16.
  CHECK(j["layers"][0]["measured"]["ter"] == 3 * 16);
  CHECK(j["summary"]["measured_ter"] == 7 * 16);
  CHECK(j["summary"]["min_qk_entropy_rank"].get<double>() > 1.0);  // not the NaN head's 0

  r = run_gmha("audit '" + bad + "' --allow-nonfinite");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("n/a") != std::string::npos);
  CHECK(std::regex_search(r.out, std::regex(R"(heads left out of the totals \(non-finite\) +1)")));
  CHECK(std::regex_search(r.out, std::regex(R"(1 heads left out)")));

  // The JSON round-trips through merge with the same finding.
  REQUIRE(run_gmha("audit '" + bad + "' --format json --allow-nonfinite --out '" + dir + "/a.json'")
              .exit_code == 0);
  r = run_gmha("audit merge '" + dir + "/a.json'");
  CHECK(r.exit_code == 1);
  CHECK(nlohmann::json::parse(r.out)["summary"]["nonfinite_heads"] == 1);
  CHECK(run_gmha("audit '" + clean + "'").exit_code == 0);
}

TEST_CASE("cli report: every LaTeX table compiles with pdflatex", "[cli][report]") {
  if (std::system("command -v pdflatex >/dev/null 2>&1") != 0) {
    gmha::test::skip_missing("pdflatex not found (texlive-latex-base, -recommended, -science)");
    return;
  }
  const std::string dir = gmha::test::scratch_dir("latex");
  const std::string ck = small_checkpoint(dir);
  const std::string out = dir + "/r";
  REQUIRE(run_gmha("report step3 deepseek-v3 --design gqa:d=4096,heads=32,kv=8,hd=128,layers=32 "
                   "--hardware h800,h20 --audit '" +
                   ck + "' --out '" + out + "'")
              .exit_code == 0);
  int compiled = 0;
  for (const auto& e : fs::directory_iterator(out + "/tables")) {
    const std::string name = e.path().stem().string();
    INFO(name);
    const std::string doc = dir + "/" + name + "-doc.tex";
    std::ofstream(doc) << "\\documentclass{article}\n\\usepackage{booktabs,siunitx,graphicx}\n"
                          "\\begin{document}\n\\input{"
                       << e.path().string() << "}\nSee Table~\\ref{tab:" << name
                       << "}.\n\\end{document}\n";
    // -halt-on-error: any undefined control sequence or Unicode character fails the run;
    // overfull boxes are reported in the log, which is checked for tables wider than the page.
    const std::string cmd = "cd '" + dir +
                            "' && pdflatex -interaction=nonstopmode -halt-on-error '" + doc +
                            "' > '" + dir + "/" + name + ".out' 2>&1";
    CHECK(std::system(cmd.c_str()) == 0);
    const std::string log = gmha::read_text_file(dir + "/" + name + "-doc.log");
    CHECK(log.find("Overfull \\hbox") == std::string::npos);
    ++compiled;
  }
  CHECK(compiled >= 4);
}

namespace {
// Runs `gmha <args>` under a pseudo-terminal (util-linux `script`), returning what it printed.
std::string run_on_terminal(const std::string& args) {
  const std::string cmd =
      "script -qec \"'" + gmha::test::gmha_binary() + "' " + args + "\" /dev/null 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}
}  // namespace

TEST_CASE("cli progress: on stderr only when it is a terminal", "[cli]") {
  const std::string dir = gmha::test::scratch_dir("progress");
  const std::string synth = "synth '" + dir + "/ck' --d 32 --heads 2 --layers 2 --dtype f32";
  const std::string sweep = "sweep --d 64 --layers 2 --families mha --heads 4 --format json";
  // Piped (as run_gmha captures it): no progress, nothing but the result.
  auto r = run_gmha(synth);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  r = run_gmha(sweep);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  if (std::system("command -v script >/dev/null 2>&1") != 0) {
    gmha::test::skip_missing("script (util-linux) not found: no pseudo-terminal to test with");
    return;
  }
  CHECK_THAT(run_on_terminal(synth), Catch::Contains("10/10 tensors"));
  const std::string swept = run_on_terminal(sweep);
  CHECK_THAT(swept, Catch::Contains("sweep: evaluating 7 designs"));
  CHECK_THAT(swept, Catch::Contains("sweep [##############################] 7/7 designs"));
  const std::string audited = run_on_terminal("audit '" + dir + "/ck' --format json");
  CHECK_THAT(audited, Catch::Contains("2/2 layers"));
}
