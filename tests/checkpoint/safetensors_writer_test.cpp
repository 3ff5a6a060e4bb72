#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "gmha/checkpoint/element_decode.hpp"
#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/checkpoint/safetensors_writer.hpp"
#include "gmha/core/error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
namespace fs = std::filesystem;

namespace {

// Values that are not bf16-exact (so rounding is visible) and differ per tensor.
std::function<void(std::span<float>)> ramp(float start) {
  return [start](std::span<float> v) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = start + 0.001f * static_cast<float>(i) + 1e-5f;
  };
}

std::vector<TensorToWrite> sample(const std::string& dtype) {
  return {{"a.weight", dtype, {3, 5}, ramp(1.0f)},
          {"b.weight", dtype, {7}, ramp(-2.0f)},
          {"c.weight", dtype, {4, 2}, ramp(0.5f)}};
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("safetensors writer: F32 and BF16 files read back with the values written", "[checkpoint]") {
  for (const std::string dtype : {"F32", "BF16"}) {
    const std::string dir = test::scratch_dir("stw");
    CHECK(write_safetensors(dir, sample(dtype)) == std::vector<std::string>{"model.safetensors"});
    auto src = SafetensorsSource::open(dir + "/model.safetensors");
    REQUIRE(src->tensors().size() == 3);
    for (const auto& t : sample(dtype)) {
      const TensorInfo& info = src->info(t.name);
      CHECK(info.dtype == dtype);
      CHECK(info.shape == t.shape);
      std::vector<float> want(static_cast<size_t>(info.elements()));
      t.fill(want);
      const MatrixF got = src->read_matrix_f(t.name);
      REQUIRE(static_cast<size_t>(got.size()) == want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        const float w = dtype == "F32" ? want[i] : bf16_to_float(float_to_bf16(want[i]));
        CHECK(got.data()[i] == w);
      }
    }
    // Header: 8-byte aligned data, format metadata, offsets contiguous from 0.
    std::ifstream in(dir + "/model.safetensors", std::ios::binary);
    uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 8);
    CHECK(n % 8 == 0);
    std::string text(n, '\0');
    in.read(text.data(), static_cast<std::streamsize>(n));
    const auto header = nlohmann::json::parse(text);
    CHECK(header["__metadata__"]["format"] == "pt");
    CHECK(header["a.weight"]["data_offsets"][0] == 0);
    CHECK(files_in(dir) == std::vector<std::string>{"model.safetensors"});  // no temp files left
  }
}

TEST_CASE("safetensors writer: above the shard size it writes HF shards and an index", "[checkpoint]") {
  const std::string dir = test::scratch_dir("stw-shard");
  SafetensorsWriteOptions opt;
  opt.max_shard_bytes = 64;  // a (60 B) alone, b (28 B) + c (32 B) together
  const auto written = write_safetensors(dir, sample("F32"), opt);
  CHECK(written == std::vector<std::string>{"model-00001-of-00002.safetensors",
                                            "model-00002-of-00002.safetensors",
                                            "model.safetensors.index.json"});
  const auto index = nlohmann::json::parse(std::ifstream(dir + "/model.safetensors.index.json"));
  CHECK(index["metadata"]["total_size"] == 120);
  CHECK(index["weight_map"]["a.weight"] == "model-00001-of-00002.safetensors");
  CHECK(index["weight_map"]["c.weight"] == "model-00002-of-00002.safetensors");
  auto src = SafetensorsSource::open(dir);
  REQUIRE(src->tensors().size() == 3);
  const MatrixF c = src->read_matrix_f("c.weight");
  CHECK(c(3, 1) == 0.5f + 0.001f * 7 + 1e-5f);
}

TEST_CASE("safetensors writer: bad dtype, repeated name or a failing fill leave no file", "[checkpoint]") {
  const std::string dir = test::scratch_dir("stw-bad");
  CHECK_THROWS_AS(write_safetensors(dir, {{"x", "F16", {2}, nullptr}}), InputError);
  CHECK_THROWS_AS(write_safetensors(dir, {{"x", "F32", {2}, nullptr}, {"x", "F32", {2}, nullptr}}),
                  InputError);
  CHECK_THROWS_AS(write_safetensors(dir, {{"x", "F32", {1LL << 40, 1LL << 40}, nullptr}}), InputError);
  CHECK_THROWS(write_safetensors(
      dir, {{"x", "F32", {2}, [](std::span<float>) { throw InputError("fill failed"); }}}));
  CHECK(files_in(dir).empty());
}
