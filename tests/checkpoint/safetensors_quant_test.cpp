// Quantized safetensors schemes: each is written by an encoder here (from the layout in
// docs/formats.md), read back through SafetensorsSource under the original name as a dequantised
// [out, in] tensor, and compared bit-exactly with the encoder's own dequantisation. The auxiliary
// tensors are hidden; inconsistent groups are refused with one-line errors naming the tensor.
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>

#include "checkpoint/fixture_writer.hpp"
#include "checkpoint/quant_encode.hpp"
#include "gmha/checkpoint/element_decode.hpp"
#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/core/error.hpp"
#include "support/input_error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using namespace gmha::test;

namespace {

std::string u8s(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }
std::string i32s(const std::vector<uint32_t>& v) {
  std::string s;
  for (uint32_t x : v) put(s, x);
  return s;
}
std::string f16s(const std::vector<uint16_t>& v) {
  std::string s;
  for (uint16_t x : v) put(s, x);
  return s;
}
void check_exact(const SafetensorsSource& s, const std::string& name,
                 const std::vector<float>& want) {
  const MatrixF m = s.read_matrix_f(name);
  REQUIRE(static_cast<size_t>(m.size()) == want.size());
  int64_t bad = 0;
  for (Eigen::Index i = 0; i < m.size(); ++i)
    bad += std::bit_cast<uint32_t>(m.data()[i]) !=
           std::bit_cast<uint32_t>(want[static_cast<size_t>(i)]);
  CHECK(bad == 0);
}
// E4M3 code nearest to a positive v (normal range) and its value.
uint8_t e4m3_code(float v) {
  uint8_t best = 0x08;
  for (uint8_t c = 0x08; c < 0x7F; ++c)
    if (std::fabs(decode_f8_e4m3(c) - v) < std::fabs(decode_f8_e4m3(best) - v)) best = c;
  return best;
}

}  // namespace

TEST_CASE("safetensors quant: gpt-oss MXFP4 experts (blocks + E8M0 scales)",
          "[checkpoint][quant]") {
  const std::string dir = scratch_dir("st-mxfp4");
  // 2 experts x 3 rows x 64 values: blocks [2, 3, 2, 16], scales [2, 3, 2].
  const int E = 2, R = 3, G = 2;
  auto x = random_weights(E * R * G * 32, 7);
  std::vector<uint8_t> blocks, scales;
  std::vector<float> want;
  for (int b = 0; b < E * R * G; ++b) {
    float am = 0;
    for (int j = 0; j < 32; ++j) am = std::max(am, std::fabs(x[static_cast<size_t>(32 * b + j)]));
    const int e = std::clamp(static_cast<int>(std::ceil(std::log2(am / 6.0f))) + 127, 1, 254);
    const float s = std::ldexp(1.0f, e - 127);
    scales.push_back(static_cast<uint8_t>(e));
    uint8_t c[32];
    for (int j = 0; j < 32; ++j) {
      c[j] = e2m1_code(x[static_cast<size_t>(32 * b + j)] / s);
      want.push_back(e2m1_value(c[j]) * s);
    }
    // gpt-oss packs element 2j in the low nibble and 2j + 1 in the high nibble of byte j.
    for (int j = 0; j < 16; ++j)
      blocks.push_back(static_cast<uint8_t>(c[2 * j] | (c[2 * j + 1] << 4)));
  }
  const std::string p = "model.layers.0.mlp.experts.down_proj";
  write_bytes(dir + "/model.safetensors",
              safetensors_bytes({{p + "_blocks", "U8", {E, R, G, 16}, u8s(blocks)},
                                 {p + "_scales", "U8", {E, R, G}, u8s(scales)}}));
  auto s = SafetensorsSource::open(dir);
  REQUIRE(s->tensors().size() == 1);
  const TensorInfo& t = s->info(p);
  CHECK(t.dtype == "MXFP4");
  CHECK(t.shape == std::vector<int64_t>{E, R, G * 32});
  CHECK(t.bytes == blocks.size() + scales.size());
  CHECK(t.parts == std::vector<std::string>{p + "_blocks", p + "_scales"});
  check_exact(*s, p, want);
  // A scale grid that does not match the blocks.
  write_bytes(dir + "/model.safetensors",
              safetensors_bytes({{p + "_blocks", "U8", {E, R, G, 16}, u8s(blocks)},
                                 {p + "_scales", "U8", {E, R, 1}, std::string(E * R, '\x7f')}}));
  CHECK(test::input_error_of([&] { SafetensorsSource::open(dir); }) ==
        dir + ": tensor '" + p +
            "_scales': MXFP4 scale shape [2, 3, 1] does not match the "
            "expected [2, 3, 2]");
}

