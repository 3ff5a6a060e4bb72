// `gmha inspect` on quantized checkpoints: each tensor's storage format and bits per weight
// (scales, mins and zeros counted), and the file's mix, in table and JSON output.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "checkpoint/fixture_writer.hpp"
#include "checkpoint/quant_data.hpp"
#include "checkpoint/quant_encode.hpp"
#include "support/test_paths.hpp"

using namespace gmha::test;

TEST_CASE("inspect: storage format, bits per weight and mix of a quantized GGUF",
          "[checkpoint][quant][cli]") {
  const std::string dir = scratch_dir("insp-quant");
  GgufBuilder b;
  // Q4_K: 144 bytes per 256 values = 4.5 bpw; Q6_K: 210 / 256 * 8 = 6.5625; Q8_0: 34 / 32 * 8
  // = 8.5.
  b.add_tensor("a", {256, 2}, 12, encode_gguf(12, random_weights(512, 1)).bytes);
  b.add_tensor("b", {256, 2}, 12, encode_gguf(12, random_weights(512, 2)).bytes);
  b.add_tensor("c", {256, 1}, 14, encode_gguf(14, random_weights(256, 3)).bytes);
  b.add_tensor("d", {32, 1}, 8, encode_gguf(8, random_weights(32, 4)).bytes);
  write_bytes(dir + "/m.gguf", b.bytes());
  RunResult r = run_gmha("inspect '" + dir + "/m.gguf' --format json");
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["tensors"].size() == 4);
  CHECK(j["tensors"][0]["storage"] == "Q4_K");
  CHECK(j["tensors"][0]["bpw"] == 4.5);
  CHECK(j["tensors"][2]["bpw"] == 6.5625);
  CHECK(j["tensors"][3]["bpw"] == 8.5);
  REQUIRE(j["mix"].size() == 3);
  CHECK(j["mix"][0]["storage"] == "Q4_K");
  CHECK(j["mix"][0]["tensors"] == 2);
  CHECK(j["mix"][0]["bpw"] == 4.5);
  CHECK(j["mix"][1]["storage"] == "Q6_K");
  r = run_gmha("inspect '" + dir + "/m.gguf'");
  REQUIRE(r.exit_code == 0);
  CHECK(
      r.out.find("mix: Q4_K 2 tensors 4.50 bpw, Q6_K 1 tensor 6.56 bpw, Q8_0 1 tensor 8.50 bpw") !=
      std::string::npos);
}

TEST_CASE("inspect: a safetensors MXFP4 tensor counts its scales", "[checkpoint][quant][cli]") {
  const std::string dir = scratch_dir("insp-mxfp4");
  // 1 x 64 values: 32 bytes of codes + 2 scale bytes = 34 bytes -> 4.25 bpw.
  write_bytes(dir + "/model.safetensors",
              safetensors_bytes({{"e.w_blocks", "U8", {1, 2, 16}, std::string(32, '\x11')},
                                 {"e.w_scales", "U8", {1, 2}, std::string(2, '\x7f')}}));
  RunResult r = run_gmha("inspect '" + dir + "' --format json");
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["tensors"].size() == 1);
  CHECK(j["tensors"][0]["name"] == "e.w");
  CHECK(j["tensors"][0]["storage"] == "MXFP4");
  CHECK(j["tensors"][0]["bpw"] == 4.25);
  CHECK(j["tensors"][0]["parts"] == nlohmann::json({"e.w_blocks", "e.w_scales"}));
}

TEST_CASE("inspect: the llama.cpp Q4_K_M file's mix", "[checkpoint][quant][cli][data]") {
  auto d = quant_data("gguf-quant");
  if (!d) return;
  RunResult r = run_gmha("inspect '" + *d + "/synth-llama-d256-Q4_K_M.gguf' --format json");
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  int q4 = -1, q6 = -1;
  for (const auto& m : j["mix"]) {
    if (m["storage"] == "Q4_K") {
      q4 = m["tensors"].get<int>();
      CHECK(m["bpw"] == 4.5);
    }
    if (m["storage"] == "Q6_K") {
      q6 = m["tensors"].get<int>();
      CHECK(m["bpw"] == 6.5625);
    }
  }
  CHECK(q4 == 13);
  CHECK(q6 == 3);
}
