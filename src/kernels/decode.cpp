#include "gmha/kernels/decode.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "decode_ops.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

using detail::kDecodeBlock;
using detail::kHeadChunk;

std::string cache_dtype_name(CacheDType t) { return t == CacheDType::kBF16 ? "bf16" : "fp32"; }

CacheDType read_cache_dtype(const std::string& name, const std::string& where) {
  if (name == "fp32" || name == "f32" || name == "float32") return CacheDType::kF32;
  if (name == "bf16" || name == "bfloat16") return CacheDType::kBF16;
  throw errors::unknown_name(where, "dtype", name, "fp32, bf16");
}

int64_t cache_dtype_bytes(CacheDType t) { return t == CacheDType::kBF16 ? 2 : 4; }

uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7FFFu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return static_cast<uint16_t>(u >> 16);
}

float bf16_to_float(uint16_t b) { return detail::bf16_bits_to_float(b); }

namespace {

const detail::BlockOps& select_ops(KernelPath path, bool bf16_keys) {
  if (path == KernelPath::kPortable) return detail::portable_block_ops();
  const detail::BlockOps* fast = detail::avx512_block_ops(bf16_keys);
  if (fast) return *fast;
  if (path == KernelPath::kAvx512) throw InputError("decode: this CPU has no AVX-512 (use the portable path)");
  return detail::portable_block_ops();
}

int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

const char* elem(const void* base, CacheDType t, int64_t index) {
  return static_cast<const char*>(base) + index * cache_dtype_bytes(t);
}

// From this many query heads per KV stream a step is compute-bound on a CPU (each cached element
// feeds >= 32 FMAs), and a bf16 block is widened once to float so the fp32 register tiles run:
// converting inside the tiles, or vdpbf16ps (one port), measured 15-35% slower than fp32 there.
// Below it the step is memory-bound and the tiles read bf16 directly (half the bytes).
constexpr int64_t kWidenMinHeads = 16;

// bf16 rows (stride `stride`) widened to dense float rows of `width`.
void widen_rows(const uint16_t* src, int64_t stride, int64_t rows, int64_t width, float* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) dst[r * width + c] = detail::bf16_bits_to_float(src[r * stride + c]);
}

// MFA-KR: rotates the block's pre-RoPE keys (rows j0 .. j0 + nb) to their positions, into float
// scratch [nb][width]. Angles start exact (double sincos at j0) and advance by one rotation per
// token, so the per-block cost is one sincos per frequency.
void rotate_keys(const RopeTable& t, const void* k, CacheDType dt, int64_t stride, int64_t j0, int64_t nb,
                 int64_t width, float* dst) {
  const bool bf = dt == CacheDType::kBF16;
  auto at = [&](int64_t r, int64_t i) {
    return bf ? bf16_to_float(static_cast<const uint16_t*>(k)[r * stride + i])
              : static_cast<const float*>(k)[r * stride + i];
  };
  for (int64_t r = 0; r < nb; ++r)
    for (int64_t i = 0; i < width; ++i) dst[r * width + i] = at(r, i);
  if (!t.enabled) return;
  const int64_t half = t.dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double f = t.inv_freq[static_cast<size_t>(i)];
    double c = std::cos(static_cast<double>(j0) * f), s = std::sin(static_cast<double>(j0) * f);
    const double cs = std::cos(f), sn = std::sin(f);
    const int64_t a = t.style == RopeStyle::kHalves ? i : 2 * i;
    const int64_t b = t.style == RopeStyle::kHalves ? i + half : 2 * i + 1;
    for (int64_t r = 0; r < nb; ++r) {
      const double x = dst[r * width + a], y = dst[r * width + b];
      dst[r * width + a] = static_cast<float>((x * c - y * s) * t.attention_factor);
      dst[r * width + b] = static_cast<float>((y * c + x * s) * t.attention_factor);
      const double c2 = c * cs - s * sn;
      s = s * cs + c * sn;
      c = c2;
    }
  }
}

}  // namespace

std::string cpu_kernel_path_name(KernelPath p) {
  if (p == KernelPath::kCuda) return "cuda";
  if (p == KernelPath::kPortable || !detail::cpu_has_avx512()) return "portable";
  return detail::cpu_has_avx512_bf16() ? "avx512+bf16" : "avx512";
}

