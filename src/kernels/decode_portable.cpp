// Portable block operations of the decode kernel: plain loops the compiler vectorises for the
// baseline ISA. The AVX-512 version (decode_avx512.cpp) must match these to float rounding.
#include <algorithm>
#include <cmath>

#include "decode_ops.hpp"

namespace gmha::detail {
namespace {

float load(const void* base, bool bf16, int64_t index) {
  return bf16 ? bf16_to_float(static_cast<const uint16_t*>(base)[index])
              : static_cast<const float*>(base)[index];
}

int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

void qk(const QueryPack& q, int64_t h0, int64_t nh, const void* k, bool k_bf16, int64_t k_stride,
        int64_t nb, int64_t depth, float* s, int64_t s_stride, PrefetchCursor*) {
  const int64_t nh16 = round16(nh);
  for (int64_t j = 0; j < nb; ++j) {
    float* row = s + j * s_stride + h0;
    std::fill(row, row + nh16, 0.0f);
    for (int64_t d = 0; d < depth; ++d) {
      const float kv = load(k, k_bf16, j * k_stride + d);
      const float* qrow = q.qt + d * q.hp + h0;
      for (int64_t h = 0; h < nh16; ++h) row[h] += kv * qrow[h];
    }
  }
}

void softmax(float* s, int64_t s_stride, int64_t h0, int64_t nh16, int64_t nb, float* m, float* l,
             float* alpha) {
  for (int64_t h = h0; h < h0 + nh16; ++h) {
    float bm = -INFINITY;
    for (int64_t j = 0; j < nb; ++j) bm = std::max(bm, s[j * s_stride + h]);
    const float mn = std::max(m[h], bm);
    float sum = 0;
    for (int64_t j = 0; j < nb; ++j) sum += (s[j * s_stride + h] = std::exp2(s[j * s_stride + h] - mn));
    alpha[h] = std::exp2(m[h] - mn);
    l[h] = l[h] * alpha[h] + sum;
    m[h] = mn;
  }
}

void pv(const float* s, int64_t s_stride, int64_t h0, int64_t nh, const void* v, bool v_bf16,
        int64_t v_stride, int64_t nb, int64_t vw, float* o, int64_t o_stride, const float* alpha,
        PrefetchCursor*) {
  for (int64_t h = h0; h < h0 + nh; ++h) {
    float* orow = o + h * o_stride;
    for (int64_t w = 0; w < vw; ++w) orow[w] *= alpha[h];
    for (int64_t j = 0; j < nb; ++j) {
      const float p = s[j * s_stride + h];
      if (v_bf16) {
        const uint16_t* vr = static_cast<const uint16_t*>(v) + j * v_stride;
        for (int64_t w = 0; w < vw; ++w) orow[w] += p * bf16_to_float(vr[w]);
      } else {
        const float* vr = static_cast<const float*>(v) + j * v_stride;
        for (int64_t w = 0; w < vw; ++w) orow[w] += p * vr[w];
      }
    }
  }
}

}  // namespace

const BlockOps& portable_block_ops() {
  static const BlockOps ops{qk, softmax, pv, false};
  return ops;
}

}  // namespace gmha::detail