TEST_CASE("safetensors quant: NVFP4 in ModelOpt and compressed-tensors layouts",
          "[checkpoint][quant]") {
  const int R = 4, C = 64;
  auto x = random_weights(R * C, 11);
  const float global =
      0.0625f;  // per-tensor scale: ModelOpt multiplies it, compressed-tensors divides
  std::vector<uint8_t> codes(R * C / 2), bscale;
  std::vector<float> want_mo, want_ct;
  for (int b = 0; b < R * C / 16; ++b) {
    float am = 0;
    for (int j = 0; j < 16; ++j) am = std::max(am, std::fabs(x[static_cast<size_t>(16 * b + j)]));
    const uint8_t sc = e4m3_code(std::max(am / 6.0f / global, 0.02f));
    bscale.push_back(sc);
    const float s_mo = decode_f8_e4m3(sc) * global, s_ct = decode_f8_e4m3(sc) / global;
    for (int j = 0; j < 16; ++j) {
      const size_t e = static_cast<size_t>(16 * b + j);
      const uint8_t c = e2m1_code(x[e] / s_mo);
      codes[e / 2] |= static_cast<uint8_t>(c << (4 * (e % 2)));  // even element: low nibble
      want_mo.push_back(e2m1_value(c) * s_mo);
      want_ct.push_back(e2m1_value(c) * s_ct);
    }
  }
  const std::string w = "model.layers.0.self_attn.q_proj.weight";
  {
    const std::string dir = scratch_dir("st-nvfp4-mo");
    write_bytes(dir + "/model.safetensors",
                safetensors_bytes({{w, "U8", {R, C / 2}, u8s(codes)},
                                   {w + "_scale", "F8_E4M3", {R, C / 16}, u8s(bscale)},
                                   {w + "_scale_2", "F32", {}, f32_bytes({global})}}));
    auto s = SafetensorsSource::open(dir);
    REQUIRE(s->tensors().size() == 1);
    CHECK(s->info(w).dtype == "NVFP4");
    CHECK(s->info(w).shape == std::vector<int64_t>{R, C});
    check_exact(*s, w, want_mo);
    MatrixD d = s->read_rows_d(w, 3, 4);
    CHECK(d(0, 5) == static_cast<double>(want_mo[3 * C + 5]));
  }
  {
    const std::string dir = scratch_dir("st-nvfp4-ct");
    const std::string base = "model.layers.0.self_attn.q_proj";
    write_bytes(
        dir + "/model.safetensors",
        safetensors_bytes({{base + ".weight_packed", "U8", {R, C / 2}, u8s(codes)},
                           {base + ".weight_scale", "F8_E4M3", {R, C / 16}, u8s(bscale)},
                           {base + ".weight_global_scale", "F32", {1}, f32_bytes({global})}}));
    auto s = SafetensorsSource::open(dir);
    REQUIRE(s->tensors().size() == 1);
    check_exact(*s, w, want_ct);
    // Block scales of the wrong grid.
    write_bytes(
        dir + "/model.safetensors",
        safetensors_bytes({{base + ".weight_packed", "U8", {R, C / 2}, u8s(codes)},
                           {base + ".weight_scale",
                            "F8_E4M3",
                            {R, C / 32},
                            u8s(std::vector<uint8_t>(R * C / 32, 0x38))},
                           {base + ".weight_global_scale", "F32", {1}, f32_bytes({global})}}));
    CHECK(test::input_error_of([&] { SafetensorsSource::open(dir); }) ==
          dir + ": tensor '" + base +
              ".weight_scale': NVFP4 block scale shape [4, 2] does not "
              "match the expected [4, 4]");
    // A missing global scale.
    write_bytes(dir + "/model.safetensors",
                safetensors_bytes({{base + ".weight_packed", "U8", {R, C / 2}, u8s(codes)},
                                   {base + ".weight_scale", "F8_E4M3", {R, C / 16}, u8s(bscale)}}));
    CHECK(test::input_error_of([&] { SafetensorsSource::open(dir); }) ==
          dir + ": tensor '" + base + ".weight_packed': NVFP4 needs '" + base +
              ".weight_global_scale', which is missing");
  }
}

