// GGUF TQ1_0 / TQ2_0 (ternary) and the safetensors native MX dtypes F4, F6_E2M3, F6_E3M2,
// F8_E8M0: blocks and bytes worked by hand, and a round trip against an encoder written here
// from the layouts in docs/formats.md.
#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>

#include "checkpoint/fixture_writer.hpp"
#include "checkpoint/quant_encode.hpp"
#include "gmha/checkpoint/element_decode.hpp"
#include "gmha/checkpoint/gguf.hpp"
#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/core/error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using namespace gmha::test;

namespace {

std::vector<float> decode_one(uint32_t type, int64_t n, const std::string& bytes) {
  const std::string dir = scratch_dir("ternary");
  GgufBuilder b;
  b.add_tensor("w", {static_cast<uint64_t>(n), static_cast<uint64_t>(bytes.size() / (type == 34 ? 54 : 66) * 256 / n)},
               type, bytes);
  write_bytes(dir + "/t.gguf", b.bytes());
  const MatrixF m = GgufSource::open(dir + "/t.gguf")->read_matrix_f("w");
  return {m.data(), m.data() + m.size()};
}

// Base-3 digits t0..t(k-1), t0 most significant, scaled to a byte as ceil(v · 256 / 243) after
// padding to five digits (TQ1_0's packing).
uint8_t pack_trits(const int* t, int k) {
  int v = 0;
  for (int i = 0; i < 5; ++i) v = v * 3 + (i < k ? t[i] : 0);
  return static_cast<uint8_t>((v * 256 + 242) / 243);
}

// Independent TQ1_0 / TQ2_0 encoder: d = f16(absmax), q = round(x / d) in {-1, 0, 1}.
Encoded encode_ternary(uint32_t type, const std::vector<float>& x) {
  Encoded e;
  for (size_t b = 0; b < x.size(); b += 256) {
    float am = 0;
    for (size_t j = 0; j < 256; ++j) am = std::max(am, std::fabs(x[b + j]));
    const uint16_t dh = to_f16(am);
    const float d = f16_value(dh);
    int q[256];
    for (int j = 0; j < 256; ++j)
      q[j] = d > 0 ? std::clamp(static_cast<int>(std::lround(x[b + static_cast<size_t>(j)] / d)), -1, 1) : 0;
    if (type == 34) {
      // qs[m] (m < 32) holds values m, 32 + m, ..., 128 + m; qs[32 + m] (m < 16) values
      // 160 + m, 176 + m, ... 224 + m; qh[j] values 240 + j, 244 + j, 248 + j, 252 + j.
      for (int m = 0; m < 32; ++m) {
        int t[5];
        for (int n = 0; n < 5; ++n) t[n] = q[32 * n + m] + 1;
        e.bytes.push_back(static_cast<char>(pack_trits(t, 5)));
      }
      for (int m = 0; m < 16; ++m) {
        int t[5];
        for (int n = 0; n < 5; ++n) t[n] = q[160 + 16 * n + m] + 1;
        e.bytes.push_back(static_cast<char>(pack_trits(t, 5)));
      }
      for (int j = 0; j < 4; ++j) {
        int t[4];
        for (int n = 0; n < 4; ++n) t[n] = q[240 + 4 * n + j] + 1;
        e.bytes.push_back(static_cast<char>(pack_trits(t, 4)));
      }
    } else {
      // qs[32h + m] bits 2l..2l+1 hold value 128h + 32l + m as q + 1.
      uint8_t qs[64] = {};
      for (int v = 0; v < 256; ++v)
        qs[32 * (v / 128) + v % 32] |= static_cast<uint8_t>((q[v] + 1) << (2 * ((v % 128) / 32)));
      e.bytes.append(reinterpret_cast<const char*>(qs), 64);
    }
    put(e.bytes, dh);
    for (int j = 0; j < 256; ++j) e.values.push_back(static_cast<float>(q[j]) * d);
  }
  return e;
}

std::vector<float> read_st(const std::string& path, const std::string& name) {
  const MatrixF m = SafetensorsSource::open(path)->read_matrix_f(name);
  return {m.data(), m.data() + m.size()};
}

}  // namespace

TEST_CASE("ternary: TQ1_0 and TQ2_0 blocks decode as worked by hand", "[checkpoint][quant]") {
  // TQ1_0: qs[0] = 186 packs trits (2, 0, 1, 1, 2): 2·81 + 9 + 3 + 2 = 176, ceil(176·256/243)
  // = 186; every other qs byte is 128 (all trits 1: 121 -> ceil(127.47)), qh bytes 127 (four 1s
  // shifted up one trit: 120 -> ceil(126.4)); d = 1.0. Values 0, 32, 64, 96, 128 are trits - 1
  // of qs[0]: 1, -1, 0, 0, 1; all the others 0.
  std::string tq1(54, static_cast<char>(128));
  tq1[0] = static_cast<char>(186);
  for (int j = 48; j < 52; ++j) tq1[static_cast<size_t>(j)] = static_cast<char>(127);
  tq1[52] = 0x00, tq1[53] = 0x3C;
  const auto y1 = decode_one(34, 256, tq1);
  for (int i = 0; i < 256; ++i) {
    const float want = i == 0 || i == 128 ? 1.0f : i == 32 ? -1.0f : 0.0f;
    INFO(i);
    CHECK(y1[static_cast<size_t>(i)] == want);
  }
  // TQ2_0: qs[0] = 0b10'01'00'10: values 0, 32, 64, 96 are codes 2, 0, 1, 2 minus 1, times d = 2;
  // every other byte 0x55 (codes 1: zeros).
  std::string tq2(66, static_cast<char>(0x55));
  tq2[0] = static_cast<char>(0x92);
  tq2[64] = 0x00, tq2[65] = 0x40;
  const auto y2 = decode_one(35, 256, tq2);
  for (int i = 0; i < 256; ++i) {
    const float want = i == 0 || i == 96 ? 2.0f : i == 32 ? -2.0f : 0.0f;
    INFO(i);
    CHECK(y2[static_cast<size_t>(i)] == want);
  }
}

