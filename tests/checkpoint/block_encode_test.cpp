// The library's block encoders (block_encode.hpp) and GGUF writer: library-encode -> reader-decode
// round trips, held against the independent test encoders (quant_encode.cpp) and the formats'
// error bounds; the conversions' every code; the writer's header, metadata and alignment.
#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>

#include "checkpoint/fixture_writer.hpp"
#include "checkpoint/quant_encode.hpp"
#include "gmha/checkpoint/block_encode.hpp"
#include "gmha/checkpoint/element_decode.hpp"
#include "gmha/checkpoint/gguf.hpp"
#include "gmha/checkpoint/gguf_writer.hpp"
#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/float_formats.hpp"
#include "support/input_error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using namespace gmha::test;

namespace {

double sse(const std::vector<float>& x, const float* y) {
  double e = 0;
  for (size_t i = 0; i < x.size(); ++i) e += (static_cast<double>(y[i]) - x[i]) * (y[i] - x[i]);
  return e;
}
std::string bytes_of(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }
std::string bytes_of(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

}  // namespace

TEST_CASE("block encode: float_to_f16 inverts f16_to_float on every code and ties to even",
          "[checkpoint][quant]") {
  int64_t bad = 0;
  for (uint32_t c = 0; c < 65536; ++c) {
    const auto h = static_cast<uint16_t>(c);
    const float v = f16_to_float(h);
    if (std::isnan(v)) {
      bad += !std::isnan(f16_to_float(float_to_f16(v)));
      continue;
    }
    bad += float_to_f16(v) != h;
  }
  CHECK(bad == 0);
  // Hand-worked ties and limits: 1 + 2^-11 is half way from 1 (0x3C00, even) to 0x3C01;
  // 1 + 3·2^-11 half way from 0x3C01 to 0x3C02 (even); 65519.99 stays at 65504, 65520 goes to
  // infinity; 2^-25 is half the smallest subnormal (ties to 0), 3·2^-26 rounds to it.
  CHECK(float_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);
  CHECK(float_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);
  CHECK(float_to_f16(65519.0f) == 0x7BFF);
  CHECK(float_to_f16(65520.0f) == 0x7C00);
  CHECK(float_to_f16(-std::ldexp(1.0f, -25)) == 0x8000);
  CHECK(float_to_f16(3 * std::ldexp(1.0f, -26)) == 0x0001);
  CHECK(float_to_f16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)) == 0x0400);  // carries up
}

TEST_CASE("block encode: E4M3 and E2M1 encoders invert the decoders and round to nearest even",
          "[checkpoint][quant]") {
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<uint8_t>(c);
    const float v = decode_f8_e4m3(code);
    if (std::isnan(v)) continue;
    INFO(c);
    CHECK(encode_f8_e4m3(v) == (v == 0 ? (std::signbit(v) ? 0x80 : 0x00) : code));
  }
  for (int c = 0; c < 16; ++c) {
    const float v = decode_f4_e2m1(static_cast<uint8_t>(c));
    CHECK(encode_e2m1(v) == (c == 8 ? 0 : c));  // -0 is stored as +0
  }
  // Ties: 0.25 -> 0, 0.75 -> 1.0, 1.25 -> 1.0, 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4; past 6 -> 6.
  CHECK(encode_e2m1(0.25f) == 0);
  CHECK(encode_e2m1(0.75f) == 2);
  CHECK(encode_e2m1(1.25f) == 2);
  CHECK(encode_e2m1(1.75f) == 4);
  CHECK(encode_e2m1(2.5f) == 4);
  CHECK(encode_e2m1(-3.5f) == (8 | 6));
  CHECK(encode_e2m1(5.0f) == 6);
  CHECK(encode_e2m1(100.0f) == 7);
  // E4M3: 1 + 2^-4 ties to 1 (even mantissa), 1 + 3·2^-4 to 1.25; 460 saturates at 448.
  CHECK(encode_f8_e4m3(1.0625f) == 0x38);
  CHECK(encode_f8_e4m3(1.1875f) == 0x3A);
  CHECK(encode_f8_e4m3(460.0f) == 0x7E);
  CHECK(encode_f8_e4m3(std::ldexp(3.0f, -10)) == 0x02);  // subnormal tie 1.5·2^-9 -> 2·2^-9
}