namespace {

// Int4 group quantisation shared by the GPTQ / AWQ / pack-quantized fixtures: out x in weights,
// groups of `group` inputs, asymmetric q in [0, 15] with zero z (GPTQ/AWQ) or symmetric q in
// [-8, 7] (pack-quantized, zero 0).
struct Int4 {
  int out, in, group;
  std::vector<int> q, z;        // q[o * in + i], z[g * out + o]
  std::vector<uint16_t> scale;  // f16 bits, [g * out + o]
  std::vector<float> want;      // (q - z) * scale, in float
};
Int4 int4(int out, int in, int group, bool symmetric, uint32_t seed) {
  Int4 r{out, in, group, {}, {}, {}, {}};
  auto x = random_weights(out * in, seed);
  const int groups = in / group;
  r.q.resize(static_cast<size_t>(out * in));
  r.z.resize(static_cast<size_t>(groups * out));
  r.scale.resize(static_cast<size_t>(groups * out));
  for (int g = 0; g < groups; ++g)
    for (int o = 0; o < out; ++o) {
      float lo = 0, hi = 0;
      for (int i = g * group; i < (g + 1) * group; ++i) {
        lo = std::min(lo, x[static_cast<size_t>(o * in + i)]);
        hi = std::max(hi, x[static_cast<size_t>(o * in + i)]);
      }
      const float am = std::max(std::fabs(lo), hi);
      const uint16_t sh = to_f16(symmetric ? am / 7.0f : (hi - lo) / 15.0f);
      const float s = f16_value(sh);
      const int z = symmetric ? 0 : std::clamp(static_cast<int>(std::lround(-lo / s)), 1, 15);
      r.scale[static_cast<size_t>(g * out + o)] = sh;
      r.z[static_cast<size_t>(g * out + o)] = z;
      for (int i = g * group; i < (g + 1) * group; ++i) {
        const int q =
            std::clamp(static_cast<int>(std::lround(x[static_cast<size_t>(o * in + i)] / s)) + z,
                       symmetric ? -8 : 0, symmetric ? 7 : 15);
        r.q[static_cast<size_t>(o * in + i)] = q;
      }
    }
  r.want.resize(static_cast<size_t>(out * in));
  for (int o = 0; o < out; ++o)
    for (int i = 0; i < in; ++i) {
      const int g = i / group;
      r.want[static_cast<size_t>(o * in + i)] =
          static_cast<float>(r.q[static_cast<size_t>(o * in + i)] -
                             r.z[static_cast<size_t>(g * out + o)]) *
          f16_value(r.scale[static_cast<size_t>(g * out + o)]);
    }
  return r;
}

}  // namespace

