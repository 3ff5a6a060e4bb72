// Fast decode kernels against a double computation of the same softmax(q K^T s) V, and whole
// float32 layers (FastDecoder) against the double reference, over seeds and odd shapes.
#include <cmath>
#include <random>

#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/error.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/kernels/decode.hpp"
#include "gmha/kernels/reference.hpp"
#include "kernels/inputs.hpp"
#include "kernels/tolerance.hpp"

using namespace gmha;
using gmha::test::random_input;

namespace {

std::vector<KernelPath> paths() { return cpu_kernel_paths(); }

// Runs one DecodeProblem over a random cache (K and V separate) and checks it against double.
// With batch > 1 the cache is [batch][tokens][row] and q / out are [batch][groups][heads][width].
// The reference applies the rounding the kernel is specified to make (a bf16 query on the
// AVX512-BF16 path), so every path is held to f32_kernel_tolerance. `ref_tokens` (default: all)
// lets a test drop tokens from the reference only.
Comparison run_core(int64_t groups, int64_t hpg, int64_t qk, int64_t vw, int64_t tokens, CacheDType dt,
                    KernelPath path, int threads, uint64_t seed, int64_t batch = 1,
                    int64_t ref_tokens = -1) {
  if (ref_tokens < 0) ref_tokens = tokens;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  const int64_t kw = groups * qk + 3, vwid = groups * vw + 1;  // padded rows test the strides
  std::vector<float> kf(static_cast<size_t>(batch * tokens * kw)), vf(static_cast<size_t>(batch * tokens * vwid));
  for (auto& v : kf) v = n(rng);
  for (auto& v : vf) v = n(rng);
  std::vector<float> q(static_cast<size_t>(batch * groups * hpg * qk));
  for (auto& v : q) v = 2.0f * n(rng);  // sharp enough softmax to matter
  std::vector<uint16_t> kb(kf.size()), vb(vf.size());
  if (dt == CacheDType::kBF16) {
    for (size_t i = 0; i < kf.size(); ++i) kf[i] = bf16_to_float(kb[i] = float_to_bf16(kf[i]));
    for (size_t i = 0; i < vf.size(); ++i) vf[i] = bf16_to_float(vb[i] = float_to_bf16(vf[i]));
  }
  DecodeProblem p;
  p.batch = batch;
  p.groups = groups;
  p.heads_per_group = hpg;
  p.qk_width = qk;
  p.v_width = vw;
  p.tokens = tokens;
  p.scale = 1.0 / std::sqrt(static_cast<double>(qk));
  p.dtype = dt;
  p.k = dt == CacheDType::kBF16 ? static_cast<const void*>(kb.data()) : kf.data();
  p.v = dt == CacheDType::kBF16 ? static_cast<const void*>(vb.data()) : vf.data();
  p.k_row_stride = kw;
  p.k_group_stride = qk;
  p.k_batch_stride = tokens * kw;
  p.v_row_stride = vwid;
  p.v_group_stride = vw;
  p.v_batch_stride = tokens * vwid;
  std::vector<float> out(static_cast<size_t>(batch * groups * hpg * vw), std::nanf(""));  // poisoned
  decode_attention(p, q.data(), out.data(), threads, path);
  // The query as the kernel sees it: q * scale * log2(e), bf16-rounded in pairs on that path.
  std::vector<double> qeff(q.begin(), q.end());
  if (decode_rounds_query_to_bf16(p, path)) {
    const float qscale = static_cast<float>(p.scale * 1.4426950408889634);
    for (size_t row = 0; row < q.size() / static_cast<size_t>(qk); ++row) {
      for (int64_t d = 0; d < qk / 2 * 2; ++d) {
        const size_t i = row * static_cast<size_t>(qk) + static_cast<size_t>(d);
        qeff[i] = static_cast<double>(bf16_to_float(float_to_bf16(q[i] * qscale))) /
                  (p.scale * 1.4426950408889634);
      }
    }
  }
  MatrixRM got(batch * groups * hpg, vw), ref(batch * groups * hpg, vw);
  for (int64_t sq = 0; sq < batch * groups; ++sq) {
    const int64_t g = sq % groups, kbase = sq / groups * tokens * kw, vbase = sq / groups * tokens * vwid;
    for (int64_t h = 0; h < hpg; ++h) {
      const int64_t row = sq * hpg + h;
      std::vector<double> s(static_cast<size_t>(ref_tokens));
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < ref_tokens; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < qk; ++d) dot += qeff[static_cast<size_t>(row * qk + d)] * kf[static_cast<size_t>(kbase + j * kw + g * qk + d)];
        mx = std::max(mx, s[static_cast<size_t>(j)] = dot * p.scale);
      }
      for (auto& v : s) sum += (v = std::exp(v - mx));
      for (int64_t c = 0; c < vw; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < ref_tokens; ++j) acc += s[static_cast<size_t>(j)] * vf[static_cast<size_t>(vbase + j * vwid + g * vw + c)];
        ref(row, c) = acc / sum;
        got(row, c) = out[static_cast<size_t>(row * vw + c)];
      }
    }
  }
  return compare(got, ref);
}


}  // namespace

