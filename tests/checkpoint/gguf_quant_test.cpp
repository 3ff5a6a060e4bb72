// GGUF quantized types: every decodable ggml type round-trips bit-exactly against the test's own
// encoder (quant_encode.cpp), one block per type is decoded by hand, malformed quantized tensors
// are refused with one-line errors naming the tensor, and the llama.cpp-written files in
// ../shared/data/gguf-quant decode to their float originals within the README's errors.
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>

#include "checkpoint/fixture_writer.hpp"
#include "checkpoint/quant_data.hpp"
#include "checkpoint/quant_encode.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/checkpoint/gguf.hpp"
#include "gmha/core/error.hpp"
#include "support/input_error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using namespace gmha::test;

namespace {

constexpr uint32_t kTypes[] = {2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 23, 39, 40};

bool same_bits(float a, float b) {
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

// A one-row GGUF tensor of `type` from literal block bytes; returns its decoded floats.
std::vector<float> decode_block(uint32_t type, int64_t n, const std::string& bytes) {
  const std::string dir = scratch_dir("gguf-hand");
  GgufBuilder b;
  b.add_tensor("blk.0.w", {static_cast<uint64_t>(n), 1}, type, bytes);  // one row of n
  write_bytes(dir + "/h.gguf", b.bytes());
  auto g = GgufSource::open(dir + "/h.gguf");
  std::vector<float> out(static_cast<size_t>(n));
  g->read_rows("blk.0.w", 0, 1, std::span<float>(out));
  return out;
}

std::string fmt_name(uint32_t type) { return "w." + ggml_type_name(type); }

std::string zeros(size_t n) { return std::string(n, '\0'); }
void set(std::string& s, size_t at, std::initializer_list<int> bytes) {
  for (int v : bytes) s[at++] = static_cast<char>(v);
}


}  // namespace

TEST_CASE("gguf quants: every type round-trips bit-exactly against an independent encoder",
          "[checkpoint][quant]") {
  const std::string dir = scratch_dir("gguf-quant-rt");
  // 3 rows of 512 (two super-blocks, 16 small blocks per row); one row is all zeros so that the
  // zero-scale paths are covered too.
  const int64_t rows = 3, cols = 512;
  GgufBuilder b;
  std::vector<Encoded> enc;
  for (uint32_t type : kTypes) {
    auto x = random_weights(rows * cols, 1000 + type);
    for (int64_t c = 0; c < cols; ++c) x[static_cast<size_t>(cols + c)] = 0.0f;
    enc.push_back(encode_gguf(type, x));
    b.add_tensor(fmt_name(type), {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}, type,
                 enc.back().bytes);
  }
  write_bytes(dir + "/q.gguf", b.bytes());
  auto g = GgufSource::open(dir + "/q.gguf");
  for (size_t k = 0; k < std::size(kTypes); ++k) {
    const TensorInfo& t = g->info(fmt_name(kTypes[k]));
    INFO(t.dtype);
    CHECK(t.convertible);
    CHECK(t.shape == std::vector<int64_t>{rows, cols});
    CHECK(t.bytes == enc[k].bytes.size());
    MatrixF m = g->read_matrix_f(t.name);
    int64_t bad = 0;
    for (int64_t i = 0; i < rows * cols; ++i)
      bad += !same_bits(m.data()[i], enc[k].values[static_cast<size_t>(i)]);
    CHECK(bad == 0);
    // Doubles carry the same floats; a row range in the middle decodes the same bytes.
    MatrixD d = g->read_rows_d(t.name, 2, 3);
    for (int64_t c = 0; c < cols; ++c)
      CHECK(d(0, c) == static_cast<double>(enc[k].values[static_cast<size_t>(2 * cols + c)]));
    // The encoder is a real quantiser: its values are close to the data (not a constant).
    double err = 0, ref = 0;
    auto x = random_weights(rows * cols, 1000 + kTypes[k]);
    for (int64_t i = 0; i < cols; ++i) {
      err += std::pow(m.data()[i] - x[static_cast<size_t>(i)], 2);
      ref += std::pow(x[static_cast<size_t>(i)], 2);
    }
    CHECK(std::sqrt(err / ref) < 0.6);
  }
}

// Literal blocks, decoded by hand from the layouts in docs/formats.md. f16: 0x3C00 = 1, 0x3800 =
// 0.5, 0x3400 = 0.25, 0x4000 = 2, 0xBC00 = -1 (little-endian bytes: low first).
TEST_CASE("gguf quants: one block of each type decoded by hand", "[checkpoint][quant]") {
  SECTION("Q4_0") {  // d 0.5; byte 0 = 0x1F: v0 = (15-8)*0.5 = 3.5, v16 = (1-8)*0.5 = -3.5
    std::string b = zeros(18);
    set(b, 0, {0x00, 0x38, 0x1F});
    for (int j = 1; j < 16; ++j) b[2 + j] = '\x88';  // 8 - 8 = 0
    auto v = decode_block(2, 32, b);
    CHECK(v[0] == 3.5f);
    CHECK(v[16] == -3.5f);
    CHECK(v[1] == 0.0f);
  }
  SECTION("Q4_1") {  // d 1, m -1; byte 1 = 0x52: v1 = 2*1-1 = 1, v17 = 5-1 = 4; zeros: -1
    std::string b = zeros(20);
    set(b, 0, {0x00, 0x3C, 0x00, 0xBC});
    b[4 + 1] = '\x52';
    auto v = decode_block(3, 32, b);
    CHECK(v[1] == 1.0f);
    CHECK(v[17] == 4.0f);
    CHECK(v[0] == -1.0f);
  }
  SECTION("Q5_0") {  // d 2, qh bits 0 and 16; byte 0 = 0x21: v0 = (1|16)-16 = 1 -> 2,
                     // v16 = (2|16)-16 = 2 -> 4; v1 = 0-16 -> -32
    std::string b = zeros(22);
    set(b, 0, {0x00, 0x40, 0x01, 0x00, 0x01, 0x00, 0x21});
    auto v = decode_block(6, 32, b);
    CHECK(v[0] == 2.0f);
    CHECK(v[16] == 4.0f);
    CHECK(v[1] == -32.0f);
    CHECK(v[17] == -32.0f);
  }
  SECTION("Q5_1") {  // d 0.5, m 1, qh bit 31; byte 15 = 0xF0: v15 = 0*0.5+1 = 1,
                     // v31 = (15|16)*0.5+1 = 16.5
    std::string b = zeros(24);
    set(b, 0, {0x00, 0x38, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x80});
    b[8 + 15] = '\xF0';
    auto v = decode_block(7, 32, b);
    CHECK(v[15] == 1.0f);
    CHECK(v[31] == 16.5f);
    CHECK(v[0] == 1.0f);
  }
  SECTION("Q8_0") {  // d 0.25; q0 = -128 -> -32, q1 = 127 -> 31.75
    std::string b = zeros(34);
    set(b, 0, {0x00, 0x34, 0x80, 0x7F});
    auto v = decode_block(8, 32, b);
    CHECK(v[0] == -32.0f);
    CHECK(v[1] == 31.75f);
  }
  SECTION("Q8_1") {  // d 1, s (ignored) 0x1234; q0 = -3 -> -3
    std::string b = zeros(36);
    set(b, 0, {0x00, 0x3C, 0x34, 0x12, 0xFD});
    auto v = decode_block(9, 32, b);
    CHECK(v[0] == -3.0f);
    CHECK(v[1] == 0.0f);
  }
  SECTION("Q2_K") {
    // d 1 (bytes 80-81), dmin 0.5 (82-83). scales[0] = 0x21 (sc 1, m 2), [1] = 0x13 (sc 3, m 1),
    // [4] = 0x05 (sc 5), [6] = 0x01 (sc 1). qs[0] = 0xE4 = 11 10 01 00b, qs[16] = 3.
    // v0 (sub 0, bits 0-1 of qs[0] = 0): 1*0 - 0.5*2 = -1; v16 (sub 1, qs[16] = 3): 3*3 - 0.5
    // = 8.5; v64 (sub 4, bits 4-5 = 2): 5*2 = 10; v96 (sub 6, bits 6-7 = 3): 3; v32 (sub 2, 0, 0):
    // 0.
    std::string b = zeros(84);
    set(b, 0, {0x21, 0x13, 0x00, 0x00, 0x05, 0x00, 0x01});
    b[16 + 0] = '\xE4';
    b[16 + 16] = '\x03';
    set(b, 80, {0x00, 0x3C, 0x00, 0x38});
    auto v = decode_block(10, 256, b);
    CHECK(v[0] == -1.0f);
    CHECK(v[1] == -1.0f);
    CHECK(v[16] == 8.5f);
    CHECK(v[64] == 10.0f);
    CHECK(v[96] == 3.0f);
    CHECK(v[32] == 0.0f);
  }
  SECTION("Q3_K") {
    // hmask 0..31, qs 32..95, scales 96..107, d 108 = 1. Stored scales u = sc + 32: sub 0 u = 33
    // (sc +1), sub 8 u = 31 (sc -1), all others 32 (sc 0). Low nibbles: byte 0 = 0xF1 (sub 0 low
    // = 1, sub 8 low = 15); top 2 bits in bytes 104..107, 2 bits per sub at 2*(s/4): all 2 except
    // sub 8 (1, bits 4-5 of byte 104) -> byte 104 = 0x9A, 105..107 = 0xAA.
    // v0: qs[0] bits 0-1 = 3, hmask[0] bit 0 set -> 3 * 1 = 3. v1: 0 with bit clear -> -4.
    // v128 (n 1, sub 8): qs[32] bits 0-1 = 2, hmask[0] bit 4 clear -> 2 - 4 = -2, times -1 = 2.
    std::string b = zeros(110);
    b[0] = '\x01';
    b[32] = '\x03';
    b[32 + 32] = '\x02';
    set(b, 96, {0xF1});
    set(b, 104, {0x9A, 0xAA, 0xAA, 0xAA, 0x00, 0x3C});
    auto v = decode_block(11, 256, b);
    CHECK(v[0] == 3.0f);
    CHECK(v[1] == -4.0f);
    CHECK(v[128] == 2.0f);
    CHECK(v[16] == 0.0f);  // sub 1 has scale 0
  }
  SECTION("Q4_K") {
    // d 1, dmin 0.5, scales 4..15, qs 16... Pair 0 (sc 2, m 4), pair 1 (sc 1, m 0), pair 4
    // (sc 19 = 0x13, m 33 = 0x21): byte 8 of scales = 0x13 (low nibbles 3 | 1 << 4), top bits
    // sc>>4 = 1 in bits 6-7 of byte 0 (0x42), m>>4 = 2 in bits 6-7 of byte 4 (0x84).
    // qs[0] = 0x35: v0 = 1*2*5 - 0.5*4 = 8; v32 (high nibble, pair 1) = 1*3 - 0 = 3.
    // qs[64] = 0x0A: v128 (chunk 2, pair 4) = 19*10 - 0.5*33 = 173.5.
    std::string b = zeros(144);
    set(b, 0, {0x00, 0x3C, 0x00, 0x38, 0x42, 0x01, 0x00, 0x00, 0x84, 0x00, 0x00, 0x00, 0x13});
    b[16] = '\x35';
    b[16 + 64] = '\x0A';
    auto v = decode_block(12, 256, b);
    CHECK(v[0] == 8.0f);
    CHECK(v[32] == 3.0f);
    CHECK(v[128] == 173.5f);
    CHECK(v[1] == -2.0f);
  }
  SECTION("Q5_K") {
    // d 1, dmin 1; pair 0 (sc 1, m 1), pair 1 (sc 2, m 0); qh 16..47, qs 48..175.
    // qs[0] = 0x21, qh[0] = 0x03: v0 = 1*(1+16) - 1 = 16; v32 = 2*(2+16) - 0 = 36; v1 = -1.
    std::string b = zeros(176);
    set(b, 0, {0x00, 0x3C, 0x00, 0x3C, 0x01, 0x02, 0x00, 0x00, 0x01});
    b[16] = '\x03';
    b[48] = '\x21';
    auto v = decode_block(13, 256, b);
    CHECK(v[0] == 16.0f);
    CHECK(v[32] == 36.0f);
    CHECK(v[1] == -1.0f);
  }
  SECTION("Q6_K") {
    // ql 0..127, qh 128..191, int8 scales 192..207, d 208 = 0.5. scales[0] 2, [2] -1, [4] 1,
    // [6] 3. ql[0] = 0x4F, ql[32] = 0x01, qh[0] = 0xD8 = 11 01 10 00b.
    // v0: 15 | 0<<4 = 15 - 32 = -17, * (0.5*2) = -17.   v32: 1 | 2<<4 = 33 -> 1, * -0.5 = -0.5.
    // v64: 4 | 1<<4 = 20 -> -12, * 0.5 = -6.             v96: 0 | 3<<4 = 48 -> 16, * 1.5 = 24.
    std::string b = zeros(210);
    b[0] = '\x4F';
    b[32] = '\x01';
    b[128] = '\xD8';
    set(b, 192, {0x02, 0x00, 0xFF, 0x00, 0x01, 0x00, 0x03});
    set(b, 208, {0x00, 0x38});
    auto v = decode_block(14, 256, b);
    CHECK(v[0] == -17.0f);
    CHECK(v[32] == -0.5f);
    CHECK(v[64] == -6.0f);
    CHECK(v[96] == 24.0f);
  }
  SECTION("Q8_K") {  // f32 d 0.5; q0 = 4 -> 2, q255 = -2 -> -1; bsums ignored
    std::string b = zeros(292);
    set(b, 0, {0x00, 0x00, 0x00, 0x3F, 0x04});
    b[4 + 255] = '\xFE';
    set(b, 260, {0x55, 0x55});
    auto v = decode_block(15, 256, b);
    CHECK(v[0] == 2.0f);
    CHECK(v[255] == -1.0f);
  }
  SECTION("IQ4_NL") {  // d 1; byte 0 = 0xF0: v0 = level[0] = -127, v16 = level[15] = 113;
                       // byte 1 = 0x78: v1 = level[8] = 1, v17 = level[7] = -10
    std::string b = zeros(18);
    set(b, 0, {0x00, 0x3C, 0xF0, 0x78});
    auto v = decode_block(20, 32, b);
    CHECK(v[0] == -127.0f);
    CHECK(v[16] == 113.0f);
    CHECK(v[1] == 1.0f);
    CHECK(v[17] == -10.0f);
  }
  SECTION("IQ4_XS") {
    // d 1, scales_h (u16 at 2) = 0xAAA6, scales_l (4..7) = 0xE1 0 0 0, qs 8... Sub 0: ls =
    // 1 | 2<<4 = 33 -> +1; sub 1: 14 | 1<<4 = 30 -> -2; others 32 -> 0.
    // qs[0] = 0x0F: v0 = 1*level[15] = 113, v16 = level[0] = -127.
    // qs[16] = 0x89: v32 = -2*level[9] = -26, v48 = -2*level[8] = -2.
    std::string b = zeros(136);
    set(b, 0, {0x00, 0x3C, 0xA6, 0xAA, 0xE1});
    b[8] = '\x0F';
    b[8 + 16] = '\x89';
    auto v = decode_block(23, 256, b);
    CHECK(v[0] == 113.0f);
    CHECK(v[16] == -127.0f);
    CHECK(v[32] == -26.0f);
    CHECK(v[48] == -2.0f);
    CHECK(v[64] == 0.0f);
  }
  SECTION("MXFP4") {
    // e = 0x80: scale 2^(128-127) = 2. byte 1 = 0xF7: v0 = E2M1 code 7 (6) * 2 = 12, v16 = code 15
    // (-6) * 2 = -12; byte 2 = 0x19: v1 = code 9 (-0.5) * 2 = -1, v17 = code 1 (0.5) * 2 = 1.
    std::string b = zeros(17);
    set(b, 0, {0x80, 0xF7, 0x19});
    auto v = decode_block(39, 32, b);
    CHECK(v[0] == 12.0f);
    CHECK(v[16] == -12.0f);
    CHECK(v[1] == -1.0f);
    CHECK(v[17] == 1.0f);
  }
  SECTION("NVFP4") {
    // UE4M3 scales 0x38 (2^0 = 1), 0x40 (2^1 = 2), 0x00 (0), 0x7F (read as 0). Byte 4 = 0x2A:
    // v0 = code 10 (-1) * 1 = -1, v8 = code 2 (1) * 1 = 1. Byte 12 = 0x07: v16 = code 7 (6) * 2 =
    // 12, v24 = 0. Byte 20 = 0x77 (sub-block 2, scale 0): 0.
    std::string b = zeros(36);
    set(b, 0, {0x38, 0x40, 0x00, 0x7F, 0x2A});
    b[12] = '\x07';
    b[20] = '\x77';
    auto v = decode_block(40, 64, b);
    CHECK(v[0] == -1.0f);
    CHECK(v[8] == 1.0f);
    CHECK(v[16] == 12.0f);
    CHECK(v[24] == 0.0f);
    CHECK(v[32] == 0.0f);
  }
}

TEST_CASE("gguf quants: unsupported and malformed quantized tensors are refused by name",
          "[checkpoint][quant]") {
  const std::string dir = scratch_dir("gguf-quant-bad");
  auto open = [&](GgufBuilder& b) {
    write_bytes(dir + "/b.gguf", b.bytes());
    return dir + "/b.gguf";
  };
  auto one_line = [](const std::string& m) {
    return !m.empty() && m.find('\n') == std::string::npos;
  };
  {  // A type gmha lists but does not dequantise.
    GgufBuilder b;
    b.add_tensor("blk.0.attn_q.weight", {256}, 16, zeros(66));
    auto g = GgufSource::open(open(b));
    CHECK_FALSE(g->info("blk.0.attn_q.weight").convertible);
    const std::string m = test::input_error_of([&] { g->read_matrix_f("blk.0.attn_q.weight"); });
    CHECK(m == dir +
                   "/b.gguf: tensor 'blk.0.attn_q.weight': type IQ2_XXS is not supported for "
                   "conversion");
  }
  {  // Unknown type id.
    GgufBuilder b;
    b.add_tensor("blk.0.attn_k.weight", {32}, 77, zeros(18));
    const std::string p = open(b);
    const std::string m = test::input_error_of([&] { GgufSource::open(p); });
    CHECK(m == p + ": tensor 'blk.0.attn_k.weight': unknown ggml type 77");
  }
  {  // Row length not a whole number of blocks.
    GgufBuilder b;
    b.add_tensor("blk.0.attn_v.weight", {128, 2}, 12, zeros(144));
    const std::string p = open(b);
    const std::string m = test::input_error_of([&] { GgufSource::open(p); });
    CHECK(m == p + ": tensor 'blk.0.attn_v.weight': row length 128 is not a multiple of the Q4_K "
                   "block size 256");
  }
  {  // Truncated block data: 2 rows of Q6_K need 420 bytes, the file holds 210.
    GgufBuilder b;
    b.add_tensor("output.weight", {256, 2}, 14, zeros(210));
    const std::string p = open(b);
    const std::string m = test::input_error_of([&] { GgufSource::open(p); });
    CHECK(one_line(m));
    CHECK(m == p + ": tensor 'output.weight' (bytes 0..420 of the data) exceeds the data (224 "
                   "bytes)");
  }
  {  // Every quantized type: a partial block is refused on parsing, naming the tensor.
    for (uint32_t type : kTypes) {
      GgufBuilder b;
      const uint64_t blk = static_cast<uint64_t>(gguf_block(type));
      b.add_tensor("t", {blk + 16}, type, zeros(1024));
      const std::string p = open(b);
      const std::string m = test::input_error_of([&] { GgufSource::open(p); });
      INFO(ggml_type_name(type));
      CHECK(one_line(m));
      CHECK(m.find("tensor 't': row length") != std::string::npos);
    }
  }
}

// ---- real files written by llama.cpp ----------------------------------------------------------

namespace {

struct Err {
  double rel_l2 = 0;
  bool finite = true;
};
Err compare(const TensorSource& q, const TensorSource& f, const std::string& name) {
  const MatrixD a = q.read_matrix_d(name), b = f.read_matrix_d(name);
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  Err e;
  e.finite = a.allFinite();
  e.rel_l2 = (a - b).norm() / b.norm();
  return e;
}

// Checks every tensor of quantized file `qpath` against float file `fpath`: quantized tensors
// within [lo, hi] relative L2 of their type, F16 ones within f16 rounding, F32 ones exact.
void check_file(const std::string& qpath, const std::string& fpath,
                const std::map<std::string, std::pair<double, double>>& bounds) {
  auto q = GgufSource::open(qpath);
  auto f = GgufSource::open(fpath);
  std::map<std::string, int> seen;
  for (const auto& t : q->tensors()) {
    INFO(qpath << " " << t.name << " " << t.dtype);
    REQUIRE(t.convertible);
    REQUIRE(f->find(t.name) != nullptr);
    const Err e = compare(*q, *f, t.name);
    CHECK(e.finite);
    ++seen[t.dtype];
    if (t.dtype == "F32") {
      CHECK(e.rel_l2 == 0.0);
    } else if (t.dtype == "F16") {
      CHECK(e.rel_l2 < 1e-3);
    } else {
      REQUIRE(bounds.count(t.dtype) == 1);
      const auto [lo, hi] = bounds.at(t.dtype);
      CHECK(e.rel_l2 >= lo);
      CHECK(e.rel_l2 <= hi);
    }
  }
  for (const auto& [type, _] : bounds) CHECK(seen[type] > 0);
}

}  // namespace

TEST_CASE("gguf quants: llama.cpp's Q4_K_M file decodes to its F32 original",
          "[checkpoint][quant][data]") {
  auto d = quant_data("gguf-quant");
  if (!d) return;
  // README: relative L2 about 0.08-0.10 for Q4_K, 0.02 for Q6_K.
  check_file(*d + "/synth-llama-d256-Q4_K_M.gguf", *d + "/synth-llama-d256-F32.gguf",
             {{"Q4_K", {0.06, 0.12}}, {"Q6_K", {0.01, 0.03}}});
  auto q = GgufSource::open(*d + "/synth-llama-d256-Q4_K_M.gguf");
  int q4 = 0, q6 = 0;
  for (const auto& t : q->tensors()) {
    q4 += t.dtype == "Q4_K";
    q6 += t.dtype == "Q6_K";
  }
  CHECK(q4 == 13);
  CHECK(q6 == 3);
  CHECK(q->info("output.weight").dtype == "Q6_K");
}

TEST_CASE("gguf quants: llama.cpp's stories260K Q4_0 and MXFP4 files",
          "[checkpoint][quant][data]") {
  auto d = quant_data("gguf-quant");
  auto orig = quant_data("stories260K-gguf");
  if (!d || !orig) return;
  const std::string f32 = *orig + "/stories260K.gguf";
  // README: about 0.08-0.10 for Q4_0, about 0.13 for MXFP4.
  check_file(*d + "/stories260K-Q4_0.gguf", f32, {{"Q4_0", {0.06, 0.12}}});
  check_file(*d + "/stories260K-MXFP4.gguf", f32, {{"MXFP4", {0.10, 0.16}}});
  for (const char* name : {"stories260K-Q4_0.gguf", "stories260K-MXFP4.gguf"}) {
    INFO(name);
    auto g = GgufSource::open(*d + "/" + name);
    const MatrixF out = g->read_matrix_f("output.weight"),
                  emb = g->read_matrix_f("token_embd.weight");
    REQUIRE(out.size() == emb.size());
    int64_t diff = 0;
    for (Eigen::Index i = 0; i < out.size(); ++i) diff += !same_bits(out.data()[i], emb.data()[i]);
    CHECK(diff == 0);
    // Through open_checkpoint the quantized model lays out like the float one.
    Checkpoint c = open_checkpoint(*d + "/" + name);
    CHECK(c.tensors->info("model.layers.0.self_attn.q_proj.weight").convertible);
  }
}
