// CUDA decode path. The fragment-layout and RoPE-table tests run on the CPU (the kernels' index
// mapping is plain host+device code); the device tests SKIP (a WARN, then return) when the build
// has no CUDA or no device is present, and otherwise check every kernel version against the CPU.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "gmha/attention/design_spec.hpp"
#include "gmha/core/error.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/kernels/cuda_decode.hpp"
#include "gmha/kernels/decode.hpp"
#include "gmha/kernels/reference.hpp"
#include "kernels/inputs.hpp"
#include "support/test_paths.hpp"
#include "kernels/cuda/mma_layout.hpp"
#include "kernels/cuda/rope_tables.hpp"

using namespace gmha;
using gmha::test::random_input;
namespace mma = gmha::cuda::mma;

namespace {

// The PTX ISA's table for mma.m16n8k16 (.bf16), transcribed independently of mma_layout.hpp:
// groupID = laneid >> 2, threadID_in_group = laneid % 4;
//   A: row = groupID for a0,a1,a4,a5 else groupID+8; col = tig*2 + (i&1) for a0..a3 else +8
//   B: row = tig*2 + (i&1) for b0,b1 else +8; col = groupID
//   C: row = groupID for c0,c1 else groupID+8; col = tig*2 + (i&1)
std::pair<int, int> doc_a(int lane, int i) {
  const int group = lane >> 2, tig = lane % 4;
  const int row = (i == 0 || i == 1 || i == 4 || i == 5) ? group : group + 8;
  const int col = i < 4 ? tig * 2 + (i & 1) : tig * 2 + (i & 1) + 8;
  return {row, col};
}
std::pair<int, int> doc_b(int lane, int i) {
  return {(lane % 4) * 2 + (i & 1) + (i < 2 ? 0 : 8), lane >> 2};
}
std::pair<int, int> doc_c(int lane, int i) {
  return {(i < 2 ? lane >> 2 : (lane >> 2) + 8), (lane % 4) * 2 + (i & 1)};
}

// What the hardware does with the warp's registers: rebuilds A and B from the documented
// layout, multiplies in float, scatters D per the documented C layout.
void emulated_mma(const uint32_t a[32][4], const uint32_t b[32][2], float d[32][4]) {
  float A[16][16], B[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < 8; ++i) {
      const uint16_t bits = static_cast<uint16_t>(a[lane][i / 2] >> (16 * (i & 1)));
      const auto [r, c] = doc_a(lane, i);
      A[r][c] = bf16_to_float(bits);
    }
    for (int i = 0; i < 4; ++i) {
      const uint16_t bits = static_cast<uint16_t>(b[lane][i / 2] >> (16 * (i & 1)));
      const auto [r, c] = doc_b(lane, i);
      B[r][c] = bf16_to_float(bits);
    }
  }
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < 4; ++i) {
      const auto [r, c] = doc_c(lane, i);
      float acc = d[lane][i];
      for (int k = 0; k < 16; ++k) acc += A[r][k] * B[k][c];
      d[lane][i] = acc;
    }
  }
}

bool have_device(const char* what) {
  if (!cuda_built()) {
    test::skip_unavailable(std::string("this gmha was built without CUDA: ") + what);
    return false;
  }
  if (cuda_device_count() == 0) {
    test::skip_unavailable(std::string("no CUDA device found: ") + what);
    return false;
  }
  return true;
}


}  // namespace

TEST_CASE("cuda mma layout: every fragment covers its tile exactly once and matches the PTX table",
          "[cuda]") {
  std::set<std::pair<int, int>> a, b, c;
  for (int lane = 0; lane < 32; ++lane) {
    for (int e = 0; e < 8; ++e) {
      const mma::Coord x = mma::a_coord(lane, e);
      CHECK(std::make_pair(x.row, x.col) == doc_a(lane, e));
      a.insert({x.row, x.col});
    }
    for (int e = 0; e < 4; ++e) {
      const mma::Coord x = mma::b_coord(lane, e), y = mma::c_coord(lane, e);
      CHECK(std::make_pair(x.row, x.col) == doc_b(lane, e));
      CHECK(std::make_pair(y.row, y.col) == doc_c(lane, e));
      b.insert({x.row, x.col});
      c.insert({y.row, y.col});
    }
  }
  CHECK(a.size() == 256);  // 16 x 16
  CHECK(b.size() == 128);  // 16 x 8
  CHECK(c.size() == 128);  // 16 x 8
}