TEST_CASE("block encode: GGUF types round-trip through the reader no worse than the independent encoder",
          "[checkpoint][quant]") {
  const std::string dir = scratch_dir("block-encode-gguf");
  const int64_t rows = 4, cols = 512;
  for (uint32_t type : {8u, 12u, 13u, 14u}) {
    auto x = random_weights(rows * cols, 77 + type);
    for (int64_t c = 0; c < cols; ++c) x[static_cast<size_t>(cols + c)] = 0.0f;  // a zero row
    std::string enc(static_cast<size_t>(rows * cols / ggml_encode_block(type) * ggml_encode_block_bytes(type)), '\0');
    encode_ggml(type, x.data(), rows * cols, reinterpret_cast<std::byte*>(enc.data()));
    GgufBuilder b;
    b.add_tensor("w", {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}, type, enc);
    write_bytes(dir + "/w.gguf", b.bytes());
    auto g = GgufSource::open(dir + "/w.gguf");
    const MatrixF m = g->read_matrix_f("w");
    const Encoded ref = encode_gguf(type, x);
    INFO(ggml_type_name(type));
    const double lib = sse(x, m.data()), indep = sse(x, ref.values.data());
    CHECK(lib <= indep * (1.0 + 1e-6));
    CHECK(lib > 0);
    for (int64_t c = 0; c < cols; ++c) CHECK(m(1, c) == 0.0f);
  }
}

TEST_CASE("block encode: MXFP4 and NVFP4 parts read back as gpt-oss / ModelOpt tensors",
          "[checkpoint][quant]") {
  const std::string dir = scratch_dir("block-encode-fp4");
  const int64_t rows = 3, cols = 64, n = rows * cols;
  const auto x = random_weights(n, 5);
  {  // MXFP4: the OCP rule is unique, so the values equal the independent encoder's bit for bit.
    std::vector<uint8_t> codes(n / 2), scales(n / 32);
    encode_mxfp4(x.data(), n, codes.data(), scales.data());
    write_bytes(dir + "/m.safetensors",
                safetensors_bytes({{"w_blocks", "U8", {rows, cols / 32, 16}, bytes_of(codes)},
                                   {"w_scales", "U8", {rows, cols / 32}, bytes_of(scales)}}));
    auto s = SafetensorsSource::open(dir + "/m.safetensors");
    const MatrixF m = s->read_matrix_f("w");
    const Encoded ref = encode_gguf(39, x);  // GGUF MXFP4: same scale rule and element codes
    int64_t bad = 0;
    for (int64_t i = 0; i < n; ++i)
      bad += std::bit_cast<uint32_t>(m.data()[i]) != std::bit_cast<uint32_t>(ref.values[static_cast<size_t>(i)]) &&
             !(m.data()[i] == 0 && ref.values[static_cast<size_t>(i)] == 0);
    CHECK(bad == 0);
  }
  {  // NVFP4: every value within half an E2M1 step of its block: |x - y| ≤ s (the widest step
     // is 2·s between 4 and 6) and ≤ x/4 + s/4 (one mantissa bit; subnormal step s/2).
    float am = 0;
    for (float v : x) am = std::max(am, std::fabs(v));
    const float g = nvfp4_global_scale(am);
    std::vector<uint8_t> codes(n / 2), scales(n / 16);
    encode_nvfp4(x.data(), n, g, codes.data(), scales.data());
    write_bytes(dir + "/n.safetensors",
                safetensors_bytes({{"w.weight", "U8", {rows, cols / 2}, bytes_of(codes)},
                                   {"w.weight_scale", "F8_E4M3", {rows, cols / 16}, bytes_of(scales)},
                                   {"w.weight_scale_2", "F32", {}, bytes_of(std::vector<float>{g})}}));
    auto s = SafetensorsSource::open(dir + "/n.safetensors");
    const MatrixF m = s->read_matrix_f("w.weight");
    for (int64_t i = 0; i < n; ++i) {
      const float sc = decode_f8_e4m3(scales[static_cast<size_t>(i / 16)]) * g;
      const float err = std::fabs(m.data()[i] - x[static_cast<size_t>(i)]);
      CHECK(err <= std::fabs(x[static_cast<size_t>(i)]) / 4 + sc / 4 + 1e-12f);
    }
    CHECK(decode_f8_e4m3(*std::max_element(scales.begin(), scales.end())) <= 448.0f);
  }
}

