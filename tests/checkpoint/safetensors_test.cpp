// safetensors: every dtype round-trips exactly, row ranges, sharded folders through the index,
// FP8 block-scale dequantisation against hand-computed values.
#include <cmath>
#include <filesystem>

#include <catch2/catch.hpp>

#include "checkpoint/fixture_writer.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/core/error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using namespace gmha::test;
namespace fs = std::filesystem;

TEST_CASE("safetensors: every float dtype converts exactly, integer dtypes are listed only",
          "[checkpoint]") {
  const std::string dir = scratch_dir("st-dtypes");
  const auto v = ramp(12, 0.5f);  // exact in f16 and bf16
  std::vector<double> vd(v.begin(), v.end());
  vd[3] = 1.0 + std::ldexp(1.0, -40);  // only F64 can hold this
  std::string e4m3 = {'\x38', '\x40', '\x30', '\x7e', '\x01', '\xb8'};  // 1, 2, 0.5, 448, 2^-9, -1
  std::string e5m2 = {'\x3c', '\x40', '\x7b', '\x01', '\x7c', '\xbc'};  // 1, 2, 57344, 2^-16, inf, -1
  write_bytes(dir + "/m.safetensors",
              safetensors_bytes({{"f64", "F64", {3, 4}, f64_bytes(vd)},
                                 {"f32", "F32", {3, 4}, f32_bytes(v)},
                                 {"f16", "F16", {3, 4}, f16_bytes(v)},
                                 {"bf16", "BF16", {3, 4}, bf16_bytes(v)},
                                 {"e4m3", "F8_E4M3", {2, 3}, e4m3},
                                 {"e5m2", "F8_E5M2", {6}, e5m2},
                                 {"i32", "I32", {2}, std::string(8, '\1')},
                                 {"flag", "BOOL", {}, std::string(1, '\1')}},
                                {{"format", "pt"}}));
  auto s = SafetensorsSource::open(dir + "/m.safetensors");
  REQUIRE(s->tensors().size() == 8);
  for (const char* name : {"f32", "f16", "bf16"}) {
    MatrixF m = s->read_matrix_f(name);
    REQUIRE(m.rows() == 3);
    REQUIRE(m.cols() == 4);
    for (int i = 0; i < 12; ++i) CHECK(m.data()[i] == v[static_cast<size_t>(i)]);
  }
  MatrixD d = s->read_matrix_d("f64");
  CHECK(d(0, 3) == 1.0 + std::ldexp(1.0, -40));
  MatrixF e = s->read_matrix_f("e4m3");
  CHECK(e(0, 0) == 1.0f);
  CHECK(e(0, 1) == 2.0f);
  CHECK(e(0, 2) == 0.5f);
  CHECK(e(1, 0) == 448.0f);
  CHECK(e(1, 1) == std::ldexp(1.0f, -9));
  CHECK(e(1, 2) == -1.0f);
  MatrixD f = s->read_matrix_d("e5m2");
  CHECK(f.rows() == 6);
  CHECK(f.cols() == 1);
  CHECK(f(2, 0) == 57344.0);
  CHECK(f(3, 0) == std::ldexp(1.0, -16));
  CHECK(std::isinf(f(4, 0)));
  CHECK(s->info("i32").convertible == false);
  CHECK(s->info("flag").shape.empty());
  CHECK_THROWS_WITH(s->read_matrix_f("i32"),
                    Catch::Contains("tensor 'i32': type I32 is not supported for conversion"));
  CHECK_THROWS_WITH(s->read_matrix_f("nope"), Catch::EndsWith("no tensor 'nope'"));
}

TEST_CASE("safetensors: a row range converts exactly the rows asked for", "[checkpoint]") {
  const std::string dir = scratch_dir("st-rows");
  const auto v = ramp(40);
  write_bytes(dir + "/m.safetensors", safetensors_bytes({{"w", "BF16", {10, 4}, bf16_bytes(v)}}));
  auto s = SafetensorsSource::open(dir + "/m.safetensors");
  MatrixD r = s->read_rows_d("w", 3, 7);
  REQUIRE(r.rows() == 4);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) CHECK(r(i, j) == v[static_cast<size_t>((3 + i) * 4 + j)]);
  CHECK_THROWS_AS(s->read_rows_d("w", 8, 11), InputError);
  std::vector<float> small(3);
  CHECK_THROWS_WITH(s->read_rows("w", 0, 1, std::span<float>(small)),
                    Catch::Contains("output holds 3 values, rows 0..1 need 4"));
}

