#include "gmha/kernels/bench.hpp"

#include <fmt/format.h>

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "decode_ops.hpp"
#include "gmha/core/blas.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parallel.hpp"
#include "gmha/kernels/cuda_decode.hpp"
#include "gmha/kernels/layer_weights.hpp"

namespace gmha {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// OpenBLAS's sgemm rate with `threads` threads (gmha/core/blas.hpp loads it at run time); 0 when
// it is not installed.
double openblas_sgemm_gflops(int threads) {
  if (!blas::available()) return 0;
  blas::set_threads(threads);
  const int n = 2048;
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size(), 0.0f);
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const auto t0 = Clock::now();
    blas::sgemm(n, n, n, a.data(), b.data(), c.data());
    best = std::max(best, 2.0 * n * n * n / since(t0) / 1e9);
  }
  blas::set_threads(1);  // back to gmha's default: its own loops own the cores
  return best;
}

double eigen_sgemm_gflops(int threads) {
  // Each thread multiplies its own column block (Eigen is built without OpenMP here).
  const int n = 1024;
  Eigen::MatrixXf a = Eigen::MatrixXf::Constant(n, n, 0.5f);
  std::vector<Eigen::MatrixXf> b(static_cast<size_t>(threads), Eigen::MatrixXf::Constant(n, n, 0.25f));
  std::vector<Eigen::MatrixXf> c(static_cast<size_t>(threads), Eigen::MatrixXf(n, n));
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    run_on_threads(threads, [&](int t) { c[static_cast<size_t>(t)].noalias() = a * b[static_cast<size_t>(t)]; });
    best = std::max(best, 2.0 * n * n * n * threads / since(t0) / 1e9);
  }
  return best;
}

double read_bandwidth_gbps(int threads) {
  const size_t n = size_t{1} << 27;  // 512 MiB of floats, far above any cache
  std::vector<float> buf(n);
  run_on_threads(threads, [&](int t) {  // first touch by the reading thread
    const size_t b = n * static_cast<size_t>(t) / static_cast<size_t>(threads);
    const size_t e = n * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
    std::fill(buf.begin() + static_cast<std::ptrdiff_t>(b), buf.begin() + static_cast<std::ptrdiff_t>(e), 1.0f);
  });
  std::atomic<double> sink{0};
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const auto t0 = Clock::now();
    run_on_threads(threads, [&](int t) {
      const size_t b = n * static_cast<size_t>(t) / static_cast<size_t>(threads);
      const size_t e = n * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
      float s[16] = {};
      for (size_t i = b; i + 16 <= e; i += 16)
        for (int k = 0; k < 16; ++k) s[k] += buf[i + static_cast<size_t>(k)];
      double total = 0;
      for (float v : s) total += v;
      sink = sink + total;
    });
    best = std::max(best, static_cast<double>(n) * 4 / since(t0) / 1e9);
  }
  return best;
}

}  // namespace

MachineRates measure_machine(int threads) {
  MachineRates r;
  r.threads = resolve_threads(threads);
  r.sgemm_gflops = openblas_sgemm_gflops(r.threads);
  r.sgemm_source = "openblas";
  if (r.sgemm_gflops <= 0) {
    r.sgemm_gflops = eigen_sgemm_gflops(r.threads);
    r.sgemm_source = "eigen";
  }
  r.read_gbps = read_bandwidth_gbps(r.threads);
  return r;
}

