// Standalone GPU check for scripts/device-check.sh: needs only the CUDA toolkit (runtime and
// cuBLAS) and the C++ standard library. Three phases:
//   1. validation: every kernel version (v0 naive, v1, v2) on every case below against a
//      float64 CPU computation of softmax(q K^T s) V on the same (rounded) cache values:
//      GQA/MQA/MHA, MLA absorbed (qk 576, v 512: the widest value path), MFA, MFA-KR with both
//      RoPE pairings and an attention factor, odd context lengths (1, 33, 1000, 4097), batch
//      1..64, forced many-split merges, fp32 and bf16 caches. Metric ||out-ref|| / ||ref||.
//   2. device cache: the cache API (append token by token, decode a step) against the same
//      reference, so the path FastDecoder uses is checked too.
//   3. timing (CUDA events, median of repeats, launch errors checked on every call) of the
//      default version at long contexts, against the bound that binds for the shape: HBM bytes
//      at the peak bandwidth memory clock x bus width gives, or tensor FLOPs at SMs x clock x
//      mma throughput; and against a cuBLAS baseline in the same run (batched GEMM S = Q K^T,
//      a softmax kernel, batched GEMM O = P V; bf16 inputs, fp32 accumulation).
// Output: a table on stdout and a JSON summary (--json FILE). Exit 0 all validations passed,
// 1 any failed, 2 no device, 3 a CUDA error.
//
//   nvcc -O3 -std=c++17 -arch=sm_90 -o device_check device_check.cu decode_attention.cu -lcublas
//   ./device_check --json summary.json [--quick]
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "decode_attention.cuh"
#include "gmha/core/float_formats.hpp"
#include "rope_tables.hpp"

using gmha::cuda::DecodeArgs;

namespace {

#define CHECK_CUDA(x)                                                                          \
  do {                                                                                         \
    cudaError_t e_ = (x);                                                                      \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(3);                                                                            \
    }                                                                                          \
  } while (0)
#define CHECK_CUBLAS(x)                                                                       \
  do {                                                                                        \
    cublasStatus_t s_ = (x);                                                                  \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                        \
      std::fprintf(stderr, "%s:%d: %s: cuBLAS status %d\n", __FILE__, __LINE__, #x, (int)s_); \
      std::exit(3);                                                                           \
    }                                                                                         \
  } while (0)

struct Shape {
  const char* name;
  int64_t groups, heads_per_group, qk, v;
  bool alias;  // V is the first v columns of the K row (MLA latent, MFA-KR key)
  int rope;    // MFA-KR: 0 none, 1 halves, 2 interleaved (keys cached before RoPE)
};

const Shape kGqa{"llama3-8b-gqa (32 heads, 8x128)", 8, 4, 128, 128, false, 0};
const Shape kMqa{"mqa (16 heads, 1x128)", 1, 16, 128, 128, false, 0};
const Shape kMha{"mha (8 heads, hd 64)", 8, 1, 64, 64, false, 0};
const Shape kMla{"deepseek-v3-mla (128 heads, 576/512)", 1, 128, 576, 512, true, 0};
const Shape kMfa{"step3-mfa (64 heads, 1x256)", 1, 64, 256, 256, false, 0};
const Shape kMfaKr{"mfa-kr halves (64 heads, K 256)", 1, 64, 256, 256, true, 1};
const Shape kMfaKrI{"mfa-kr interleaved (64 heads, K 256)", 1, 64, 256, 256, true, 2};
const Shape kOdd{"odd widths (5 heads, qk 14, v 14, kr)", 1, 5, 14, 14, true, 1};
const Shape kWideV{"wide values (4 heads, 1x1024, v1 only)", 1, 4, 1024, 1024, false, 0};

// Host case: caches packed per stream [b][g][T][w] (the device cache's layout).
struct Case {
  Shape s;
  DecodeArgs a;
  std::vector<float> kf, vf, q;  // fp32 values (already bf16-rounded for a bf16 cache)
  std::vector<uint16_t> kb, vb;
  std::vector<double> inv_freq;
  double factor = 1.0;
};