TEST_CASE("safetensors: a sharded folder is joined through model.safetensors.index.json",
          "[checkpoint]") {
  const std::string dir = scratch_dir("st-shards");
  const auto a = ramp(8, 1.0f), b = ramp(6, -2.0f);
  write_bytes(dir + "/model-00001-of-00002.safetensors",
              safetensors_bytes({{"model.a", "F32", {2, 4}, f32_bytes(a)}}));
  write_bytes(dir + "/model-00002-of-00002.safetensors",
              safetensors_bytes({{"model.b", "F16", {3, 2}, f16_bytes(b)}}));
  nlohmann::json index = {{"metadata", {{"total_size", 44}}},
                          {"weight_map",
                           {{"model.a", "model-00001-of-00002.safetensors"},
                            {"model.b", "model-00002-of-00002.safetensors"}}}};
  write_bytes(dir + "/model.safetensors.index.json", index.dump());
  for (const std::string& path : {dir, dir + "/model.safetensors.index.json"}) {
    auto s = SafetensorsSource::open(path);
    REQUIRE(s->tensors().size() == 2);
    CHECK(s->files().size() == 2);
    CHECK(fs::path(s->info("model.b").file).filename() == "model-00002-of-00002.safetensors");
    MatrixF mb = s->read_matrix_f("model.b");
    for (int i = 0; i < 6; ++i) CHECK(mb.data()[i] == b[static_cast<size_t>(i)]);
    CHECK(s->read_matrix_f("model.a")(1, 3) == a[7]);
  }
}

TEST_CASE("safetensors: FP8 weights with weight_scale_inv dequantise per block", "[checkpoint]") {
  const std::string dir = scratch_dir("st-fp8");
  // 3x5 weight, 2x2 blocks (from quantization_config) -> scales [2, 3].
  std::string codes;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 5; ++c) codes.push_back(static_cast<char>(0x38 + 8 * ((r + c) % 3)));  // 1,2,4
  const std::vector<float> scales = {0.5f, 2.0f, -1.0f, 8.0f, 0.25f, 3.0f};
  write_bytes(dir + "/model.safetensors",
              safetensors_bytes({{"l.weight", "F8_E4M3", {3, 5}, codes},
                                 {"l.weight_scale_inv", "F32", {2, 3}, f32_bytes(scales)}}));
  write_bytes(dir + "/config.json",
              R"({"quantization_config": {"quant_method": "fp8", "weight_block_size": [2, 2]}})");
  auto s = SafetensorsSource::open(dir);
  CHECK(s->info("l.weight").scale == "l.weight_scale_inv");
  MatrixD w = s->read_matrix_d("l.weight");
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 5; ++c) {
      const double fp8 = std::ldexp(1.0, (r + c) % 3);  // 0x38 + 8k decodes to 2^k
      CHECK(w(r, c) == fp8 * scales[static_cast<size_t>((r / 2) * 3 + c / 2)]);
    }
  // A row range starting inside the second block row uses that block's scales.
  MatrixD last = s->read_rows_d("l.weight", 2, 3);
  CHECK(last(0, 4) == std::ldexp(1.0, (2 + 4) % 3) * 3.0);

  // Without a config the block is 128x128: a 130x3 weight has scales [2, 1].
  const std::string dir2 = scratch_dir("st-fp8-128");
  std::string ones(130 * 3, '\x38');
  write_bytes(dir2 + "/model.safetensors",
              safetensors_bytes({{"x.weight", "F8_E4M3", {130, 3}, ones},
                                 {"x.weight_scale_inv", "BF16", {2, 1}, bf16_bytes({2.0f, 0.5f})}}));
  auto s2 = SafetensorsSource::open(dir2);
  MatrixF x = s2->read_matrix_f("x.weight");
  CHECK(x(127, 2) == 2.0f);
  CHECK(x(128, 0) == 0.5f);
}

TEST_CASE("safetensors: open_checkpoint reads a folder's config and keeps HF names",
          "[checkpoint]") {
  const std::string dir = scratch_dir("st-ckpt");
  write_bytes(dir + "/model.safetensors",
              safetensors_bytes({{"model.norm.weight", "F32", {4}, f32_bytes(ramp(4))}}));
  write_bytes(dir + "/config.json", R"({"model_type": "llama", "hidden_size": 4})");
  Checkpoint c = open_checkpoint(dir);
  CHECK(c.format == "safetensors");
  CHECK(c.architecture == "llama");
  CHECK(c.tensors->find("model.norm.weight") != nullptr);
}