TEST_CASE("decode kernel: fp32 matches double softmax(qK^T s)V on odd shapes, every path", "[kernels]") {
  struct Case { int64_t groups, hpg, qk, vw, tokens; };
  const Case cases[] = {{1, 1, 5, 7, 1}, {2, 3, 13, 13, 65}, {1, 17, 64, 64, 130}, {1, 70, 24, 100, 200},
                        {3, 4, 16, 16, 63}, {1, 64, 33, 17, 129},
                        {1, 20, 40, 24, 1100}};  // many blocks per split
  for (KernelPath path : paths()) {
    uint64_t seed = 1;
    for (const Case& c : cases) {
      for (int threads : {1, 3}) {
        const Comparison r = run_core(c.groups, c.hpg, c.qk, c.vw, c.tokens, CacheDType::kF32, path, threads, seed++);
        INFO("path " << int(path) << " heads " << c.hpg << " qk " << c.qk << " tokens " << c.tokens << ": " << r.summary());
        CHECK(r.passed(test::f32_kernel_tolerance(c.qk, c.tokens)));
      }
    }
  }
}

TEST_CASE("decode kernel: batched sequences each match their own double softmax on every path", "[kernels]") {
  // Work items cover every KV group of one batch row; the partial results of (row, group, split)
  // must land in their own slots and merge per sequence.
  for (KernelPath path : paths()) {
    uint64_t seed = 50;
    for (int threads : {1, 2, 5}) {
      for (CacheDType dt : {CacheDType::kF32, CacheDType::kBF16}) {
        const Comparison r = run_core(3, 4, 24, 20, 300, dt, path, threads, seed++, /*batch=*/3);
        INFO("path " << int(path) << " threads " << threads << " " << cache_dtype_name(dt) << ": " << r.summary());
        CHECK(r.passed(test::f32_kernel_tolerance(24, 300)));
      }
    }
  }
}

TEST_CASE("decode kernel: bf16 cache matches double on the rounded cache", "[kernels]") {
  for (KernelPath path : paths()) {
    uint64_t seed = 100;
    for (int64_t qk : {8, 15, 64}) {
      const Comparison r = run_core(2, 9, qk, 20, 150, CacheDType::kBF16, path, 2, seed++);
      INFO(r.summary());
      // The AVX512-BF16 dot product rounds the query to bf16; the reference does the same.
      CHECK(r.passed(test::f32_kernel_tolerance(qk, 150)));
    }
    // 16+ heads per stream: bf16 blocks are widened to float (exact), then the fp32 tiles run.
    for (int64_t hpg : {16, 40}) {
      const Comparison r = run_core(1, hpg, 48, 33, 300, CacheDType::kBF16, path, 2, seed++);
      INFO("heads " << hpg << ": " << r.summary());
      CHECK(r.passed(test::f32_kernel_tolerance(48, 300)));
    }
  }
}

TEST_CASE("decode kernel: the tolerance catches one dropped token on every path", "[kernels]") {
  // The reference leaves out the last of 300 tokens: the kernel (which reads all 300) must fail
  // the tolerance the other tests pass with, on every path and cache dtype.
  for (KernelPath path : paths()) {
    for (CacheDType dt : {CacheDType::kF32, CacheDType::kBF16}) {
      const Comparison all = run_core(2, 4, 24, 20, 300, dt, path, 2, 7);
      const Comparison dropped = run_core(2, 4, 24, 20, 300, dt, path, 2, 7, 1, 299);
      INFO("path " << int(path) << " " << cache_dtype_name(dt) << ": all " << all.summary()
                   << "; one dropped " << dropped.summary());
      CHECK(all.passed(test::f32_kernel_tolerance(24, 300)));
      CHECK_FALSE(dropped.passed(test::f32_kernel_tolerance(24, 300)));
    }
  }
}