Case make_case(const Shape& s, int64_t batch, int64_t tokens, bool bf16, unsigned seed,
               double factor = 1.0) {
  Case c;
  c.s = s;
  DecodeArgs& a = c.a;
  a.batch = batch;
  a.groups = s.groups;
  a.heads_per_group = s.heads_per_group;
  a.qk_width = s.qk;
  a.v_width = s.v;
  a.tokens = tokens;
  a.scale = 1.0 / std::sqrt(static_cast<double>(s.alias && !s.rope ? 192 : s.qk));
  a.bf16 = bf16;
  a.k_row_stride = s.qk;
  a.k_group_stride = tokens * s.qk;
  a.k_batch_stride = s.groups * a.k_group_stride;
  a.v_alias = s.alias;
  if (!s.alias) {
    a.v_row_stride = s.v;
    a.v_group_stride = tokens * s.v;
    a.v_batch_stride = s.groups * a.v_group_stride;
  }
  if (s.rope) {
    a.rope_dim = static_cast<int>(s.qk);
    a.rope_interleaved = s.rope == 2;
    a.rope_attention_factor = static_cast<float>(factor);
    c.factor = factor;
    for (int i = 0; i < s.qk / 2; ++i) c.inv_freq.push_back(std::pow(10000.0, -2.0 * i / s.qk));
  }
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  c.kf.resize(static_cast<size_t>(batch * s.groups * tokens * s.qk));
  c.vf.resize(s.alias ? 0 : static_cast<size_t>(batch * s.groups * tokens * s.v));
  c.q.resize(static_cast<size_t>(batch * s.groups * s.heads_per_group * s.qk));
  for (auto& x : c.kf) x = n(rng);
  for (auto& x : c.vf) x = n(rng);
  for (auto& x : c.q) x = 2.0f * n(rng);  // peaked softmax: errors in the max show
  if (bf16) {
    for (auto& x : c.kf) c.kb.push_back(gmha::float_to_bf16(x)), x = gmha::bf16_to_float(c.kb.back());
    for (auto& x : c.vf) c.vb.push_back(gmha::float_to_bf16(x)), x = gmha::bf16_to_float(c.vb.back());
  }
  return c;
}

// float64 reference, including MFA-KR's key rotation in both pairings.
std::vector<double> reference(const Case& c) {
  const DecodeArgs& a = c.a;
  std::vector<double> ref(static_cast<size_t>(a.batch * a.groups * a.heads_per_group * a.v_width));
  std::vector<double> s(static_cast<size_t>(a.tokens)),
      keys(static_cast<size_t>(a.tokens * a.qk_width));
  for (int64_t b = 0; b < a.batch; ++b) {
    for (int64_t g = 0; g < a.groups; ++g) {
      const float* kr0 = c.kf.data() + b * a.k_batch_stride + g * a.k_group_stride;
      const float* vr0 =
          a.v_alias ? kr0 : c.vf.data() + b * a.v_batch_stride + g * a.v_group_stride;
      const int64_t vrs = a.v_alias ? a.k_row_stride : a.v_row_stride;
      for (int64_t j = 0; j < a.tokens; ++j) {
        double* key = keys.data() + j * a.qk_width;
        for (int64_t d = 0; d < a.qk_width; ++d) key[d] = kr0[j * a.k_row_stride + d];
        if (a.rope_dim > 0) {
          const int half = a.rope_dim / 2;
          for (int i = 0; i < half; ++i) {
            const int ix = a.rope_interleaved ? 2 * i : i,
                      iy = a.rope_interleaved ? 2 * i + 1 : i + half;
            const double ang = static_cast<double>(j) * c.inv_freq[i], x = key[ix], y = key[iy];
            key[ix] = (x * std::cos(ang) - y * std::sin(ang)) * c.factor;
            key[iy] = (y * std::cos(ang) + x * std::sin(ang)) * c.factor;
          }
        }
      }
      for (int64_t h = 0; h < a.heads_per_group; ++h) {
        const int64_t row = (b * a.groups + g) * a.heads_per_group + h;
        const float* qh = c.q.data() + row * a.qk_width;
        double mx = -INFINITY;
        for (int64_t j = 0; j < a.tokens; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < a.qk_width; ++d)
            dot += keys[static_cast<size_t>(j * a.qk_width + d)] * qh[d];
          s[static_cast<size_t>(j)] = dot * a.scale;
          mx = std::max(mx, s[static_cast<size_t>(j)]);
        }
        double sum = 0;
        for (auto& x : s) sum += (x = std::exp(x - mx));
        double* o = ref.data() + row * a.v_width;
        for (int64_t j = 0; j < a.tokens; ++j) {
          const double p = s[static_cast<size_t>(j)] / sum;
          for (int64_t col = 0; col < a.v_width; ++col) o[col] += p * vr0[j * vrs + col];
        }
      }
    }
  }
  return ref;
}

double rel_error(const std::vector<double>& ref, const std::vector<float>& out) {
  double d2 = 0, r2 = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    d2 += (out[i] - ref[i]) * (out[i] - ref[i]);
    r2 += ref[i] * ref[i];
  }
  return std::sqrt(d2 / r2);
}

struct Dev {
  void *k = nullptr, *v = nullptr, *ws = nullptr;
  float *q = nullptr, *out = nullptr, *coarse = nullptr, *fine = nullptr;
  size_t ws_bytes = 0;
};

