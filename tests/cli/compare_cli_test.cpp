// End-to-end: the gmha binary's compare/show/presets output and its errors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/test_paths.hpp"

using gmha::test::run_gmha;
using nlohmann::json;

namespace {
int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }
}  // namespace

TEST_CASE("cli compare: JSON has one object per (model, context) with the documented keys", "[cli]") {
  const auto r = run_gmha("compare step3 deepseek-v3 --context 8k,32768 --hardware h800,h20 --format json");
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  REQUIRE(j.size() == 4);
  for (const char* k : {"model", "variant", "layers", "d_model", "heads", "kv_heads", "head_dim", "frh",
                        "slsd", "ter", "context", "batch", "kv_dtype", "kv_bytes_per_token", "kv_bytes",
                        "decode_kv_bytes_read", "attn_flops", "linear_flops", "ffn_flops",
                        "arithmetic_intensity", "attn_params", "total_params", "active_params", "cost",
                        "afd_usd_per_mtok", "groups"}) {
    INFO(k);
    CHECK(j[0].contains(k));
  }
  CHECK(j[0]["context"] == 8192);
  CHECK(j[1]["context"] == 32768);
  CHECK(j[0]["cost"]["h20"].contains("attn_usd_per_mtok"));
  CHECK(j[0]["cost"]["h800"]["bound"].is_string());
  // Step-3 at bf16 (default): 61 layers * 512 elements * 2 B per token.
  CHECK(j[0]["kv_bytes_per_token"] == 61 * 512 * 2);
}

TEST_CASE("cli compare: GGUF and llama2.c checkpoints are model inputs", "[cli]") {
  auto gguf = gmha::test::shared_data("stories260K-gguf");
  auto l2c = gmha::test::shared_data("stories260K-llama2c");
  auto hf = gmha::test::shared_data("stories260K-hf-f32");
  if (!gguf || !l2c || !hf) {
    gmha::test::skip_missing("../shared/data/stories260K-* not found; skipping");
    return;
  }
  const auto r = run_gmha("compare " + *gguf + "/stories260K.gguf " + *l2c + "/stories260K.bin " + *hf +
                          " --context 512 --format json");
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  REQUIRE(j.size() == 3);
  CHECK(j[0]["model"] == "stories260K");  // named by the file's stem, not its path
  for (const auto& m : j) {
    // 5 layers x K, V of 4 heads x 8 in bf16 = 640 B per token; 640 * 512 at T = 512.
    CHECK(m["kv_bytes_per_token"] == 640);
    CHECK(m["kv_bytes"] == 327680);
  }
  // 5 * (q, o 64*64 + k, v 32*64 + FFN 3*64*172) + tied 512*64 + norms 64*11 = 260032; the GGUF
  // stores output.weight on its own (+512*64) and says context_length 2048.
  CHECK(j[0]["total_params"] == 260032 + 512 * 64);
  CHECK(j[1]["total_params"] == 260032);
  CHECK(j[2]["total_params"] == 260032);
  CHECK(j[0]["max_context"] == 2048);
  CHECK(j[1]["max_context"] == 512);
  const auto show = run_gmha("show " + *gguf + "/stories260K.gguf --context 512");
  CHECK(show.exit_code == 0);
}

TEST_CASE("cli fit: a GGUF checkpoint is priced at the bytes its tensors store", "[cli]") {
  auto q = gmha::test::shared_data("gguf-quant");
  if (!q) {
    gmha::test::skip_missing("../shared/data/gguf-quant not found; skipping");
    return;
  }
  // synth-llama-d256-Q4_K_M: 1,130,240 B of tensors over its 1,836,288 weights (worked in
  // tests/bridge/checkpoint_model_test.cpp), not the 3,672,576 B of fp16 it was priced at.
  const auto r = run_gmha("fit " + *q + "/synth-llama-d256-Q4_K_M.gguf " + *q +
                          "/synth-llama-d256-F32.gguf --memory 1e9 --format json");
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  REQUIRE(j.size() == 2);
  CHECK(j[0]["weights_total"].get<double>() == Approx(1130240).epsilon(1e-12));
  CHECK(j[0]["weight_dtype"].get<std::string>().rfind("gguf (4.92 bits: Q4_K 80%, Q6_K 20%", 0) == 0);
  CHECK(j[1]["weights_total"].get<double>() == Approx(1836288.0 * 4).epsilon(1e-12));
}