TEST_CASE("safetensors quant: GPTQ int4 (zero + 1 and v2) and AWQ int4", "[checkpoint][quant]") {
  const int out = 16, in = 64, group = 32, groups = in / group;
  const Int4 w = int4(out, in, group, false, 21);
  const std::string base = "model.layers.0.self_attn.k_proj";
  for (bool v2 : {false, true}) {
    INFO("gptq v2 " << v2);
    // GPTQ: qweight[i / 8, o] holds input i at bits 4 (i % 8); qzeros[g, o / 8] holds output o at
    // bits 4 (o % 8), stored as z - 1 in v1 checkpoints.
    std::vector<uint32_t> qw(static_cast<size_t>(in / 8 * out)),
        qz(static_cast<size_t>(groups * out / 8));
    for (int o = 0; o < out; ++o)
      for (int i = 0; i < in; ++i)
        qw[static_cast<size_t>((i / 8) * out + o)] |=
            static_cast<uint32_t>(w.q[static_cast<size_t>(o * in + i)]) << (4 * (i % 8));
    for (int g = 0; g < groups; ++g)
      for (int o = 0; o < out; ++o) {
        const int z = w.z[static_cast<size_t>(g * out + o)] - (v2 ? 0 : 1);
        qz[static_cast<size_t>(g * out / 8 + o / 8)] |= static_cast<uint32_t>(z & 0xF)
                                                        << (4 * (o % 8));
      }
    std::vector<uint32_t> gidx(in);
    for (int i = 0; i < in; ++i) gidx[static_cast<size_t>(i)] = static_cast<uint32_t>(i / group);
    const std::string dir = scratch_dir("st-gptq");
    write_bytes(dir + "/model.safetensors",
                safetensors_bytes({{base + ".qweight", "I32", {in / 8, out}, i32s(qw)},
                                   {base + ".qzeros", "I32", {groups, out / 8}, i32s(qz)},
                                   {base + ".scales", "F16", {groups, out}, f16s(w.scale)},
                                   {base + ".g_idx", "I32", {in}, i32s(gidx)}}));
    write_bytes(
        dir + "/config.json",
        std::string(
            R"({"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 32)") +
            (v2 ? R"(, "checkpoint_format": "gptq_v2"}})" : "}}"));
    auto s = SafetensorsSource::open(dir);
    REQUIRE(s->tensors().size() == 1);
    CHECK(s->info(base + ".weight").dtype == "GPTQ_INT4");
    CHECK(s->info(base + ".weight").shape == std::vector<int64_t>{out, in});
    check_exact(*s, base + ".weight", w.want);
    if (!v2) {  // a g_idx entry outside the groups
      gidx[3] = 9;
      write_bytes(dir + "/model.safetensors",
                  safetensors_bytes({{base + ".qweight", "I32", {in / 8, out}, i32s(qw)},
                                     {base + ".qzeros", "I32", {groups, out / 8}, i32s(qz)},
                                     {base + ".scales", "F16", {groups, out}, f16s(w.scale)},
                                     {base + ".g_idx", "I32", {in}, i32s(gidx)}}));
      auto bad = SafetensorsSource::open(dir);
      CHECK(test::input_error_of([&] { bad->read_matrix_f(base + ".weight"); }) ==
            "tensor '" + base + ".g_idx': g_idx[3] = 9 is outside 0.." + std::to_string(groups));
    }
  }
  {
    // AWQ: qweight[i, o / 8] holds output o in nibble pos(o % 8) with the pack order
    // 0 2 4 6 1 3 5 7 (nibble n holds column order[n]); qzeros the same along the output.
    const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    std::vector<uint32_t> qw(static_cast<size_t>(in * out / 8)),
        qz(static_cast<size_t>(groups * out / 8));
    for (int i = 0; i < in; ++i)
      for (int c = 0; c < out / 8; ++c)
        for (int n = 0; n < 8; ++n) {
          const int o = 8 * c + order[n];
          qw[static_cast<size_t>(i * out / 8 + c)] |=
              static_cast<uint32_t>(w.q[static_cast<size_t>(o * in + i)]) << (4 * n);
        }
    for (int g = 0; g < groups; ++g)
      for (int c = 0; c < out / 8; ++c)
        for (int n = 0; n < 8; ++n)
          qz[static_cast<size_t>(g * out / 8 + c)] |=
              static_cast<uint32_t>(w.z[static_cast<size_t>(g * out + 8 * c + order[n])])
              << (4 * n);
    const std::string dir = scratch_dir("st-awq");
    write_bytes(dir + "/model.safetensors",
                safetensors_bytes({{base + ".qweight", "I32", {in, out / 8}, i32s(qw)},
                                   {base + ".qzeros", "I32", {groups, out / 8}, i32s(qz)},
                                   {base + ".scales", "F16", {groups, out}, f16s(w.scale)}}));
    write_bytes(dir + "/config.json",
                R"({"quantization_config": {"quant_method": "awq", "bits": 4}})");
    auto s = SafetensorsSource::open(dir);
    CHECK(s->info(base + ".weight").dtype == "AWQ_INT4");
    check_exact(*s, base + ".weight", w.want);
    // qzeros of the wrong shape.
    write_bytes(dir + "/model.safetensors",
                safetensors_bytes(
                    {{base + ".qweight", "I32", {in, out / 8}, i32s(qw)},
                     {base + ".qzeros", "I32", {1, out / 8}, i32s(std::vector<uint32_t>(out / 8))},
                     {base + ".scales", "F16", {groups, out}, f16s(w.scale)}}));
    CHECK(test::input_error_of([&] { SafetensorsSource::open(dir); }) ==
          dir + ": tensor '" + base +
              ".qzeros': qzeros shape [1, 2] does not match the expected [2, 2]");
  }
}