Dev upload(Case& c) {
  Dev d;
  const size_t es = c.a.bf16 ? 2 : 4;
  CHECK_CUDA(cudaMalloc(&d.k, c.kf.size() * es));
  CHECK_CUDA(cudaMemcpy(d.k, c.a.bf16 ? static_cast<const void*>(c.kb.data()) : c.kf.data(),
                        c.kf.size() * es, cudaMemcpyHostToDevice));
  if (!c.vf.empty()) {
    CHECK_CUDA(cudaMalloc(&d.v, c.vf.size() * es));
    CHECK_CUDA(cudaMemcpy(d.v, c.a.bf16 ? static_cast<const void*>(c.vb.data()) : c.vf.data(),
                          c.vf.size() * es, cudaMemcpyHostToDevice));
  }
  CHECK_CUDA(cudaMalloc(&d.q, c.q.size() * 4));
  CHECK_CUDA(cudaMemcpy(d.q, c.q.data(), c.q.size() * 4, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMalloc(
      &d.out, static_cast<size_t>(c.a.batch * c.a.groups * c.a.heads_per_group * c.a.v_width) * 4));
  if (c.a.rope_dim) {
    const auto t = gmha::cuda::make_rope_tables(c.inv_freq.data(), c.a.rope_dim / 2, c.a.tokens);
    CHECK_CUDA(cudaMalloc(&d.coarse, t.coarse.size() * 4));
    CHECK_CUDA(cudaMalloc(&d.fine, t.fine.size() * 4));
    CHECK_CUDA(cudaMemcpy(d.coarse, t.coarse.data(), t.coarse.size() * 4, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(d.fine, t.fine.data(), t.fine.size() * 4, cudaMemcpyHostToDevice));
    c.a.rope_coarse = d.coarse;
    c.a.rope_fine = d.fine;
  }
  return d;
}

void ensure_ws(Dev& d, const DecodeArgs& a) {
  const size_t need = gmha::cuda::workspace_bytes(a);
  if (need > d.ws_bytes) {
    if (d.ws) CHECK_CUDA(cudaFree(d.ws));
    CHECK_CUDA(cudaMalloc(&d.ws, need));
    d.ws_bytes = need;
  }
}

void release(Dev& d) {
  for (void* p : {d.k, d.v, d.ws, static_cast<void*>(d.q), static_cast<void*>(d.out),
                  static_cast<void*>(d.coarse), static_cast<void*>(d.fine)}) {
    if (p) CHECK_CUDA(cudaFree(p));
  }
}

double tolerance(int version, bool bf16) {
  if (version != gmha::cuda::kV2) return 1e-4;  // fp32 arithmetic on the rounded cache
  return bf16 ? 1e-2 : 2e-4;  // v2: bf16 q and P (bf16 cache); hi/lo split products (fp32 cache)
}

struct Json {
  std::string s;
  void add(const std::string& obj) { s += (s.empty() ? "" : ",\n    ") + obj; }
};

std::string jstr(const std::string& x) { return "\"" + x + "\""; }

struct ValCase {
  Shape s;
  int64_t batch, tokens;
  int splits;     // 0 = automatic
  double factor;  // RoPE attention factor
};

int failures = 0;

void validate_all(bool quick, Json& js) {
  std::vector<ValCase> cases = {
      {kGqa, 1, 1, 0, 1},        {kGqa, 3, 33, 0, 1},      {kGqa, 2, 1000, 0, 1},
      {kGqa, 64, 67, 0, 1},      {kGqa, 1, 4097, 37, 1},   {kMqa, 2, 1000, 0, 1},
      {kMha, 5, 129, 0, 1},      {kMla, 1, 1, 0, 1},       {kMla, 2, 1000, 0, 1},
      {kMla, 8, 97, 0, 1},       {kMla, 1, 4097, 1000, 1}, {kMfa, 2, 1000, 0, 1},
      {kMfa, 1, 4097, 129, 1},   {kMfa, 16, 41, 0, 1},     {kMfaKr, 2, 1000, 0, 1},
      {kMfaKr, 1, 777, 0, 1.25}, {kMfaKrI, 2, 1000, 0, 1}, {kMfaKrI, 1, 4097, 64, 1.25},
      {kOdd, 3, 50, 0, 1},       {kWideV, 2, 300, 0, 1},
  };
  if (quick) cases.resize(8);
  std::printf("%-40s %-5s %-4s %5s %3s %6s %9s %9s %s\n", "validation", "cache", "ver", "T", "B",
              "splits", "rel err", "tol", "result");
  for (const ValCase& vc : cases) {
    for (int bf : {0, 1}) {
      Case c =
          make_case(vc.s, vc.batch, vc.tokens, bf, 7 + static_cast<unsigned>(vc.tokens), vc.factor);
      Dev d = upload(c);
      const std::vector<double> ref = reference(c);
      for (int ver : {gmha::cuda::kNaive, gmha::cuda::kV1, gmha::cuda::kV2}) {
        DecodeArgs a = c.a;
        a.version = ver;
        a.splits = vc.splits;
        char err[256] = {0};
        if (gmha::cuda::check_args(a, err, sizeof err) != 0) {
          const bool expected = ver == gmha::cuda::kV2 && a.v_width > 512;
          std::printf("%-40s %-5s v%-3d %5lld %3lld %6s %9s %9s %s\n", vc.s.name,
                      bf ? "bf16" : "fp32", ver, (long long)a.tokens, (long long)a.batch, "-", "-",
                      "-", expected ? "n/a (by design)" : err);
          if (!expected) ++failures;
          continue;
        }
        ensure_ws(d, a);
        CHECK_CUDA(static_cast<cudaError_t>(
            gmha::cuda::decode_attention_device(a, d.k, d.v, d.q, d.out, d.ws, nullptr)));
        CHECK_CUDA(cudaDeviceSynchronize());
        std::vector<float> out(ref.size());
        CHECK_CUDA(cudaMemcpy(out.data(), d.out, out.size() * 4, cudaMemcpyDeviceToHost));
        const double e = rel_error(ref, out), tol = tolerance(ver, bf);
        const bool ok = e <= tol;
        failures += ok ? 0 : 1;
        const int splits = gmha::cuda::splits_for(a);
        std::printf("%-40s %-5s v%-3d %5lld %3lld %6d %9.2e %9.1e %s\n", vc.s.name,
                    bf ? "bf16" : "fp32", ver, (long long)a.tokens, (long long)a.batch, splits, e,
                    tol, ok ? "pass" : "FAIL");
        char buf[512];
        std::snprintf(buf, sizeof buf,
                      "{\"shape\": %s, \"dtype\": \"%s\", \"version\": %d, \"tokens\": %lld, "
                      "\"batch\": %lld, "
                      "\"splits\": %d, \"rope_factor\": %g, \"rel_error\": %.3e, \"tolerance\": "
                      "%.1e, \"pass\": %s}",
                      jstr(vc.s.name).c_str(), bf ? "bf16" : "fp32", ver, (long long)a.tokens,
                      (long long)a.batch, splits, vc.factor, e, tol, ok ? "true" : "false");
        js.add(buf);
      }
      release(d);
    }
  }
}

// Phase 2: the device cache, appended token by token as FastDecoder does, one decode per
// appended token checked at a few lengths.
void validate_cache(Json& js) {
  std::printf("\n%-40s %-5s %9s %s\n", "device cache (append + decode)", "cache", "rel err",
              "result");
  for (const Shape& s : {kGqa, kMla, kMfaKrI}) {
    for (int bf : {0, 1}) {
      const int64_t T = 70, B = 2;
      Case full = make_case(s, B, T, bf, 11);
      gmha::cuda::CacheSpec cs;
      cs.batch = B;
      cs.groups = s.groups;
      cs.heads_per_group = s.heads_per_group;
      cs.qk_width = s.qk;
      cs.v_width = s.v;
      cs.max_tokens = T;
      cs.scale = full.a.scale;
      cs.bf16 = bf;
      cs.v_aliases_k = s.alias;
      cs.rope_dim = full.a.rope_dim;
      cs.rope_interleaved = full.a.rope_interleaved;
      cs.inv_freq = full.inv_freq.data();
      gmha::cuda::DeviceCache* dc = nullptr;
      char err[256] = {0};
      if (gmha::cuda::cache_create(cs, &dc, err, sizeof err) != 0) {
        std::printf("%-40s %-5s %9s FAIL (%s)\n", s.name, bf ? "bf16" : "fp32", "-", err);
        ++failures;
        continue;
      }
      double worst = 0;
      const size_t es = bf ? 2 : 4;
      for (int64_t t = 0; t < T; ++t) {
        // Token t of every stream, packed [b][g][1][w].
        std::vector<unsigned char> kp(static_cast<size_t>(B * s.groups * s.qk) * es),
            vp(static_cast<size_t>(B * s.groups * s.v) * es);
        for (int64_t bg = 0; bg < B * s.groups; ++bg) {
          const size_t src = static_cast<size_t>((bg * T + t) * s.qk);
          std::memcpy(kp.data() + bg * s.qk * es,
                      bf ? static_cast<const void*>(full.kb.data() + src) : full.kf.data() + src,
                      s.qk * es);
          if (!s.alias) {
            const size_t vs = static_cast<size_t>((bg * T + t) * s.v);
            std::memcpy(vp.data() + bg * s.v * es,
                        bf ? static_cast<const void*>(full.vb.data() + vs) : full.vf.data() + vs,
                        s.v * es);
          }
        }
        if (gmha::cuda::cache_append(dc, 1, kp.data(), vp.data(), err, sizeof err) != 0) break;
        if (t == 0 || t == 31 || t == 32 || t == T - 1) {
          // Reference over the first t+1 tokens: a case whose caches are the prefix.
          Case pre = make_case(s, B, t + 1, bf, 11);
          for (int64_t bg = 0; bg < B * s.groups; ++bg) {
            std::copy_n(full.kf.begin() + bg * T * s.qk, (t + 1) * s.qk,
                        pre.kf.begin() + bg * (t + 1) * s.qk);
            if (!s.alias)
              std::copy_n(full.vf.begin() + bg * T * s.v, (t + 1) * s.v,
                          pre.vf.begin() + bg * (t + 1) * s.v);
          }
          pre.q = full.q;
          std::vector<float> out(static_cast<size_t>(B * s.groups * s.heads_per_group * s.v));
          if (gmha::cuda::cache_decode(dc, full.q.data(), out.data(), err, sizeof err) != 0) break;
          worst = std::max(worst, rel_error(reference(pre), out));
        }
      }
      const DecodeArgs probe = full.a;
      const double tol = tolerance(gmha::cuda::resolve_version(probe), bf);
      const bool ok = err[0] == 0 && worst <= tol;
      failures += ok ? 0 : 1;
      std::printf("%-40s %-5s %9.2e %s %s\n", s.name, bf ? "bf16" : "fp32", worst,
                  ok ? "pass" : "FAIL", err);
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "{\"shape\": %s, \"dtype\": \"%s\", \"api\": \"device cache\", \"tokens\": "
                    "%lld, \"batch\": %lld, "
                    "\"rel_error\": %.3e, \"tolerance\": %.1e, \"pass\": %s}",
                    jstr(s.name).c_str(), bf ? "bf16" : "fp32", (long long)T, (long long)B, worst,
                    tol, ok ? "true" : "false");
      js.add(buf);
      gmha::cuda::cache_destroy(dc);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Timing.

__global__ void fill_kernel(void* p, size_t n, int bf16, uint32_t seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 16;
    h *= 0x7feb352dU;
    h ^= h >> 15;
    const float x =
        (static_cast<float>(h & 0xffffff) / 16777216.0f - 0.5f) * 3.4f;  // ~unit variance
    if (bf16)
      static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(x);
    else
      static_cast<float*>(p)[i] = x;
  }
}

// Row softmax for the cuBLAS baseline: P = softmax(scale * S) per row of `cols`, P in bf16 or fp32.
template <class TP>
__global__ void softmax_rows(const float* s, TP* p, int64_t cols, float scale) {
  __shared__ float red[32];
  const float* row = s + blockIdx.x * cols;
  TP* out = p + blockIdx.x * cols;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) mx = fmaxf(mx, row[j]);
  for (int off = 16; off; off /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = mx;
  __syncthreads();
  mx = red[0];
  for (int w = 1; w < blockDim.x / 32; ++w) mx = fmaxf(mx, red[w]);
  __syncthreads();
  float sum = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) sum += __expf((row[j] - mx) * scale);
  for (int off = 16; off; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = sum;
  __syncthreads();
  sum = 0;
  for (int w = 0; w < blockDim.x / 32; ++w) sum += red[w];
  const float inv = 1.0f / sum;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    out[j] = static_cast<TP>(__expf((row[j] - mx) * scale) * inv);
}

template <class F>
double time_median(F&& f, int reps) {
  cudaEvent_t e0, e1;
  CHECK_CUDA(cudaEventCreate(&e0));
  CHECK_CUDA(cudaEventCreate(&e1));
  f();  // warm-up
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    CHECK_CUDA(cudaEventRecord(e0));
    f();
    CHECK_CUDA(cudaGetLastError());
    CHECK_CUDA(cudaEventRecord(e1));
    CHECK_CUDA(cudaEventSynchronize(e1));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, e0, e1));
    t.push_back(ms * 1e-3);
  }
  CHECK_CUDA(cudaEventDestroy(e0));
  CHECK_CUDA(cudaEventDestroy(e1));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Peaks {
  double hbm_bps = 0, tensor_flops = 0, copy_bps = 0;
  int sms = 0, clock_khz = 0, mem_clock_khz = 0, bus_bits = 0, per_sm_clk = 0;
};

Peaks device_peaks() {
  Peaks p;
  int dev = 0, major = 0, minor = 0;
  CHECK_CUDA(cudaGetDevice(&dev));
  CHECK_CUDA(cudaDeviceGetAttribute(&p.sms, cudaDevAttrMultiProcessorCount, dev));
  CHECK_CUDA(cudaDeviceGetAttribute(&p.clock_khz, cudaDevAttrClockRate, dev));
  CHECK_CUDA(cudaDeviceGetAttribute(&p.mem_clock_khz, cudaDevAttrMemoryClockRate, dev));
  CHECK_CUDA(cudaDeviceGetAttribute(&p.bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev));
  CHECK_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  CHECK_CUDA(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  p.hbm_bps = 2.0 * p.mem_clock_khz * 1e3 * p.bus_bits / 8.0;  // double data rate
  // Dense bf16 tensor FLOPs per SM per clock: sm_80 (A100) 2048, sm_90 (H100/H200) 4096 (the
  // wgmma peak; mma.sync reaches a fraction of it), sm_86/89 1024.
  p.per_sm_clk = major >= 9 ? 4096 : (major == 8 && minor == 0) ? 2048 : 1024;
  p.tensor_flops = static_cast<double>(p.sms) * p.clock_khz * 1e3 * p.per_sm_clk;
  // Device-to-device copy for reference (read + write).
  const size_t bytes = size_t{1} << 30;
  void *a, *b;
  CHECK_CUDA(cudaMalloc(&a, bytes));
  CHECK_CUDA(cudaMalloc(&b, bytes));
  p.copy_bps =
      2.0 * bytes /
      time_median([&] { CHECK_CUDA(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); }, 5);
  CHECK_CUDA(cudaFree(a));
  CHECK_CUDA(cudaFree(b));
  return p;
}

struct TimeCase {
  Shape s;
  int64_t batch, tokens;
  int bf16;
};

void time_all(bool quick, const Peaks& pk, Json& js, cublasHandle_t cb) {
  std::vector<TimeCase> cases;
  const int64_t T = quick ? 4096 : 32768;
  for (int64_t B : {1, 8, 32}) cases.push_back({kGqa, B, T, 1});
  for (int64_t B : {1, 8}) cases.push_back({kMfa, B, T, 1});
  for (int64_t B : {1, 8}) cases.push_back({kMfaKr, B, T, 1});
  for (int64_t B : {1, 8, 32, 64}) cases.push_back({kMla, B, T, 1});
  cases.push_back({kGqa, 8, T, 0});
  cases.push_back({kMla, 8, T, 0});
  if (quick) cases.resize(4);
  std::printf("\n%-38s %-4s %6s %3s %-3s %8s %8s %6s %8s %6s %-6s %9s %7s\n", "timing", "dt", "T",
              "B", "ver", "us", "GB/s", "%HBM", "TFLOP/s", "%TC", "bound", "cuBLAS us", "speedup");
  for (const TimeCase& tc : cases) {
    const Shape& s = tc.s;
    Case c =
        make_case(s, tc.batch, 1, tc.bf16, 3);  // geometry and q only; caches filled on the device
    DecodeArgs a = c.a;
    a.tokens = tc.tokens;
    a.k_group_stride = tc.tokens * s.qk;
    a.k_batch_stride = s.groups * a.k_group_stride;
    if (!s.alias) {
      a.v_group_stride = tc.tokens * s.v;
      a.v_batch_stride = s.groups * a.v_group_stride;
    }
    const size_t es = tc.bf16 ? 2 : 4;
    const size_t kn = static_cast<size_t>(tc.batch * s.groups * tc.tokens * s.qk);
    const size_t vn = s.alias ? 0 : static_cast<size_t>(tc.batch * s.groups * tc.tokens * s.v);
    void *k = nullptr, *v = nullptr, *ws = nullptr;
    float *q = nullptr, *out = nullptr, *coarse = nullptr, *fine = nullptr;
    CHECK_CUDA(cudaMalloc(&k, kn * es));
    fill_kernel<<<1024, 256>>>(k, kn, tc.bf16, 1);
    if (vn) {
      CHECK_CUDA(cudaMalloc(&v, vn * es));
      fill_kernel<<<1024, 256>>>(v, vn, tc.bf16, 2);
    }
    CHECK_CUDA(cudaGetLastError());
    CHECK_CUDA(cudaMalloc(&q, c.q.size() * 4));
    CHECK_CUDA(cudaMemcpy(q, c.q.data(), c.q.size() * 4, cudaMemcpyHostToDevice));
    const int64_t ht = tc.batch * s.groups * s.heads_per_group;
    CHECK_CUDA(cudaMalloc(&out, static_cast<size_t>(ht * s.v) * 4));
    if (s.rope) {
      const auto t =
          gmha::cuda::make_rope_tables(c.inv_freq.data(), static_cast<int>(s.qk / 2), tc.tokens);
      CHECK_CUDA(cudaMalloc(&coarse, t.coarse.size() * 4));
      CHECK_CUDA(cudaMalloc(&fine, t.fine.size() * 4));
      CHECK_CUDA(cudaMemcpy(coarse, t.coarse.data(), t.coarse.size() * 4, cudaMemcpyHostToDevice));
      CHECK_CUDA(cudaMemcpy(fine, t.fine.data(), t.fine.size() * 4, cudaMemcpyHostToDevice));
      a.rope_coarse = coarse;
      a.rope_fine = fine;
    }
    char err[256] = {0};
    if (gmha::cuda::check_args(a, err, sizeof err) != 0) {
      std::printf("%-38s check_args: %s\n", s.name, err);
      ++failures;
      continue;
    }
    CHECK_CUDA(cudaMalloc(&ws, gmha::cuda::workspace_bytes(a)));
    const int ver = gmha::cuda::resolve_version(a);
    const double sec = time_median(
        [&] {
          CHECK_CUDA(static_cast<cudaError_t>(
              gmha::cuda::decode_attention_device(a, k, v, q, out, ws, nullptr)));
        },
        20);
    const double bytes = static_cast<double>((kn + vn) * es);
    const double flops = 2.0 * static_cast<double>(ht) * static_cast<double>(tc.tokens) *
                         static_cast<double>(s.qk + s.v);
    const double t_mem = bytes / pk.hbm_bps, t_tc = flops / pk.tensor_flops;
    const char* bound = t_mem >= t_tc ? "HBM" : "tensor";

    // cuBLAS baseline on the same data: S = Q K^T (per stream, heads x tokens), softmax, O = P V.
    // MFA-KR: the baseline multiplies the unrotated keys (its rotation would be an extra pass),
    // which only flatters it.
    double cublas_sec = -1;
    {
      const int64_t H = s.heads_per_group, nseq = tc.batch * s.groups;
      void *qb = nullptr, *p = nullptr;
      float* sbuf = nullptr;
      float* ob = nullptr;
      const size_t sn = static_cast<size_t>(nseq * H * tc.tokens);
      CHECK_CUDA(cudaMalloc(&qb, static_cast<size_t>(ht * s.qk) * es));
      fill_kernel<<<64, 256>>>(qb, static_cast<size_t>(ht * s.qk), tc.bf16, 3);
      CHECK_CUDA(cudaMalloc(&sbuf, sn * 4));
      CHECK_CUDA(cudaMalloc(&p, sn * es));
      CHECK_CUDA(cudaMalloc(&ob, static_cast<size_t>(ht * s.v) * 4));
      const cudaDataType_t in_t = tc.bf16 ? CUDA_R_16BF : CUDA_R_32F;
      const float one = 1.0f, zero = 0.0f;
      const int64_t vrs = s.alias ? s.qk : s.v;
      const int64_t vstride = tc.tokens * vrs;
      const void* vbase = s.alias ? k : v;
      auto run = [&] {
        CHECK_CUBLAS(cublasGemmStridedBatchedEx(
            cb, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(tc.tokens), static_cast<int>(H),
            static_cast<int>(s.qk), &one, k, in_t, static_cast<int>(s.qk), tc.tokens * s.qk, qb,
            in_t, static_cast<int>(s.qk), H * s.qk, &zero, sbuf, CUDA_R_32F,
            static_cast<int>(tc.tokens), H * tc.tokens, static_cast<int>(nseq), CUBLAS_COMPUTE_32F,
            CUBLAS_GEMM_DEFAULT));
        if (tc.bf16) {
          softmax_rows<__nv_bfloat16><<<static_cast<unsigned>(nseq * H), 256>>>(
              sbuf, static_cast<__nv_bfloat16*>(p), tc.tokens, static_cast<float>(a.scale));
        } else {
          softmax_rows<float><<<static_cast<unsigned>(nseq * H), 256>>>(
              sbuf, static_cast<float*>(p), tc.tokens, static_cast<float>(a.scale));
        }
        CHECK_CUBLAS(cublasGemmStridedBatchedEx(
            cb, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(s.v), static_cast<int>(H),
            static_cast<int>(tc.tokens), &one, vbase, in_t, static_cast<int>(vrs), vstride, p, in_t,
            static_cast<int>(tc.tokens), H * tc.tokens, &zero, ob, CUDA_R_32F,
            static_cast<int>(s.v), H * s.v, static_cast<int>(nseq), CUBLAS_COMPUTE_32F,
            CUBLAS_GEMM_DEFAULT));
      };
      cublas_sec = time_median(run, 10);
      for (void* x : {qb, p, static_cast<void*>(sbuf), static_cast<void*>(ob)})
        CHECK_CUDA(cudaFree(x));
    }
    std::printf(
        "%-38s %-4s %6lld %3lld v%-2d %8.1f %8.0f %5.0f%% %8.1f %5.0f%% %-6s %9.1f %6.2fx\n",
        s.name, tc.bf16 ? "bf16" : "fp32", (long long)tc.tokens, (long long)tc.batch, ver,
        sec * 1e6, bytes / sec / 1e9, 100 * bytes / sec / pk.hbm_bps, flops / sec / 1e12,
        100 * flops / sec / pk.tensor_flops, bound, cublas_sec * 1e6, cublas_sec / sec);
    char buf[1024];
    std::snprintf(
        buf, sizeof buf,
        "{\"shape\": %s, \"dtype\": \"%s\", \"tokens\": %lld, \"batch\": %lld, \"groups\": %lld, "
        "\"heads_per_group\": %lld, \"qk\": %lld, \"v\": %lld, \"version\": %d, \"splits\": %d, "
        "\"seconds\": %.6e, \"bytes\": %.6e, \"flops\": %.6e, \"hbm_fraction\": %.4f, "
        "\"tensor_fraction\": %.4f, \"bound\": \"%s\", \"bound_fraction\": %.4f, "
        "\"cublas_seconds\": %.6e, "
        "\"speedup_vs_cublas\": %.3f}",
        jstr(s.name).c_str(), tc.bf16 ? "bf16" : "fp32", (long long)tc.tokens, (long long)tc.batch,
        (long long)s.groups, (long long)s.heads_per_group, (long long)s.qk, (long long)s.v, ver,
        gmha::cuda::splits_for(a), sec, bytes, flops, bytes / sec / pk.hbm_bps,
        flops / sec / pk.tensor_flops, bound, std::max(t_mem, t_tc) / sec, cublas_sec,
        cublas_sec / sec);
    js.add(buf);
    for (void* x : {k, v, ws, static_cast<void*>(q), static_cast<void*>(out),
                    static_cast<void*>(coarse), static_cast<void*>(fine)}) {
      if (x) CHECK_CUDA(cudaFree(x));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* json_path = nullptr;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc)
      json_path = argv[++i];
    else if (!std::strcmp(argv[i], "--quick"))
      quick = true;
    else {
      std::fprintf(stderr, "usage: device_check [--json FILE] [--quick]\n");
      return 2;
    }
  }
  if (gmha::cuda::device_count() == 0) {
    std::fprintf(stderr, "device_check: no CUDA device found\n");
    return 2;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  const Peaks pk = device_peaks();
  std::printf(
      "device: %s (sm_%d%d), %d SMs at %.0f MHz, HBM peak %.0f GB/s (memory clock %.0f MHz x %d "
      "bits x 2), "
      "copy %.0f GB/s, bf16 tensor peak %.0f TFLOP/s (%d FLOP/clk/SM)\n\n",
      prop.name, prop.major, prop.minor, pk.sms, pk.clock_khz / 1e3, pk.hbm_bps / 1e9,
      pk.mem_clock_khz / 1e3, pk.bus_bits, pk.copy_bps / 1e9, pk.tensor_flops / 1e12,
      pk.per_sm_clk);
  const auto t0 = std::chrono::steady_clock::now();
  Json val, cache, timing;
  validate_all(quick, val);
  validate_cache(cache);
  const int val_failures = failures;
  cublasHandle_t cb;
  CHECK_CUBLAS(cublasCreate(&cb));
  time_all(quick, pk, timing, cb);
  CHECK_CUBLAS(cublasDestroy(cb));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (json_path) {
    FILE* f = std::fopen(json_path, "w");
    if (!f) {
      std::fprintf(stderr, "device_check: cannot write %s\n", json_path);
      return 3;
    }
    std::fprintf(f,
                 "{\n  \"device\": %s, \"sm\": \"%d%d\", \"sms\": %d, \"clock_mhz\": %.0f, "
                 "\"memory_clock_mhz\": %.0f, "
                 "\"bus_bits\": %d,\n  \"hbm_peak_gbps\": %.1f, \"copy_gbps\": %.1f, "
                 "\"tensor_peak_tflops\": %.1f, "
                 "\"quick\": %s, \"wall_seconds\": %.1f, \"validation_failures\": %d,\n"
                 "  \"validation\": [\n    %s\n  ],\n  \"device_cache\": [\n    %s\n  ],\n  "
                 "\"timing\": [\n    %s\n  ]\n}\n",
                 jstr(prop.name).c_str(), prop.major, prop.minor, pk.sms, pk.clock_khz / 1e3,
                 pk.mem_clock_khz / 1e3, pk.bus_bits, pk.hbm_bps / 1e9, pk.copy_bps / 1e9,
                 pk.tensor_flops / 1e12, quick ? "true" : "false", wall, failures, val.s.c_str(),
                 cache.s.c_str(), timing.s.c_str());
    std::fclose(f);
  }
  if (failures)
    std::printf("\n%d checks FAILED (%d in validation)\n", failures, val_failures);
  else
    std::printf("\nall checks passed (%.0f s)\n", wall);
  return failures ? 1 : 0;
}