void decode_attention(const DecodeProblem& p, const float* q, float* out, int threads, KernelPath path) {
  if (p.batch < 1 || p.groups < 1 || p.heads_per_group < 1 || p.qk_width < 1 || p.v_width < 1 || p.tokens < 1) {
    throw InputError(fmt::format("decode: sizes must be positive (batch {}, groups {}, heads {}, qk {}, v {}, tokens {})",
                                 p.batch, p.groups, p.heads_per_group, p.qk_width, p.v_width, p.tokens));
  }
  if (p.k_row_stride < p.qk_width || p.v_row_stride < p.v_width || !p.k || !p.v) {
    throw InputError("decode: cache rows narrower than the widths, or no cache");
  }
  if (!std::isfinite(p.scale) || p.scale <= 0) throw InputError("decode: softmax scale must be positive");
  if (path == KernelPath::kCuda) {
    detail::cuda_decode_attention(p, q, out);
    return;
  }
  const int64_t hpg = p.heads_per_group, hp = round16(hpg), qk = p.qk_width, vw = p.v_width;
  const int64_t nseq = checked_mul(p.batch, p.groups, "decode sequences");
  checked_product({nseq, hp, std::max(qk, vw), 4}, "decode buffers");
  const bool widen = p.dtype == CacheDType::kBF16 && hpg >= kWidenMinHeads && path != KernelPath::kPortable &&
                     detail::cpu_has_avx512();
  const bool bf16_keys = p.dtype == CacheDType::kBF16 && p.key_rope == nullptr && !widen;
  const detail::BlockOps& ops = select_ops(path, bf16_keys);
  const bool use_pairs = ops.uses_bf16_pairs && bf16_keys;

  // Queries transposed to [qk][hp] per sequence, pre-scaled into log2 units for exp2.
  const float qscale = static_cast<float>(p.scale * 1.4426950408889634);
  std::vector<float> qt(static_cast<size_t>(nseq * qk * hp), 0.0f);
  std::vector<uint32_t> qpairs(use_pairs ? static_cast<size_t>(nseq * (qk / 2) * hp) : 0, 0u);
  for (int64_t sq = 0; sq < nseq; ++sq) {
    for (int64_t h = 0; h < hpg; ++h) {
      const float* qh = q + (sq * hpg + h) * qk;
      for (int64_t d = 0; d < qk; ++d) qt[static_cast<size_t>((sq * qk + d) * hp + h)] = qh[d] * qscale;
      if (use_pairs) {
        for (int64_t i = 0; i < qk / 2; ++i) {
          const uint32_t lo = float_to_bf16(qh[2 * i] * qscale), hi = float_to_bf16(qh[2 * i + 1] * qscale);
          qpairs[static_cast<size_t>((sq * (qk / 2) + i) * hp + h)] = lo | (hi << 16);
        }
      }
    }
  }

  // Split-K: each sequence's blocks are divided into `splits` ranges so every thread has work.
  const int nthreads = resolve_threads(threads);
  const int64_t blocks = (p.tokens + kDecodeBlock - 1) / kDecodeBlock;
  const int64_t splits = std::clamp<int64_t>((nthreads + nseq - 1) / nseq, 1, blocks);
  const int64_t items = nseq * splits;
  std::vector<float> part_m(static_cast<size_t>(items * hp)), part_l(part_m.size());
  std::vector<float> part_o(static_cast<size_t>(items * hpg * vw));
  std::atomic<int64_t> next{0};

  auto worker = [&]() {
    std::vector<float> s(static_cast<size_t>(kDecodeBlock * hp)), alpha(static_cast<size_t>(hp));
    std::vector<float> rot(p.key_rope ? static_cast<size_t>(kDecodeBlock * qk) : 0);
    std::vector<float> kf(widen && !p.key_rope ? static_cast<size_t>(kDecodeBlock * qk) : 0);
    std::vector<float> vf(widen ? static_cast<size_t>(kDecodeBlock * vw) : 0);
    for (int64_t it = next++; it < items; it = next++) {
      const int64_t sq = it / splits, sp = it % splits, b = sq / p.groups, g = sq % p.groups;
      const int64_t j_begin = (blocks * sp / splits) * kDecodeBlock;
      const int64_t j_end = std::min(p.tokens, (blocks * (sp + 1) / splits) * kDecodeBlock);
      float* m = part_m.data() + it * hp;
      float* l = part_l.data() + it * hp;
      float* o = part_o.data() + it * hpg * vw;
      std::fill(m, m + hp, -INFINITY);
      std::fill(l, l + hp, 0.0f);
      std::fill(o, o + hpg * vw, 0.0f);
      detail::QueryPack pack{qt.data() + sq * qk * hp, use_pairs ? qpairs.data() + sq * (qk / 2) * hp : nullptr, hp};
      const int64_t k_off = b * p.k_batch_stride + g * p.k_group_stride;
      const int64_t v_off = b * p.v_batch_stride + g * p.v_group_stride;
      for (int64_t j0 = j_begin; j0 < j_end; j0 += kDecodeBlock) {
        const int64_t nb = std::min(kDecodeBlock, j_end - j0);
        const void* kb = elem(p.k, p.dtype, k_off + j0 * p.k_row_stride);
        bool k_bf16 = p.dtype == CacheDType::kBF16;
        int64_t k_stride = p.k_row_stride;
        if (p.key_rope) {
          rotate_keys(*p.key_rope, kb, p.dtype, p.k_row_stride, j0, nb, qk, rot.data());
          kb = rot.data();
          k_bf16 = false;
          k_stride = qk;
        }
        const void* vb = elem(p.v, p.dtype, v_off + j0 * p.v_row_stride);
        bool v_bf16 = p.dtype == CacheDType::kBF16;
        int64_t v_stride = p.v_row_stride;
        if (widen) {
          if (k_bf16) {
            widen_rows(static_cast<const uint16_t*>(kb), k_stride, nb, qk, kf.data());
            kb = kf.data();
            k_bf16 = false;
            k_stride = qk;
          }
          widen_rows(static_cast<const uint16_t*>(vb), v_stride, nb, vw, vf.data());
          vb = vf.data();
          v_bf16 = false;
          v_stride = vw;
        }
        for (int64_t h0 = 0; h0 < hpg; h0 += kHeadChunk) {
          const int64_t nh = std::min(kHeadChunk, hpg - h0);
          ops.qk(pack, h0, nh, kb, k_bf16, k_stride, nb, qk, s.data(), hp);
          ops.softmax(s.data(), hp, h0, round16(nh), nb, m, l, alpha.data());
          ops.pv(s.data(), hp, h0, nh, vb, v_bf16, v_stride, nb, vw, o, vw, alpha.data());
        }
      }
    }
  };
  const int spawn = static_cast<int>(std::min<int64_t>(nthreads, items));
  if (spawn <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(spawn - 1));
    for (int t = 1; t < spawn; ++t) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
  }

  // Merge the splits exactly: rescale each partial to the common max.
  for (int64_t sq = 0; sq < nseq; ++sq) {
    for (int64_t h = 0; h < hpg; ++h) {
      float mx = -INFINITY;
      for (int64_t sp = 0; sp < splits; ++sp) mx = std::max(mx, part_m[static_cast<size_t>((sq * splits + sp) * hp + h)]);
      double denom = 0;
      float* dst = out + (sq * hpg + h) * vw;
      std::fill(dst, dst + vw, 0.0f);
      for (int64_t sp = 0; sp < splits; ++sp) {
        const int64_t it = sq * splits + sp;
        const float w = std::exp2(part_m[static_cast<size_t>(it * hp + h)] - mx);
        denom += static_cast<double>(w) * part_l[static_cast<size_t>(it * hp + h)];
        const float* src = part_o.data() + (it * hpg + h) * vw;
        for (int64_t c = 0; c < vw; ++c) dst[c] += w * src[c];
      }
      const float inv = static_cast<float>(1.0 / denom);
      for (int64_t c = 0; c < vw; ++c) dst[c] *= inv;
    }
  }
}

}  // namespace gmha
