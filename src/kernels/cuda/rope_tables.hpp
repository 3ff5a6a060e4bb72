#pragma once
// MFA-KR's key rotation on the GPU without a transcendental per key element: the angle of
// pair i at token j is j * inv_freq[i]; with j = 32 * c + f (tile c, offset f in the tile) the
// rotation is the product of a coarse one (angle 32 c inv_freq[i]) and a fine one
// (f inv_freq[i]), both computed once in double on the host:
//   cos(a + b) = cos a cos b - sin a sin b,   sin(a + b) = sin a cos b + cos a sin b.
// Tables: coarse [ceil(tokens / 32)][pairs], fine [32][pairs], each entry (cos, sin) as two
// floats. For T = 32K tokens and 128 pairs that is 1 MiB + 32 KiB, read from L2, against the
// 16 MiB a bf16 256-wide key cache holds. Plain C++ so the tests can check the composition.
#include <cmath>
#include <cstdint>
#include <vector>

namespace gmha::cuda {

constexpr int kRopeFine = 32;  // tokens per coarse step (the v1/v2 kernels' tile is a multiple)

struct RopeTablesHost {
  int pairs = 0;
  int64_t coarse_rows = 0;
  std::vector<float> coarse;  // [coarse_rows][pairs][2] (cos, sin)
  std::vector<float> fine;    // [kRopeFine][pairs][2]
};

inline RopeTablesHost make_rope_tables(const double* inv_freq, int pairs, int64_t tokens) {
  RopeTablesHost t;
  t.pairs = pairs;
  t.coarse_rows = (tokens + kRopeFine - 1) / kRopeFine;
  t.coarse.resize(static_cast<size_t>(t.coarse_rows * pairs * 2));
  t.fine.resize(static_cast<size_t>(kRopeFine * pairs * 2));
  for (int64_t c = 0; c < t.coarse_rows; ++c) {
    for (int i = 0; i < pairs; ++i) {
      const double a = static_cast<double>(c * kRopeFine) * inv_freq[i];
      t.coarse[static_cast<size_t>((c * pairs + i) * 2)] = static_cast<float>(std::cos(a));
      t.coarse[static_cast<size_t>((c * pairs + i) * 2 + 1)] = static_cast<float>(std::sin(a));
    }
  }
  for (int f = 0; f < kRopeFine; ++f) {
    for (int i = 0; i < pairs; ++i) {
      const double a = static_cast<double>(f) * inv_freq[i];
      t.fine[static_cast<size_t>((f * pairs + i) * 2)] = static_cast<float>(std::cos(a));
      t.fine[static_cast<size_t>((f * pairs + i) * 2 + 1)] = static_cast<float>(std::sin(a));
    }
  }
  return t;
}

/// (cos, sin) of token j, pair i, from the two tables (what the kernels compute).
#if defined(__CUDACC__)
__host__ __device__
#endif
    inline void
    rope_cos_sin(const float* coarse, const float* fine, int pairs, int64_t j, int i, float* cs,
                 float* sn) {
  const float* a = coarse + ((j / kRopeFine) * pairs + i) * 2;
  const float* b = fine + ((j % kRopeFine) * pairs + i) * 2;
  *cs = a[0] * b[0] - a[1] * b[1];
  *sn = a[1] * b[0] + a[0] * b[1];
}

}  // namespace gmha::cuda
