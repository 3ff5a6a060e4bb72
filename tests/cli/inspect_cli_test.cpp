// `gmha inspect` end to end: JSON keys and values, --tensor --stats on dequantised FP8 and on
// NaN/inf-carrying tensors (hand-computed), exit code 2 with one line for a malformed file.
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "checkpoint/fixture_writer.hpp"
#include "support/test_paths.hpp"

using namespace gmha::test;

TEST_CASE("inspect: --tensor --stats dequantises FP8 blocks and counts nan/inf",
          "[checkpoint][cli]") {
  const std::string dir = scratch_dir("insp-fp8");
  // 2x2 F8_E4M3 weight, codes 1, 2, 4, -1 (0x38, 0x40, 0x48, 0xb8); one 128x128 block, scale 0.5.
  write_bytes(dir + "/model.safetensors",
              safetensors_bytes({{"w.weight", "F8_E4M3", {2, 2}, std::string("\x38\x40\x48\xb8", 4)},
                                 {"w.weight_scale_inv", "F32", {1, 1}, f32_bytes({0.5f})},
                                 {"n", "F32", {5},
                                  f32_bytes({1.0f, std::numeric_limits<float>::quiet_NaN(), 3.0f,
                                             std::numeric_limits<float>::infinity(), -1.0f})}}));
  RunResult r = run_gmha("inspect '" + dir + "' --tensor w.weight --stats --format json");
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  // values 0.5, 1, 2, -0.5: mean 0.75, population std sqrt(((-.25)^2+.25^2+1.25^2+1.25^2)/4)
  CHECK(j["min"] == -0.5);
  CHECK(j["max"] == 2.0);
  CHECK(j["mean"].get<double>() == Approx(0.75));
  CHECK(j["std"].get<double>() == Approx(std::sqrt((0.0625 + 0.0625 + 1.5625 + 1.5625) / 4)));
  CHECK(j["nan"] == 0);
  CHECK(j["scale"] == "w.weight_scale_inv");

  r = run_gmha("inspect '" + dir + "/model.safetensors' --tensor n --stats --format json");
  REQUIRE(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["nan"] == 1);
  CHECK(j["inf"] == 1);
  CHECK(j["min"] == -1.0);
  CHECK(j["max"] == 3.0);
  CHECK(j["mean"].get<double>() == Approx(1.0));

  // A lone file without config: tensors listed, layout reported unavailable, exit 0.
  r = run_gmha("inspect '" + dir + "/model.safetensors'");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("layout: unavailable"));
  CHECK_THAT(r.out, Catch::Contains("3 tensors, 28 bytes, 10 elements"));
}

TEST_CASE("inspect: a malformed checkpoint exits 2 with one line naming the file",
          "[checkpoint][cli]") {
  const std::string dir = scratch_dir("insp-bad");
  write_bytes(dir + "/m.safetensors", safetensors_raw(R"({"w": {"dtype": "F32"}})", ""));
  RunResult r = run_gmha("inspect '" + dir + "/m.safetensors'");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "gmha: error: " + dir + "/m.safetensors: tensor 'w': missing field 'shape'\n");
  CHECK(r.out.empty());
  r = run_gmha("inspect '" + dir + "/m.safetensors' --stats");
  CHECK(r.exit_code == 2);
}

TEST_CASE("inspect: stories260K JSON gives the layout, nominal ranks and tensor table",
          "[checkpoint][cli][data]") {
  auto gguf = shared_data("stories260K-gguf");
  if (!gguf) {
    gmha::test::skip_missing("../shared/data/stories260K-gguf not found; skipping");
    return;
  }
  const std::string out = scratch_dir("insp-out") + "/inspect.json";
  RunResult r = run_gmha("inspect '" + *gguf + "/stories260K.gguf' --format json --out '" + out + "'");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.empty());
  auto j = nlohmann::json::parse(read_bytes(out));
  CHECK(j["format"] == "gguf");
  CHECK(j["architecture"] == "llama");
  CHECK(j["layers"] == 5);
  CHECK(j["heads"] == 8);
  CHECK(j["kv_heads"] == 4);
  CHECK(j["head_dim"] == 8);
  CHECK(j["attention"] == "gqa");
  CHECK(j["nominal"]["frh"] == 8);
  CHECK(j["nominal"]["slsd"] == 32);
  CHECK(j["nominal"]["ter"] == 64);
  REQUIRE(j["tensors"].size() == 48);
  CHECK(j["totals"]["bytes"] == 1171200);  // 1,185,376-byte file minus 14,176 bytes of header
  bool found = false;
  for (const auto& t : j["tensors"])
    if (t["name"] == "model.layers.2.self_attn.k_proj.weight") {
      found = true;
      CHECK(t["stored_name"] == "blk.2.attn_k.weight");
      CHECK(t["dtype"] == "F32");
      CHECK(t["shape"] == nlohmann::json({32, 64}));
      CHECK(t["bytes"] == 8192);
    }
  CHECK(found);
}