TEST_CASE("block encode: FP8 128x128 blocks read back through weight_scale_inv", "[checkpoint][quant]") {
  const std::string dir = scratch_dir("block-encode-fp8");
  const int64_t rows = 130, cols = 200;  // partial edge blocks in both directions
  auto x = random_weights(rows * cols, 9);
  for (int64_t c = 0; c < cols; ++c) x[static_cast<size_t>(c)] *= 1000.0f;  // one loud row
  std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
  std::vector<float> sinv(4);
  encode_fp8_blocks(x.data(), rows, cols, 128, 128, codes.data(), sinv.data());
  write_bytes(dir + "/f.safetensors",
              safetensors_bytes({{"w.weight", "F8_E4M3", {rows, cols}, bytes_of(codes)},
                                 {"w.weight_scale_inv", "F32", {2, 2}, bytes_of(sinv)}}));
  auto s = SafetensorsSource::open(dir + "/f.safetensors");
  const MatrixF m = s->read_matrix_f("w.weight");
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float sc = sinv[static_cast<size_t>((r / 128) * 2 + c / 128)];
      const float v = x[static_cast<size_t>(r * cols + c)];
      // Half an E4M3 step: 2^-4 relative in the normal range, 2^-10 · scale below it.
      REQUIRE(std::fabs(m(r, c) - v) <= std::ldexp(std::fabs(v), -4) + std::ldexp(sc, -10));
    }
}

TEST_CASE("gguf writer: metadata, shapes, alignment and values read back, bad input refused",
          "[checkpoint][quant]") {
  const std::string dir = scratch_dir("gguf-writer");
  const auto x = random_weights(2 * 256, 3);
  std::vector<GgufTensorToWrite> t = {
      {"a.f32", 0, {2, 256}, [&](std::span<float> v) { std::copy(x.begin(), x.end(), v.begin()); }},
      {"b.q4k", 12, {2, 256}, [&](std::span<float> v) { std::copy(x.begin(), x.end(), v.begin()); }},
      {"c.f16", 1, {3}, [](std::span<float> v) { v[0] = 1.5f, v[1] = -2.0f, v[2] = 65504.0f; }}};
  const std::vector<GgufKv> meta = {GgufKv::str("general.architecture", "llama"),
                                    GgufKv::u32("llama.block_count", 7),
                                    GgufKv::f32("llama.rope.freq_base", 500000.0f),
                                    GgufKv::boolean("x.flag", true), GgufKv::i32("x.neg", -3),
                                    GgufKv::u64("x.big", uint64_t{1} << 40)};
  for (uint64_t align : {32u, 64u}) {
    write_gguf(dir + "/w.gguf", meta, t, align);
    auto g = GgufSource::open(dir + "/w.gguf");
    const auto& h = g->header();
    CHECK(h.version == 3);
    CHECK(h.alignment == align);
    CHECK(h.metadata["general.architecture"] == "llama");
    CHECK(h.metadata["llama.block_count"] == 7);
    CHECK(h.metadata["llama.rope.freq_base"].get<double>() == 500000.0);
    CHECK(h.metadata["x.flag"] == true);
    CHECK(h.metadata["x.neg"] == -3);
    CHECK(h.metadata["x.big"] == (uint64_t{1} << 40));
    CHECK(g->info("b.q4k").dtype == "Q4_K");
    CHECK(g->info("b.q4k").shape == std::vector<int64_t>{2, 256});
    for (const auto& ti : g->tensors()) CHECK((ti.offset - h.data_begin) % align == 0);
    const MatrixF a = g->read_matrix_f("a.f32");
    for (int i = 0; i < 512; ++i) CHECK(a.data()[i] == x[static_cast<size_t>(i)]);
    const MatrixF c = g->read_matrix_f("c.f16");
    CHECK(c(0, 0) == 1.5f);
    CHECK(c(2, 0) == 65504.0f);
    // The Q4_K tensor is the library encoding of x, decoded by the reader.
    std::string enc(288, '\0');
    encode_ggml(12, x.data(), 512, reinterpret_cast<std::byte*>(enc.data()));
    GgufBuilder b;
    b.add_tensor("q", {256, 2}, 12, enc);
    write_bytes(dir + "/q.gguf", b.bytes());
    CHECK(GgufSource::open(dir + "/q.gguf")->read_matrix_f("q") == g->read_matrix_f("b.q4k"));
  }
  CHECK(test::input_error_of([&] { write_gguf(dir + "/bad.gguf", {}, {{"w", 12, {2, 100}, nullptr}}); })
            .find("tensor 'w': row of 100 is not a multiple of the Q4_K block of 256") !=
        std::string::npos);
  CHECK(test::input_error_of([&] { write_gguf(dir + "/bad.gguf", {}, {{"w", 2, {2, 32}, nullptr}}); })
            .find("type Q4_0 is not writable") != std::string::npos);
  CHECK(test::input_error_of([&] {
          write_gguf(dir + "/bad.gguf", {GgufKv::u32("k", 1), GgufKv::u32("k", 2)}, {});
        }).find("metadata key 'k' is empty or repeated") != std::string::npos);
}