TEST_CASE("decode kernel: bad sizes are InputErrors", "[kernels]") {
  DecodeProblem p;
  float q = 1, o = 0;
  CHECK_THROWS_AS(decode_attention(p, &q, &o), InputError);
  p.qk_width = p.v_width = p.tokens = 1;
  p.k = p.v = &q;
  p.k_row_stride = p.v_row_stride = 1;
  p.scale = std::nan("");
  CHECK_THROWS_AS(decode_attention(p, &q, &o), InputError);
  CHECK_THROWS_AS(read_cache_dtype("fp8", "--dtype"), InputError);
}

TEST_CASE("fast decoder: float32 layers match the double reference for every variant", "[kernels]") {
  const char* specs[] = {"fpba:d=6", "mha:d=12,heads=3,hd=4", "mqa:d=10,heads=3,hd=6",
                         "gqa:d=16,heads=6,kv=2,hd=4,bias=1", "mla:d=20,heads=3,c=7,qlora=9,nope=5,rope=4,v=3",
                         "mla:d=18,heads=2,c=6,qlora=0,nope=4,rope=2,v=5", "mfa:d=14,heads=3,c=6,cq=5",
                         "mfa-kr:d=14,heads=5,c=8,cq=10"};
  for (const char* spec : specs) {
    for (uint64_t seed : {1, 2, 3}) {
      const AttentionShape s = parse_design_spec(spec).layers.at(0).attention;
      const LayerWeights w = random_layer_weights(s, seed);
      LayerOptions o;
      o.rope.theta = 50.0;
      o.rope.style = s.variant == Variant::kMla ? RopeStyle::kInterleaved : RopeStyle::kHalves;
      const MatrixRM x = random_input(70, s.d_model, seed + 10);  // crosses a 64-token block
      const MatrixRM ref = reference_forward(w, x, o, AttentionForm::kDecode);
      for (KernelPath path : paths()) {
        for (CacheDType dt : {CacheDType::kF32, CacheDType::kBF16}) {
          FastDecoder dec(w, o, x.rows(), dt, 2, path);
          const Comparison r = compare(dec.run(x), ref);
          INFO(spec << " seed " << seed << " " << cache_dtype_name(dt) << ": " << r.summary());
          // Every spec here has a QK width of at most d, so d bounds the score sums too.
          CHECK(r.passed(dt == CacheDType::kF32 ? test::f32_layer_tolerance(s.d_model, s.d_model, x.rows())
                                                : test::bf16_cache_tolerance()));
        }
      }
    }
  }
}

TEST_CASE("fast decoder: cache bytes after T tokens equal the capacity figure", "[kernels]") {
  const char* specs[] = {"gqa:d=16,heads=4,kv=2,hd=6,kv_dtype=fp32", "mla:d=20,heads=3,c=7,qlora=9,nope=5,rope=4,v=3,kv_dtype=bf16",
                         "mfa:d=14,heads=3,c=6,cq=5,kv_dtype=bf16", "mfa-kr:d=14,heads=3,c=8,cq=10,kv_dtype=fp32",
                         "fpba:d=5,kv_dtype=fp32"};
  for (const char* spec : specs) {
    const ModelDesign m = parse_design_spec(spec);
    const LayerSpec& layer = m.layers.at(0);
    const CacheDType dt = layer.kv_dtype == DType::kBF16 ? CacheDType::kBF16 : CacheDType::kF32;
    const int64_t T = 11;
    FastDecoder dec(random_layer_weights(layer.attention, 4), LayerOptions{}, 32, dt, 1);
    dec.run(random_input(T, m.d_model, 5));
    CapacityOptions co;
    co.context = T;
    INFO(spec);
    CHECK(static_cast<double>(dec.cache_bytes()) == compute_figures(m, co).groups.at(0).kv_bytes_per_token_per_layer * T);
  }
}