TEST_CASE("safetensors quant: compressed-tensors pack-quantized int4", "[checkpoint][quant]") {
  const int out = 8, in = 96, group = 32, groups = in / group;
  const Int4 w = int4(out, in, group, true, 31);
  // weight_packed[o, i / 8] holds input i at bits 4 (i % 8), stored q + 8.
  std::vector<uint32_t> packed(static_cast<size_t>(out * in / 8));
  for (int o = 0; o < out; ++o)
    for (int i = 0; i < in; ++i)
      packed[static_cast<size_t>(o * in / 8 + i / 8)] |=
          static_cast<uint32_t>(w.q[static_cast<size_t>(o * in + i)] + 8) << (4 * (i % 8));
  std::vector<uint16_t> sc(static_cast<size_t>(out * groups));  // [out, groups]
  for (int o = 0; o < out; ++o)
    for (int g = 0; g < groups; ++g)
      sc[static_cast<size_t>(o * groups + g)] = w.scale[static_cast<size_t>(g * out + o)];
  std::string shape;
  put<int64_t>(shape, out);
  put<int64_t>(shape, in);
  const std::string base = "model.layers.0.self_attn.v_proj";
  const std::string dir = scratch_dir("st-packed");
  write_bytes(dir + "/model.safetensors",
              safetensors_bytes({{base + ".weight_packed", "I32", {out, in / 8}, i32s(packed)},
                                 {base + ".weight_scale", "F16", {out, groups}, f16s(sc)},
                                 {base + ".weight_shape", "I64", {2}, shape}}));
  write_bytes(
      dir + "/config.json",
      R"({"quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized",
                  "config_groups": {"group_0": {"weights": {"num_bits": 4, "symmetric": true,
                  "strategy": "group", "group_size": 32}, "targets": ["Linear"]}}}})");
  auto s = SafetensorsSource::open(dir);
  REQUIRE(s->tensors().size() == 1);
  CHECK(s->info(base + ".weight").dtype == "INT4");
  CHECK(s->info(base + ".weight").shape == std::vector<int64_t>{out, in});
  check_exact(*s, base + ".weight", w.want);
  // weight_shape that disagrees with the packing.
  std::string bad;
  put<int64_t>(bad, out);
  put<int64_t>(bad, in * 2);
  write_bytes(dir + "/model.safetensors",
              safetensors_bytes({{base + ".weight_packed", "I32", {out, in / 8}, i32s(packed)},
                                 {base + ".weight_scale", "F16", {out, groups}, f16s(sc)},
                                 {base + ".weight_shape", "I64", {2}, bad}}));
  CHECK(test::input_error_of([&] { SafetensorsSource::open(dir); }) ==
        dir + ": tensor '" + base + ".weight_shape': weight_shape [8, 192] does not match '" +
            base + ".weight_packed' [8, 12] (8 values per int32)");
}

TEST_CASE("safetensors quant: FP8 block size inferred from the scale grid, E8M0 scales",
          "[checkpoint][quant]") {
  const std::string dir = scratch_dir("st-fp8-infer");
  // 4 x 6 weight, scales [2, 3]: 2 x 2 blocks inferred (no config). Scales are E8M0 bytes.
  std::string codes(24, '\x38');                                  // 1.0
  const std::vector<uint8_t> e = {127, 128, 126, 129, 125, 130};  // 1, 2, 0.5, 4, 0.25, 8
  write_bytes(dir + "/model.safetensors",
              safetensors_bytes({{"l.weight", "F8_E4M3", {4, 6}, codes},
                                 {"l.weight_scale_inv", "F8_E8M0", {2, 3}, u8s(e)}}));
  auto s = SafetensorsSource::open(dir);
  MatrixF m = s->read_matrix_f("l.weight");
  CHECK(m(0, 0) == 1.0f);
  CHECK(m(1, 3) == 2.0f);
  CHECK(m(0, 5) == 0.5f);
  CHECK(m(2, 0) == 4.0f);
  CHECK(m(3, 2) == 0.25f);
  CHECK(m(3, 5) == 8.0f);
  // A grid no block size can give (10 rows in 6 blocks: ceil(10/2) = 5).
  write_bytes(
      dir + "/model.safetensors",
      safetensors_bytes(
          {{"l.weight", "F8_E4M3", {10, 6}, std::string(60, '\x38')},
           {"l.weight_scale_inv", "F32", {6, 3}, f32_bytes(std::vector<float>(18, 1.0f))}}));
  CHECK(test::input_error_of([&] { SafetensorsSource::open(dir); }) ==
        dir +
            ": tensor 'l.weight_scale_inv': shape [6, 3] does not match 2x2 blocks of 'l.weight' "
            "[10, 6] (expected [5, 3])");
}
