#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gmha/core/atomic_file.hpp"
#include "support/test_paths.hpp"

using gmha::test::run_gmha;

namespace {
int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}
}  // namespace

TEST_CASE("cli: synth then audit finds the planted ranks, shards merge, bad input exits 2",
          "[rank][cli]") {
  const std::string dir = gmha::test::scratch_dir("cli-synth");
  const std::string ck = dir + "/ck";
  auto r = run_gmha("synth '" + ck + "' --layout llama --d 64 --heads 4 --kv-heads 2 --layers 3 "
                    "--qk-rank 1,full,3 --vo-rank 2 --dtype f32 --seed 5");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("3 layers") != std::string::npos);

  r = run_gmha("audit '" + ck + "' --format json --spectra --out '" + dir + "/all.json'");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.empty());  // --out: nothing on stdout
  const auto all = nlohmann::json::parse(gmha::read_text_file(dir + "/all.json"));
  CHECK(all["rank_tol_mode"] == "noise");
  CHECK(all["rank_tol"].is_null());
  CHECK(all["rounding_noise"] == std::ldexp(1.0 / std::sqrt(3.0), -24));
  CHECK(all["layers"][0]["heads"][1]["qk"]["rank_tol"].get<double>() < 1e-5);
  CHECK(all["layers"][0]["flags"]["slsd_below_nominal"] == false);
  CHECK(all["energy"] == 0.99);
  const auto& h1 = all["layers"][0]["heads"][1];
  CHECK(h1["kv_head"] == 0);
  CHECK(h1["qk"]["numerical_rank"] == 16);
  CHECK(h1["vo"]["numerical_rank"] == 2);
  CHECK(h1["qk"]["sigma"].size() == 16);
  CHECK(all["layers"][0]["nominal"]["ter"] == 64);
  CHECK(all["layers"][0]["measured"]["slsd"] == 32);

  REQUIRE(run_gmha("audit '" + ck + "' --layers 0-1 --format json --spectra --out '" + dir + "/a.json'").exit_code == 0);
  REQUIRE(run_gmha("audit '" + ck + "' --layers 2 --format json --spectra --out '" + dir + "/b.json'").exit_code == 0);
  r = run_gmha("audit merge '" + dir + "/b.json' '" + dir + "/a.json'");
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out) == all);

  r = run_gmha("audit '" + ck + "' --format csv");
  REQUIRE(r.exit_code == 0);
  CHECK(count_lines(r.out) == 1 + 3 * 4 * 2);  // header + (layer, head, circuit)
  r = run_gmha("audit '" + ck + "'");
  CHECK(r.out.find("TER nominal / measured") != std::string::npos);

  r = run_gmha("audit '" + ck + "' --layers 7");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--layers") != std::string::npos);
  CHECK(run_gmha("audit '" + dir + "/missing'").exit_code == 2);
  CHECK(run_gmha("audit merge '" + dir + "/a.json' '" + dir + "/a.json'").exit_code == 2);
  CHECK(run_gmha("synth '" + dir + "/x' --d 64 --heads 4 --qk-rank 99").exit_code == 2);
  CHECK(run_gmha("audit '" + ck + "' --rank-tol 2").exit_code == 2);
}

TEST_CASE("cli: synth gla, gta and a DSA indexer, then audit reads their layouts end to end", "[rank][cli]") {
  const std::string dir = gmha::test::scratch_dir("cli-synth-designs");
  auto r = run_gmha("synth '" + dir + "/gla' --layout gla --d 128 --heads 4 --kv-heads 2 --head-dim 16 "
                    "--q-lora 32 --kv-lora 24 --rope 8 --qk-rank 3,full --dtype f32");
  REQUIRE(r.exit_code == 0);
  r = run_gmha("audit '" + dir + "/gla' --format json");
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  const auto& l = j["layers"][0];
  CHECK(l["layout"] == "gla");
  CHECK(l["nominal"]["slsd"] == 48);
  CHECK(l["nominal"]["slsd_head"] == 24);
  CHECK(l["measured"]["slsd"] == 48);
  CHECK(l["measured"]["slsd_head"] == 24);
  CHECK(l["heads"][0]["qk"]["numerical_rank"] == 3);
  CHECK(l["heads"][1]["qk"]["numerical_rank"] == 16);

  r = run_gmha("synth '" + dir + "/gta' --layout gta --d 128 --heads 4 --kv-heads 2 --head-dim 16 --dtype f32");
  REQUIRE(r.exit_code == 0);
  r = run_gmha("audit '" + dir + "/gta' --format json");
  REQUIRE(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["layers"][0]["layout"] == "gta");
  CHECK(j["layers"][0]["heads"][0]["qk"]["nominal_rank"] == 8);  // d_h − d_R, d_R = d_h/2 by default
  CHECK(j["layers"][0]["heads"][0]["qk_rope"]["numerical_rank"] == 8);

  r = run_gmha("synth '" + dir + "/dsa' --layout deepseek_v3 --d 128 --heads 2 --q-lora 32 --kv-lora 24 "
               "--nope 16 --rope 8 --v-dim 16 --index-heads 2 --index-dim 8 --index-rank 4,full --dtype f32");
  REQUIRE(r.exit_code == 0);
  r = run_gmha("audit '" + dir + "/dsa'");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("DSA indexer circuits (not in TER)") != std::string::npos);
  CHECK(r.out.find("4/7") != std::string::npos);
  r = run_gmha("synth '" + dir + "/bad' --layout deepseek_v3 --d 128 --heads 2 --q-lora 0 --kv-lora 24 "
               "--nope 16 --rope 8 --v-dim 16 --index-heads 2 --index-dim 8");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("DSA indexer needs q_lora > 0") != std::string::npos);
}