TEST_CASE("ternary: TQ1_0 and TQ2_0 round-trip bit-exactly against an independent encoder",
          "[checkpoint][quant]") {
  for (uint32_t type : {34u, 35u}) {
    auto x = random_weights(3 * 256, 11 + type);
    for (size_t j = 256; j < 512; ++j) x[j] = 0.0f;  // an all-zero block: d = 0
    const Encoded e = encode_ternary(type, x);
    const auto y = decode_one(type, 768, e.bytes);
    int64_t bad = 0;
    for (size_t i = 0; i < y.size(); ++i) bad += std::bit_cast<uint32_t>(y[i]) != std::bit_cast<uint32_t>(e.values[i]);
    INFO(ggml_type_name(type));
    CHECK(bad == 0);
  }
}

TEST_CASE("mx dtypes: F4, F6_E2M3, F6_E3M2 and F8_E8M0 decode as worked by hand", "[checkpoint][quant]") {
  const std::string dir = scratch_dir("mx-dtypes");
  // F4 [2, 3], six values in three bytes, the first in the low nibble (float4_e2m1fn_x2):
  // 0x21 -> 0.5, 1.0; 0xF7 -> 6, -6; 0x9C -> -2 (0xC = sign + 4: -2), -0.5 (0x9).
  // Row 1 starts in the high nibble of byte 1.
  // F6_E2M3 [4], bits LSB first: codes 0b001000 (1.0), 0b000001 (1/8, subnormal), 0b011111
  // (2^2 · 1.875 = 7.5), 0b100110 (-6/8): 0x08 | 0x01 << 6 | 0x1F << 12 | 0x26 << 18 = 0x99F048.
  // F6_E3M2 [4]: 0b011111 (2^4 · 1.75 = 28), 0b000001 (1/16), 0b001100 (1.0), 0b110010
  // (-(2 · 1.5) = -3): 0x1F | 0x01 << 6 | 0x0C << 12 | 0x32 << 18 = 0xC8C05F.
  // F8_E8M0 [4]: 127 -> 1, 130 -> 8, 0 -> 2^-127, 255 -> NaN.
  auto le3 = [](uint32_t v) { return std::string{static_cast<char>(v & 0xFF), static_cast<char>((v >> 8) & 0xFF),
                                                 static_cast<char>(v >> 16)}; };
  write_bytes(dir + "/mx.safetensors",
              safetensors_bytes({{"f4", "F4", {2, 3}, std::string{'\x21', '\xF7', '\x9C'}},
                                 {"e2m3", "F6_E2M3", {4}, le3(0x99F048)},
                                 {"e3m2", "F6_E3M2", {4}, le3(0xC8C05F)},
                                 {"e8m0", "F8_E8M0", {4}, std::string{'\x7F', '\x82', '\x00', '\xFF'}}}));
  const std::string p = dir + "/mx.safetensors";
  CHECK(read_st(p, "f4") == std::vector<float>{0.5f, 1.0f, 6.0f, -6.0f, -2.0f, -0.5f});
  {
    std::vector<float> row(3);
    SafetensorsSource::open(p)->read_rows("f4", 1, 2, std::span<float>(row));
    CHECK(row == std::vector<float>{-6.0f, -2.0f, -0.5f});
  }
  CHECK(read_st(p, "e2m3") == std::vector<float>{1.0f, 0.125f, 7.5f, -0.75f});
  CHECK(read_st(p, "e3m2") == std::vector<float>{28.0f, 0.0625f, 1.0f, -3.0f});
  const auto e = read_st(p, "e8m0");
  CHECK(e[0] == 1.0f);
  CHECK(e[1] == 8.0f);
  CHECK(e[2] == std::ldexp(1.0f, -127));
  CHECK(std::isnan(e[3]));
  CHECK(safetensors_dtype_bits("F4") == 4);
  CHECK(safetensors_dtype_bits("F6_E3M2") == 6);
  CHECK(safetensors_dtype_size("F4") == 0);
  // Every code against the OCP tables' extremes: E2M1 max 6, E2M3 max 7.5, E3M2 max 28, all
  // symmetric, no NaN.
  for (int c = 0; c < 64; ++c) {
    CHECK(std::fabs(decode_f6_e2m3(static_cast<uint8_t>(c))) <= 7.5f);
    CHECK(std::fabs(decode_f6_e3m2(static_cast<uint8_t>(c))) <= 28.0f);
    CHECK(decode_f6_e3m2(static_cast<uint8_t>(c ^ 0x20)) == -decode_f6_e3m2(static_cast<uint8_t>(c)));
  }
  // A tensor whose elements do not fill whole bytes is refused (safetensors' MisalignedSlice).
  write_bytes(dir + "/bad.safetensors", safetensors_bytes({{"f4", "F4", {3}, std::string{'\x21', '\x07'}}}));
  try {
    SafetensorsSource::open(dir + "/bad.safetensors");
    FAIL("accepted");
  } catch (const InputError& err) {
    CHECK(std::string(err.what()).find("tensor 'f4': shape [3] of F4 (4-bit elements) does not fill whole bytes") !=
          std::string::npos);
  }
}
