#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "gmha/core/atomic_file.hpp"
#include "support/test_paths.hpp"

using gmha::test::run_gmha;

TEST_CASE("cli: audit diff of a checkpoint and its BF16 copy, other architectures exit 2 in one line",
          "[rank][cli]") {
  const std::string dir = gmha::test::scratch_dir("cli-diff");
  const std::string synth = " --layout llama --d 64 --heads 4 --kv-heads 2 --layers 2 --seed 5";
  REQUIRE(run_gmha("synth '" + dir + "/f32'" + synth + " --dtype f32").exit_code == 0);
  REQUIRE(run_gmha("synth '" + dir + "/bf16'" + synth + " --dtype bf16").exit_code == 0);
  REQUIRE(run_gmha("synth '" + dir + "/other' --layout llama --d 64 --heads 4 --kv-heads 4 --layers 2 --dtype f32")
              .exit_code == 0);

  auto r = run_gmha("audit diff '" + dir + "/f32' '" + dir + "/bf16' --format json --worst 3 --out '" + dir +
                    "/d.json'");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.empty());
  const auto j = nlohmann::json::parse(gmha::read_text_file(dir + "/d.json"));
  CHECK(j["energy"] == 0.99);
  CHECK(j["a"]["format"] == "safetensors");
  REQUIRE(j["layers"].size() == 2);
  const auto& qk = j["layers"][1]["heads"][3]["qk"];
  // Planted full rank 16, σ = 1 … 0.3: r = 16 (σ₁₆² is 1.2% of Σσ² = 7.5), σ₁ = 1 in A.
  CHECK(qk["r"] == 16);
  CHECK(std::abs(qk["a"]["sigma_1"].get<double>() - 1.0) < 1e-6);
  CHECK(qk["left_angle_deg"].get<double>() > 0);
  CHECK(qk["change_rel"].get<double>() < 0.016);  // BF16 rounding (see audit_diff_test.cpp)
  CHECK(j["most_moved"].size() == 3);
  CHECK(j["layers"][0]["summary"]["heads"] == 4);

  r = run_gmha("audit diff '" + dir + "/f32' '" + dir + "/f32' --format csv");
  REQUIRE(r.exit_code == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1 + 2 * 4 * 2);  // header + (layer, head, circuit)
  r = run_gmha("audit diff '" + dir + "/f32' '" + dir + "/bf16' --layers 1 --worst 2");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("Heads whose subspaces moved most (2 listed") != std::string::npos);

  r = run_gmha("audit diff '" + dir + "/f32' '" + dir + "/other'");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("layer 0 has KV heads 2 in the first and 4 in the second") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(run_gmha("audit diff '" + dir + "/f32' '" + dir + "/missing'").exit_code == 2);
  CHECK(run_gmha("audit diff '" + dir + "/f32' '" + dir + "/bf16' --layers 5").exit_code == 2);
  CHECK(run_gmha("audit diff '" + dir + "/f32' '" + dir + "/bf16' --format latex").exit_code == 2);
  CHECK(run_gmha("audit diff '" + dir + "/f32' '" + dir + "/bf16' --worst -1").exit_code == 2);
  CHECK(run_gmha("audit diff '" + dir + "/f32'").exit_code == 2);
}
