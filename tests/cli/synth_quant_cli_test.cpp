// gmha synth --dtype for the quantized formats, end to end: the files written, inspect's mix, the
// audit's noise model, replacing an earlier quantized synth folder, and the refusals.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "gmha/core/atomic_file.hpp"
#include "support/test_paths.hpp"

using gmha::test::run_gmha;

TEST_CASE("cli: synth --dtype q4_k_m writes llama.cpp's mix as one GGUF that audit reads",
          "[rank][cli]") {
  const std::string dir = gmha::test::scratch_dir("cli-synth-q4km");
  const std::string ck = dir + "/ck";
  const std::string flags = " --layout llama --d 256 --heads 4 --kv-heads 2 --layers 2 --seed 3";
  auto r = run_gmha("synth '" + ck + "'" + flags + " --dtype q4_k_m");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("model.gguf") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(ck + "/config.json"));
  // Q4_K_M on 2 layers: attn_v of layer 1 is Q6_K (use_more_bits: 1 >= 7·2/8), the rest Q4_K.
  r = run_gmha("inspect '" + ck + "/model.gguf' --format json");
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  std::map<std::string, std::string> storage;
  for (const auto& t : j["tensors"]) storage[t["name"]] = t["storage"];
  CHECK(storage["model.layers.1.self_attn.v_proj.weight"] == "Q6_K");
  CHECK(storage["model.layers.0.self_attn.v_proj.weight"] == "Q4_K");
  CHECK(storage["model.layers.1.self_attn.q_proj.weight"] == "Q4_K");
  CHECK(storage["model.layers.0.input_layernorm.weight"] == "F32");
  r = run_gmha("audit '" + ck + "/model.gguf' --format json --out '" + dir + "/a.json'");
  REQUIRE(r.exit_code == 0);
  const auto a = nlohmann::json::parse(gmha::read_text_file(dir + "/a.json"));
  CHECK(a["rank_tol_mode"] == "noise");
  CHECK(a["rounding_noise"].get<double>() == Approx(6.0 / 15.0 / std::sqrt(12.0)));  // Q4_K
  // An earlier quantized synth folder is replaced without --force.
  r = run_gmha("synth '" + ck + "'" + flags + " --dtype q8_0");
  CHECK(r.exit_code == 0);
}

TEST_CASE("cli: synth --dtype nvfp4, mxfp4 and fp8-block write the published parts, bad dtypes exit 2",
          "[rank][cli]") {
  const std::string dir = gmha::test::scratch_dir("cli-synth-fp4");
  const std::string flags = " --layout llama --d 64 --heads 4 --kv-heads 2 --layers 1";
  auto r = run_gmha("synth '" + dir + "/n'" + flags + " --dtype nvfp4");
  REQUIRE(r.exit_code == 0);
  const auto hq = nlohmann::json::parse(gmha::read_text_file(dir + "/n/hf_quant_config.json"));
  CHECK(hq["quantization"]["quant_algo"] == "NVFP4");
  const auto cfg = nlohmann::json::parse(gmha::read_text_file(dir + "/n/config.json"));
  CHECK(cfg["quantization_config"]["quant_method"] == "modelopt");
  r = run_gmha("inspect '" + dir + "/n' --stored-names --format json");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("self_attn.q_proj.weight_scale_2") != std::string::npos);
  r = run_gmha("synth '" + dir + "/n'" + flags + " --dtype mxfp4");  // replaces its own folder
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(dir + "/n/hf_quant_config.json"));
  r = run_gmha("inspect '" + dir + "/n' --stored-names --format json");
  CHECK(r.out.find("self_attn.o_proj.weight_blocks") != std::string::npos);
  r = run_gmha("synth '" + dir + "/f'" + flags + " --dtype fp8-block");
  REQUIRE(r.exit_code == 0);
  r = run_gmha("audit '" + dir + "/f' --format json");
  CHECK(r.exit_code == 0);
  r = run_gmha("synth '" + dir + "/x'" + flags + " --dtype q4_0");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--dtype: 'q4_0' is not one of") != std::string::npos);
  r = run_gmha("synth '" + dir + "/x' --layout deepseek_v3 --d 512 --heads 4 --q-lora 96 "
               "--kv-lora 64 --nope 32 --rope 16 --v-dim 32 --dtype q4_k");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("GGUF is written for the llama layout only") != std::string::npos);
  r = run_gmha("synth '" + dir + "/x'" + flags + " --dtype q4_k");  // rows of 64, not 256
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("is not a multiple of the Q4_K block of 256") != std::string::npos);
}