DecodeBenchResult bench_decode(const AttentionShape& s, const DecodeBenchOptions& o,
                               const MachineRates* machine) {
  validate_shape(s, "bench decode");
  if (o.context < 1) throw errors::option_not_positive("context", o.context);
  if (o.batch < 1) throw errors::option_not_positive("batch", o.batch);
  // Cache layout per variant: K rows of width kw, V rows of width vw (0 = V aliases K).
  int64_t groups = 1, hpg = s.heads, qk = 0, vwidth = 0, kw = 0, vw = 0;
  bool key_rope = false;
  switch (s.variant) {
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa:
      groups = s.kv_heads;
      hpg = s.heads / s.kv_heads;
      qk = vwidth = s.head_dim;
      kw = vw = s.kv_heads * s.head_dim;
      break;
    case Variant::kMla:
      qk = s.kv_lora_rank + s.qk_rope_dim;
      vwidth = s.kv_lora_rank;
      kw = qk;
      break;
    case Variant::kMfa:
      qk = vwidth = kw = vw = s.head_dim;
      break;
    case Variant::kMfaKr:
      qk = vwidth = kw = s.head_dim;
      key_rope = true;
      break;
    default:
      throw InputError(fmt::format("bench decode: variant {} has no decode kernel (use gqa, mqa, mha, mla, mfa, mfa-kr)",
                                   variant_name(s.variant)));
  }
  const int64_t esize = cache_dtype_bytes(o.dtype);
  const int64_t per_seq = checked_product({o.context, kw + vw, esize}, "bench cache bytes");
  const int64_t total = checked_mul(per_seq, o.batch, "bench cache bytes");
  if (total > (int64_t{8} << 30)) {
    throw InputError(fmt::format("bench decode: the cache would take {:.1f} GiB (limit 8 GiB); lower --context or --batch",
                                 static_cast<double>(total) / (1 << 30)));
  }
  std::mt19937 rng(42);
  std::normal_distribution<float> n(0.0f, 1.0f);
  const size_t elems_k = static_cast<size_t>(o.batch * o.context * kw), elems_v = static_cast<size_t>(o.batch * o.context * vw);
  std::vector<float> kf, vf;
  std::vector<uint16_t> kb, vb;
  if (o.dtype == CacheDType::kF32) {
    kf.resize(elems_k);
    vf.resize(elems_v);
    for (auto& x : kf) x = n(rng);
    for (auto& x : vf) x = n(rng);
  } else {
    kb.resize(elems_k);
    vb.resize(elems_v);
    for (auto& x : kb) x = float_to_bf16(n(rng));
    for (auto& x : vb) x = float_to_bf16(n(rng));
  }
  RopeTable rope = resolve_rope(RopeConfig{}, qk, o.context);
  DecodeProblem p;
  p.batch = o.batch;
  p.groups = groups;
  p.heads_per_group = hpg;
  p.qk_width = qk;
  p.v_width = vwidth;
  p.tokens = o.context;
  LayerOptions lo;
  p.scale = softmax_scale(s, lo);
  p.dtype = o.dtype;
  p.k = o.dtype == CacheDType::kF32 ? static_cast<const void*>(kf.data()) : kb.data();
  p.k_batch_stride = o.context * kw;
  p.k_group_stride = groups > 1 ? s.head_dim : 0;
  p.k_row_stride = kw;
  if (vw > 0) {
    p.v = o.dtype == CacheDType::kF32 ? static_cast<const void*>(vf.data()) : vb.data();
    p.v_batch_stride = o.context * vw;
    p.v_group_stride = p.k_group_stride;
    p.v_row_stride = vw;
  } else {
    p.v = p.k;  // MLA: the latent; MFA-KR: the pre-RoPE key
    p.v_batch_stride = p.k_batch_stride;
    p.v_row_stride = kw;
  }
  if (key_rope) p.key_rope = &rope;
  std::vector<float> q(static_cast<size_t>(o.batch * groups * hpg * qk)), out(static_cast<size_t>(o.batch * groups * hpg * vwidth));
  for (auto& x : q) x = n(rng);

  DecodeBenchResult r;
  r.threads = resolve_threads(o.threads);
  r.kernel = o.path == KernelPath::kCuda ? "cuda" : detail::decode_kernel_description(p, o.path);
  r.flops = 2.0 * static_cast<double>(o.batch) * static_cast<double>(s.heads) * static_cast<double>(o.context) *
            static_cast<double>(qk + vwidth);
  r.bytes = static_cast<double>(total);
  if (o.path == KernelPath::kCuda) {
    // The cache is uploaded once and stays on the device; each timed step is the kernels alone
    // (CUDA events, median of the repeats), as a serving loop would run them.
    CudaCacheSpec cs;
    cs.batch = p.batch;
    cs.groups = p.groups;
    cs.heads_per_group = p.heads_per_group;
    cs.qk_width = p.qk_width;
    cs.v_width = p.v_width;
    cs.max_tokens = p.tokens;
    cs.scale = p.scale;
    cs.dtype = p.dtype;
    cs.v_aliases_k = vw == 0;
    cs.key_rope = p.key_rope;
    CudaDecodeCache dev(cs);
    dev.append(p.tokens, p.k, p.k_batch_stride, p.k_group_stride, p.k_row_stride, p.v,
               p.v_batch_stride, p.v_group_stride, p.v_row_stride);
    dev.decode(q.data(), out.data());  // uploads q, warms up
    r.kernel = "cuda " + dev.kernel_name();
    r.repeats = o.repeats > 0 ? o.repeats : 50;
    r.seconds = r.min_seconds = dev.time_decode(r.repeats);
  } else {
    decode_attention(p, q.data(), out.data(), r.threads,
                     o.path);  // warm-up: page in, spin up threads
    std::vector<double> times;
    const auto start = Clock::now();
    const int max_reps = o.repeats > 0 ? o.repeats : 1000;
    while (static_cast<int>(times.size()) < max_reps) {
      const auto t0 = Clock::now();
      decode_attention(p, q.data(), out.data(), r.threads, o.path);
      times.push_back(since(t0));
      if (o.repeats <= 0 && times.size() >= 5 && since(start) > 1.0) break;
    }
    std::sort(times.begin(), times.end());
    r.repeats = static_cast<int>(times.size());
    r.seconds = times[times.size() / 2];
    r.min_seconds = times.front();
  }
  r.gflops = r.flops / r.seconds / 1e9;
  r.gbps = r.bytes / r.seconds / 1e9;
  r.machine = machine ? *machine : measure_machine(r.threads);
  r.floor_seconds = std::max(r.flops / (r.machine.sgemm_gflops * 1e9), r.bytes / (r.machine.read_gbps * 1e9));
  return r;
}

}  // namespace gmha