TEST_CASE(
    "cuda mma layout: the kernel's fragment loaders feed an emulated mma to the plain product",
    "[cuda]") {
  // Tiles as the v2 kernel holds them: Q [16][ld] row-major, keys [8 tokens][ld] ([n][k]),
  // values [16 tokens][ldv] ([k][n]); padded leading dimensions and a non-zero origin.
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.0f, 1.0f);
  const int ld = 16 + 8 + 16, ldv = 8 + 8 + 8, k0 = 16, n0 = 8;
  std::vector<uint16_t> q(16 * ld), keys(8 * ld), vals(16 * ldv);
  for (auto& x : q) x = float_to_bf16(n(rng));
  for (auto& x : keys) x = float_to_bf16(n(rng));
  for (auto& x : vals) x = float_to_bf16(n(rng));
  uint32_t af[32][4], bk[32][2], bv[32][2];
  for (int lane = 0; lane < 32; ++lane) {
    for (int r = 0; r < 4; ++r) af[lane][r] = mma::load_a(q.data() + k0, ld, lane, r);
    for (int r = 0; r < 2; ++r) bk[lane][r] = mma::load_b_nk(keys.data() + k0, ld, lane, r);
    for (int r = 0; r < 2; ++r) bv[lane][r] = mma::load_b_kn(vals.data() + n0, ldv, lane, r);
  }
  float s[32][4] = {}, o[32][4] = {};
  emulated_mma(af, bk, s);  // S = Q K^T: S[h][j] = sum_d Q[h][k0+d] K[j][k0+d]
  emulated_mma(af, bv, o);  // O = Q' V with Q' = the same 16x16 A tile, V[j][n0+c]
  for (int lane = 0; lane < 32; ++lane) {
    for (int e = 0; e < 4; ++e) {
      const mma::Coord c = mma::c_coord(lane, e);
      double ref_s = 0, ref_o = 0;
      for (int d = 0; d < 16; ++d) {
        const double qa = bf16_to_float(q[static_cast<size_t>(c.row * ld + k0 + d)]);
        ref_s += qa * bf16_to_float(keys[static_cast<size_t>(c.col * ld + k0 + d)]);
        ref_o += qa * bf16_to_float(vals[static_cast<size_t>(d * ldv + n0 + c.col)]);
      }
      CHECK(s[lane][e] == Approx(ref_s).margin(1e-4));
      CHECK(o[lane][e] == Approx(ref_o).margin(1e-4));
    }
  }
}

TEST_CASE("cuda rope tables: coarse x fine rotation equals the direct angle at long positions",
          "[cuda]") {
  const int pairs = 64;
  std::vector<double> inv(pairs);
  for (int i = 0; i < pairs; ++i)
    inv[static_cast<size_t>(i)] = std::pow(500000.0, -2.0 * i / (2 * pairs));
  const int64_t tokens = 40001;
  const cuda::RopeTablesHost t = cuda::make_rope_tables(inv.data(), pairs, tokens);
  CHECK(t.coarse_rows == (tokens + cuda::kRopeFine - 1) / cuda::kRopeFine);
  double worst = 0;
  for (int64_t j : {int64_t{0}, int64_t{1}, int64_t{31}, int64_t{32}, int64_t{1000}, int64_t{32767},
                    tokens - 1}) {
    for (int i = 0; i < pairs; ++i) {
      float cs, sn;
      cuda::rope_cos_sin(t.coarse.data(), t.fine.data(), pairs, j, i, &cs, &sn);
      const double a = static_cast<double>(j) * inv[static_cast<size_t>(i)];
      worst = std::max({worst, std::abs(cs - std::cos(a)), std::abs(sn - std::sin(a))});
    }
  }
  CHECK(worst < 1e-6);
}

TEST_CASE("cuda: DeviceError is its own error type with exit code 4", "[cuda]") {
  const DeviceError e("no device");
  CHECK(e.exit_code() == 4);
  CHECK(dynamic_cast<const InputError*>(static_cast<const Error*>(&e)) == nullptr);
  CudaCacheSpec s;
  s.qk_width = s.v_width = 2048;
  s.max_tokens = 4;
  CHECK_THROWS_AS(CudaDecodeCache(s), InputError);  // a bad spec is input, with or without a device
  s.qk_width = s.v_width = 64;
  if (!cuda_built() || cuda_device_count() == 0) CHECK_THROWS_AS(CudaDecodeCache(s), DeviceError);
}