TEST_CASE("cli compare: design strings in the output feed back to the same figures", "[cli]") {
  const auto r = run_gmha("compare --design gqa:d=4096,heads=32,kv=8,hd=128,layers=32 --format json");
  REQUIRE(r.exit_code == 0);
  const json a = json::parse(r.out);
  const std::string spec = a[0]["design"];
  const auto r2 = run_gmha("compare --design '" + spec + "' --format json");
  REQUIRE(r2.exit_code == 0);
  const json b = json::parse(r2.out);
  CHECK(b[0]["attn_flops"] == a[0]["attn_flops"]);
  CHECK(b[0]["design"] == spec);
}

TEST_CASE("cli compare: csv, md and latex are ready to use", "[cli]") {
  const auto csv = run_gmha("compare llama3-8b qwen3-32b --context 4k --hardware h20 --format csv");
  REQUIRE(csv.exit_code == 0);
  CHECK(count_lines(csv.out) == 3);
  CHECK_THAT(csv.out, Catch::StartsWith("model,design,variant,layers"));
  CHECK_THAT(csv.out, Catch::Contains("h20_total_usd_per_mtok"));
  const auto md = run_gmha("compare llama3-8b --format md");
  CHECK_THAT(md.out, Catch::Contains("| model |"));
  const auto tex = run_gmha("compare llama3-8b --format latex");
  CHECK_THAT(tex.out, Catch::Contains("\\toprule"));
  CHECK_THAT(tex.out, Catch::Contains("\\bottomrule"));
}

TEST_CASE("cli compare: --out writes the same bytes atomically", "[cli]") {
  namespace fs = std::filesystem;
  const std::string dir = gmha::test::scratch_dir("out");
  const std::string path = (fs::path(dir) / "fig.json").string();
  const auto r = run_gmha("compare kimi-k2 --format json --out " + path);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.empty());
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(content == run_gmha("compare kimi-k2 --format json").out);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  CHECK(files == 1);  // no temporary left behind
  fs::remove_all(dir);
}

TEST_CASE("cli compare: bad input is one line on stderr and exit code 2", "[cli]") {
  for (const char* args : {"compare no-such-model", "compare --design gqa:d=4096,heads=32,kv=7",
                           "compare llama3-8b --context 0", "compare llama3-8b --context 12q",
                           "compare llama3-8b --hardware h9000", "compare llama3-8b --kv-dtype fp7",
                           "compare llama3-8b --format yaml", "compare llama3-8b --convention foo",
                           "compare", "compare llama3-8b --batch 0",
                           "compare --design gqa:d=4294967296,heads=4294967296,kv=1,hd=4294967296",
                           "compare llama3-8b --context 9999999999999999k", "compare --bogus"}) {
    INFO(args);
    const auto r = run_gmha(args);
    CHECK(r.exit_code == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::StartsWith("gmha: error:"));
    CHECK(r.out.empty());
  }
}

TEST_CASE("cli show: formulas carry the numbers", "[cli]") {
  const auto r = run_gmha("show step3 --context 8k");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("FRH = min(C, C_q) = min(256, 2048) = 256"));
  CHECK_THAT(r.out, Catch::Contains("TER = m * FRH = 64 * 256 = 16384"));
  CHECK_THAT(r.out, Catch::Contains("wq"));
}

TEST_CASE("cli presets and hardware list every entry with a source", "[cli]") {
  const auto p = run_gmha("presets --format csv");
  REQUIRE(p.exit_code == 0);
  for (const char* name : {"deepseek-v3", "deepseek-v2-lite", "kimi-k2", "qwen3-235b-a22b", "qwen3-32b",
                           "qwen2.5-7b", "llama3-8b", "llama3-70b", "mistral-7b-v0.1", "llama4-maverick",
                           "minimax-m1", "ernie-4.5-300b-a47b", "pangu-pro-moe", "step3"}) {
    CHECK_THAT(p.out, Catch::Contains(std::string("\n") + name + ","));
  }
  const auto h = run_gmha("hardware --format csv");
  for (const char* name : {"h800", "h20", "a800", "ascend-910b", "h100", "h200", "b200", "mi300x", "l20"}) {
    CHECK_THAT(h.out, Catch::Contains(std::string("\n") + name + ","));
  }
}
