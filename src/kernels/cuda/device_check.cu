// Standalone GPU check for scripts/device-check.sh: needs only the CUDA toolkit and the C++
// standard library (the GPU machine has no Debian packages). For each shape it
//   1. validates decode_attention_device against a double-precision CPU computation of
//      softmax(q K^T s) V (the same check gmha's compare() makes, ||out-ref||/||ref||), on a
//      context of 1000 tokens (odd, not a tile multiple), fp32 and bf16 caches;
//   2. times it at long contexts with CUDA events and reports GB/s and the fraction of the
//      device-to-device copy bandwidth measured in the same run (decode is bandwidth-bound:
//      arithmetic intensity 2 FLOP/byte (GQA) to ~64 (MFA, fp32) vs an H100 ridge of ~300).
// Output: an aligned table on stdout and, with --json FILE, one JSON object per timed row.
//
//   nvcc -O3 -std=c++17 -arch=sm_90 -o device_check device_check.cu decode_attention.cu
//   ./device_check --json rows.jsonl
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "decode_attention.cuh"

using gmha::cuda::DecodeArgs;

namespace {

#define CHECK_CUDA(x)                                                                       \
  do {                                                                                      \
    cudaError_t e_ = (x);                                                                   \
    if (e_ != cudaSuccess) {                                                                \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                         \
    }                                                                                       \
  } while (0)

struct Shape {
  const char* name;
  int64_t groups, heads_per_group, qk, v;
  bool alias;     // V is the first v columns of the K row (MLA latent, MFA-KR key)
  bool key_rope;  // MFA-KR: keys cached before RoPE
};

const Shape kShapes[] = {
    {"step3-mfa (64 heads, 1x256)", 1, 64, 256, 256, false, false},
    {"mfa-kr (64 heads, K only 256)", 1, 64, 256, 256, true, true},
    {"llama3-8b-gqa (32 heads, 8x128)", 8, 4, 128, 128, false, false},
    {"deepseek-v3-mla (128 heads, 576/512)", 1, 128, 576, 512, true, false},
};

uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float from_bf16(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct Case {
  DecodeArgs a;
  std::vector<float> kf, vf, q;  // host, fp32 (bf16-rounded when bf16)
  std::vector<uint16_t> kb, vb;
  std::vector<double> inv_freq;
};

Case make_case(const Shape& s, int64_t batch, int64_t tokens, bool bf16, unsigned seed) {
  Case c;
  DecodeArgs& a = c.a;
  a.batch = batch;
  a.groups = s.groups;
  a.heads_per_group = s.heads_per_group;
  a.qk_width = s.qk;
  a.v_width = s.v;
  a.tokens = tokens;
  a.scale = 1.0 / std::sqrt(static_cast<double>(s.alias && !s.key_rope ? 192 : s.qk));
  a.bf16 = bf16;
  const int64_t kw = s.groups * s.qk, vw = s.alias ? 0 : s.groups * s.v;
  a.k_row_stride = kw;
  a.k_group_stride = s.qk;
  a.k_batch_stride = tokens * kw;
  a.v_row_stride = s.alias ? kw : vw;
  a.v_group_stride = s.alias ? 0 : s.v;
  a.v_batch_stride = s.alias ? a.k_batch_stride : tokens * vw;
  if (s.key_rope) {
    a.rope_dim = static_cast<int>(s.qk);
    for (int i = 0; i < s.qk / 2; ++i) c.inv_freq.push_back(std::pow(500000.0, -2.0 * i / s.qk));
    a.inv_freq = c.inv_freq.data();
  }
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  c.kf.resize(static_cast<size_t>(batch * tokens * kw));
  c.vf.resize(static_cast<size_t>(batch * tokens * vw));
  c.q.resize(static_cast<size_t>(batch * s.groups * s.heads_per_group * s.qk));
  for (auto& x : c.kf) x = n(rng);
  for (auto& x : c.vf) x = n(rng);
  for (auto& x : c.q) x = 2.0f * n(rng);
  if (bf16) {
    for (auto& x : c.kf) c.kb.push_back(to_bf16(x)), x = from_bf16(c.kb.back());
    for (auto& x : c.vf) c.vb.push_back(to_bf16(x)), x = from_bf16(c.vb.back());
  }
  return c;
}

// Double reference of one step, including MFA-KR's key rotation (RoPE halves, HF rotate_half).
double reference_rel_error(const Case& c, const std::vector<float>& out) {
  const DecodeArgs& a = c.a;
  const float* v = a.v_row_stride == a.k_row_stride && c.vf.empty() ? c.kf.data() : c.vf.data();
  double diff2 = 0, ref2 = 0;
  std::vector<double> s(static_cast<size_t>(a.tokens)), key(static_cast<size_t>(a.qk_width));
  for (int64_t b = 0; b < a.batch; ++b) {
    for (int64_t g = 0; g < a.groups; ++g) {
      for (int64_t h = 0; h < a.heads_per_group; ++h) {
        const int64_t row = (b * a.groups + g) * a.heads_per_group + h;
        double mx = -INFINITY;
        for (int64_t j = 0; j < a.tokens; ++j) {
          const float* kr = c.kf.data() + b * a.k_batch_stride + g * a.k_group_stride + j * a.k_row_stride;
          for (int64_t d = 0; d < a.qk_width; ++d) key[d] = kr[d];
          if (a.rope_dim > 0) {
            const int half = a.rope_dim / 2;
            for (int i = 0; i < half; ++i) {
              const double ang = static_cast<double>(j) * c.inv_freq[i], x = key[i], y = key[i + half];
              key[i] = x * std::cos(ang) - y * std::sin(ang);
              key[i + half] = y * std::cos(ang) + x * std::sin(ang);
            }
          }
          double dot = 0;
          for (int64_t d = 0; d < a.qk_width; ++d) dot += key[d] * c.q[row * a.qk_width + d];
          s[j] = dot * a.scale;
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (int64_t col = 0; col < a.v_width; ++col) {
          double acc = 0;
          for (int64_t j = 0; j < a.tokens; ++j) {
            acc += s[j] * v[b * a.v_batch_stride + g * a.v_group_stride + j * a.v_row_stride + col];
          }
          const double ref = acc / sum, got = out[row * a.v_width + col];
          diff2 += (got - ref) * (got - ref);
          ref2 += ref * ref;
        }
      }
    }
  }
  return std::sqrt(diff2 / ref2);
}

struct DeviceCase {
  void *k = nullptr, *v = nullptr, *ws = nullptr;
  float *q = nullptr, *out = nullptr;
  double* freq = nullptr;
  size_t cache_bytes = 0;
};

DeviceCase upload(const Case& c) {
  DeviceCase d;
  const size_t es = c.a.bf16 ? 2 : 4;
  const size_t kn = c.kf.size(), vn = c.vf.size();
  d.cache_bytes = (kn + vn) * es;
  CHECK_CUDA(cudaMalloc(&d.k, kn * es));
  CHECK_CUDA(cudaMemcpy(d.k, c.a.bf16 ? static_cast<const void*>(c.kb.data()) : c.kf.data(), kn * es, cudaMemcpyHostToDevice));
  if (vn) {
    CHECK_CUDA(cudaMalloc(&d.v, vn * es));
    CHECK_CUDA(cudaMemcpy(d.v, c.a.bf16 ? static_cast<const void*>(c.vb.data()) : c.vf.data(), vn * es, cudaMemcpyHostToDevice));
  } else {
    d.v = d.k;
  }
  CHECK_CUDA(cudaMalloc(&d.q, c.q.size() * 4));
  CHECK_CUDA(cudaMemcpy(d.q, c.q.data(), c.q.size() * 4, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMalloc(&d.out, static_cast<size_t>(c.a.batch * c.a.groups * c.a.heads_per_group * c.a.v_width) * 4));
  CHECK_CUDA(cudaMalloc(&d.freq, 8 * (c.inv_freq.size() + 1)));
  if (!c.inv_freq.empty()) CHECK_CUDA(cudaMemcpy(d.freq, c.inv_freq.data(), 8 * c.inv_freq.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMalloc(&d.ws, gmha::cuda::workspace_bytes(c.a)));
  return d;
}

void release(DeviceCase& d) {
  if (d.v != d.k) cudaFree(d.v);
  for (void* p : {d.k, static_cast<void*>(d.q), static_cast<void*>(d.out), static_cast<void*>(d.freq), d.ws}) cudaFree(p);
}

double copy_bandwidth() {
  const size_t bytes = size_t{1} << 30;
  void *a, *b;
  CHECK_CUDA(cudaMalloc(&a, bytes));
  CHECK_CUDA(cudaMalloc(&b, bytes));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  float best = 1e30f;
  for (int i = 0; i < 5; ++i) {
    cudaEventRecord(e0);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms;
    cudaEventElapsedTime(&ms, e0, e1);
    best = std::min(best, ms);
  }
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes / (best * 1e-3);  // read + write
}

}  // namespace

int main(int argc, char** argv) {
  const char* json_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
  }
  if (gmha::cuda::device_count() == 0) {
    std::fprintf(stderr, "device_check: no CUDA device found\n");
    return 2;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  const double bw = copy_bandwidth();
  std::printf("device: %s (sm_%d%d), device-to-device copy bandwidth %.0f GB/s\n\n", prop.name, prop.major, prop.minor, bw / 1e9);
  FILE* js = json_path ? std::fopen(json_path, "w") : nullptr;
  int failures = 0;
  std::printf("%-40s %-5s %9s %9s\n", "validation (T=1000, B=2)", "cache", "rel err", "result");
  for (const Shape& s : kShapes) {
    for (int bf : {0, 1}) {
      const Case c = make_case(s, 2, 1000, bf, 7);
      DeviceCase d = upload(c);
      CHECK_CUDA(static_cast<cudaError_t>(gmha::cuda::decode_attention_device(c.a, d.k, d.v, d.q, d.out, d.freq, d.ws)));
      std::vector<float> out(static_cast<size_t>(c.a.batch * c.a.groups * c.a.heads_per_group * c.a.v_width));
      CHECK_CUDA(cudaMemcpy(out.data(), d.out, out.size() * 4, cudaMemcpyDeviceToHost));
      const double err = reference_rel_error(c, out);
      const bool ok = err < 1e-4;  // the cache is rounded before the reference sees it
      failures += ok ? 0 : 1;
      std::printf("%-40s %-5s %9.2e %9s\n", s.name, bf ? "bf16" : "fp32", err, ok ? "pass" : "FAIL");
      release(d);
    }
  }
  std::printf("\n%-40s %-5s %6s %3s %9s %9s %8s\n", "timing", "cache", "T", "B", "us", "GB/s", "% copy bw");
  for (const Shape& s : kShapes) {
    for (int64_t T : {4096, 32768}) {
      for (int64_t B : {1, 8}) {
        for (int bf : {0, 1}) {
          Case c = make_case(s, B, T, bf, 3);
          DeviceCase d = upload(c);
          cudaEvent_t e0, e1;
          cudaEventCreate(&e0);
          cudaEventCreate(&e1);
          for (int i = 0; i < 3; ++i) gmha::cuda::decode_attention_device(c.a, d.k, d.v, d.q, d.out, d.freq, d.ws);
          const int reps = 20;
          cudaEventRecord(e0);
          for (int i = 0; i < reps; ++i) gmha::cuda::decode_attention_device(c.a, d.k, d.v, d.q, d.out, d.freq, d.ws);
          cudaEventRecord(e1);
          CHECK_CUDA(cudaEventSynchronize(e1));
          float ms;
          cudaEventElapsedTime(&ms, e0, e1);
          const double sec = ms * 1e-3 / reps, gbs = d.cache_bytes / sec;
          std::printf("%-40s %-5s %6lld %3lld %9.1f %9.0f %7.0f%%\n", s.name, bf ? "bf16" : "fp32", (long long)T,
                      (long long)B, sec * 1e6, gbs / 1e9, 100 * gbs / bw);
          if (js) {
            std::fprintf(js,
                         "{\"shape\": \"%s\", \"dtype\": \"%s\", \"context\": %lld, \"batch\": %lld, \"groups\": %lld, "
                         "\"heads_per_group\": %lld, \"qk\": %lld, \"v\": %lld, \"alias\": %d, \"seconds\": %.9g, "
                         "\"bytes\": %zu, \"copy_bw\": %.6g}\n",
                         s.name, bf ? "bf16" : "fp32", (long long)T, (long long)B, (long long)s.groups,
                         (long long)s.heads_per_group, (long long)s.qk, (long long)s.v, s.alias ? 1 : 0, sec,
                         d.cache_bytes, bw);
          }
          release(d);
        }
      }
    }
  }
  if (js) std::fclose(js);
  if (failures) std::printf("\n%d validation checks FAILED\n", failures);
  return failures ? 1 : 0;
}