TEST_CASE("cuda: every kernel version matches the portable CPU path through the device cache",
          "[cuda]") {
  if (!have_device("the device cache check")) return;
  struct Geo {
    int64_t groups, hpg, qk, v;
    bool alias, rope;
  };
  const Geo geos[] = {
      {4, 4, 128, 128, false, false}, {1, 40, 96, 64, true, false}, {1, 5, 14, 14, true, true}};
  for (const Geo& g : geos) {
    for (CacheDType dt : {CacheDType::kF32, CacheDType::kBF16}) {
      for (CudaKernel kern : {CudaKernel::kNaive, CudaKernel::kV1, CudaKernel::kV2}) {
        const int64_t B = 3, T = 300;
        std::mt19937 rng(9);
        std::normal_distribution<float> n(0.0f, 1.0f);
        const int64_t kw = g.groups * g.qk, vw = g.alias ? 0 : g.groups * g.v;
        std::vector<float> kf(static_cast<size_t>(B * T * kw)), vf(static_cast<size_t>(B * T * vw)),
            q(static_cast<size_t>(B * g.groups * g.hpg * g.qk));
        for (auto& x : kf) x = n(rng);
        for (auto& x : vf) x = n(rng);
        for (auto& x : q) x = n(rng);
        std::vector<uint16_t> kb(kf.size()), vb(vf.size());
        for (size_t i = 0; i < kf.size(); ++i) kb[i] = float_to_bf16(kf[i]);
        for (size_t i = 0; i < vf.size(); ++i) vb[i] = float_to_bf16(vf[i]);
        const bool bf = dt == CacheDType::kBF16;
        RopeTable rt = resolve_rope(RopeConfig{}, g.qk, T);
        DecodeProblem p;
        p.batch = B;
        p.groups = g.groups;
        p.heads_per_group = g.hpg;
        p.qk_width = g.qk;
        p.v_width = g.v;
        p.tokens = T;
        p.scale = 0.125;
        p.dtype = dt;
        p.k = bf ? static_cast<const void*>(kb.data()) : kf.data();
        p.k_batch_stride = T * kw;
        p.k_group_stride = g.qk;
        p.k_row_stride = kw;
        p.v = g.alias ? p.k : (bf ? static_cast<const void*>(vb.data()) : vf.data());
        p.v_batch_stride = g.alias ? p.k_batch_stride : T * vw;
        p.v_group_stride = g.alias ? p.k_group_stride : g.v;
        p.v_row_stride = g.alias ? kw : vw;
        if (g.rope) p.key_rope = &rt;
        std::vector<float> want(static_cast<size_t>(B * g.groups * g.hpg * g.v)),
            got(want.size(), std::nanf(""));
        decode_attention(p, q.data(), want.data(), 1, KernelPath::kPortable);
        CudaCacheSpec s;
        s.batch = B;
        s.groups = g.groups;
        s.heads_per_group = g.hpg;
        s.qk_width = g.qk;
        s.v_width = g.v;
        s.max_tokens = T;
        s.scale = p.scale;
        s.dtype = dt;
        s.v_aliases_k = g.alias;
        s.key_rope = p.key_rope;
        s.kernel = kern;
        CudaDecodeCache c(s);
        c.append(T - 1, p.k, p.k_batch_stride, p.k_group_stride, p.k_row_stride, p.v,
                 p.v_batch_stride, p.v_group_stride, p.v_row_stride);
        const auto* k1 =
            static_cast<const unsigned char*>(p.k) + (T - 1) * kw * cache_dtype_bytes(dt);
        const auto* v1 =
            g.alias ? nullptr
                    : static_cast<const unsigned char*>(p.v) + (T - 1) * vw * cache_dtype_bytes(dt);
        c.append(1, k1, p.k_batch_stride, p.k_group_stride, p.k_row_stride, v1, p.v_batch_stride,
                 p.v_group_stride, p.v_row_stride);
        CHECK(c.tokens() == T);
        c.decode(q.data(), got.data());
        double d2 = 0, r2 = 0;
        for (size_t i = 0; i < want.size(); ++i) {
          d2 += (got[i] - want[i]) * (got[i] - want[i]);
          r2 += want[i] * want[i];
        }
        const double rel = std::sqrt(d2 / r2);
        INFO(c.kernel_name() << " " << cache_dtype_name(dt) << " qk " << g.qk << " v " << g.v
                             << ": " << rel);
        CHECK(rel < (kern == CudaKernel::kV2 && bf ? 1e-2 : 2e-4));
      }
    }
  }
}

TEST_CASE("cuda: FastDecoder on the device cache matches the double reference for every variant",
          "[cuda]") {
  if (!have_device("the FastDecoder CUDA check")) return;
  const char* specs[] = {"fpba:d=6", "gqa:d=16,heads=6,kv=2,hd=4,bias=1",
                         "mla:d=20,heads=3,c=7,qlora=9,nope=5,rope=4,v=3",
                         "mfa:d=14,heads=3,c=6,cq=5", "mfa-kr:d=14,heads=5,c=8,cq=10"};
  for (const char* spec : specs) {
    const AttentionShape s = parse_design_spec(spec).layers.at(0).attention;
    const LayerWeights w = random_layer_weights(s, 3);
    LayerOptions o;
    o.rope.theta = 50.0;
    o.rope.style = s.variant == Variant::kMla ? RopeStyle::kInterleaved : RopeStyle::kHalves;
    const MatrixRM x = random_input(70, s.d_model, 13);
    const MatrixRM ref = reference_forward(w, x, o, AttentionForm::kDecode);
    for (CacheDType dt : {CacheDType::kF32, CacheDType::kBF16}) {
      FastDecoder dec(w, o, x.rows(), dt, 1, KernelPath::kCuda);
      const Comparison r = compare(dec.run(x), ref);
      INFO(spec << " " << cache_dtype_name(dt) << ": " << r.summary());
      CHECK(r.passed(dt == CacheDType::kF32 ? 1e-4 : 3e-2));
    }
  }
}
