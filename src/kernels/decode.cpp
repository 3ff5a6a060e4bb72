#include "gmha/kernels/decode.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "decode_ops.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parallel.hpp"

namespace gmha {

using detail::kDecodeBlock;
using detail::kHeadChunk;

std::string cache_dtype_name(CacheDType t) { return std::string(dtype_name(t)); }

CacheDType read_cache_dtype(const std::string& name, const std::string& where) {
  const std::optional<DType> t = find_kv_dtype(name);
  if (t == DType::kF32 || t == DType::kBF16) return *t;
  throw errors::unknown_name(where, "dtype", name, "fp32, bf16");
}

int64_t cache_dtype_bytes(CacheDType t) { return dtype_bits(t) / 8; }


namespace {

// kAuto: AVX-512, else AVX2, else portable. An explicit SIMD path the CPU lacks is an error.
const detail::BlockOps& select_ops(KernelPath path, bool bf16_keys) {
  if (path == KernelPath::kPortable) return detail::portable_block_ops();
  if (path != KernelPath::kAvx2) {
    if (const detail::BlockOps* fast = detail::avx512_block_ops(bf16_keys)) return *fast;
    if (path == KernelPath::kAvx512) throw InputError("decode: this CPU has no AVX-512 (use --kernel avx2 or portable)");
  }
  if (const detail::BlockOps* avx2 = detail::avx2_block_ops()) return *avx2;
  if (path == KernelPath::kAvx2) throw InputError("decode: this CPU has no AVX2+FMA (use --kernel portable)");
  return detail::portable_block_ops();
}

// The block ops for `p` on `path` and how a bf16 cache reaches them.
struct DecodePlan {
  const detail::BlockOps* ops = nullptr;
  bool widen_k = false, widen_v = false;  // bf16 blocks widened to float before qk / pv
  bool stage_k = false;                   // K blocks copied (or widened) to contiguous float rows
  bool bf16_keys = false;                 // qk reads bf16 keys
  bool use_pairs = false;                 // ... through the AVX512-BF16 query pairs
};

DecodePlan plan_decode(const DecodeProblem& p, KernelPath path) {
  const bool bf16 = p.dtype == CacheDType::kBF16;
  DecodePlan plan;
  // The AVX512-BF16 dot product only pays where bf16 keys are read as they are.
  plan.ops = &select_ops(path, bf16 && p.key_rope == nullptr && p.heads_per_group < detail::kWidenMinHeads);
  plan.widen_k = bf16 && p.key_rope == nullptr && p.heads_per_group >= plan.ops->widen_keys_min_heads;
  plan.widen_v = bf16 && p.heads_per_group >= plan.ops->widen_values_min_heads;
  plan.stage_k = plan.widen_k ||
                 (plan.ops->stages_strided_keys && p.key_rope == nullptr && p.k_row_stride != p.qk_width);
  plan.bf16_keys = bf16 && p.key_rope == nullptr && !plan.stage_k;
  plan.use_pairs = plan.ops->uses_bf16_pairs && plan.bf16_keys;
  return plan;
}

int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

const char* elem(const void* base, CacheDType t, int64_t index) {
  return static_cast<const char*>(base) + index * cache_dtype_bytes(t);
}

// bf16 rows (stride `stride`) widened to dense float rows of `width`.
void widen_rows(const uint16_t* src, int64_t stride, int64_t rows, int64_t width, float* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) dst[r * width + c] = bf16_to_float(src[r * stride + c]);
}

// Rows of float or bf16 (stride `stride`) as dense float rows of `width`.
void stage_rows(const void* src, bool bf16, int64_t stride, int64_t rows, int64_t width, float* dst) {
  if (bf16) return widen_rows(static_cast<const uint16_t*>(src), stride, rows, width, dst);
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * width, static_cast<const float*>(src) + r * stride, static_cast<size_t>(width) * 4);
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

// The rows of the block after the current one (`rows` tokens from `j`; none when rows <= 0) for
// batch row `b`: the K and V segments that span its groups' streams. V is left out when it
// aliases K (MLA, MFA-KR).
detail::PrefetchCursor next_block_rows(const DecodeProblem& p, int64_t b, int64_t j, int64_t rows) {
  detail::PrefetchCursor pf;
  if (rows <= 0) return pf;
  const int64_t eb = cache_dtype_bytes(p.dtype);
  // Interleaved groups span one segment of the row; a group-major layout (the span wider than
  // the row) gets its first group's rows only. Prefetches never fault, so overreach is harmless.
  const int64_t k_bytes = std::min((p.groups - 1) * p.k_group_stride + p.qk_width, p.k_row_stride) * eb;
  const int64_t v_bytes = std::min((p.groups - 1) * p.v_group_stride + p.v_width, p.v_row_stride) * eb;
  pf.range[0] = {elem(p.k, p.dtype, b * p.k_batch_stride + j * p.k_row_stride), rows, p.k_row_stride * eb, k_bytes};
  const char* v = elem(p.v, p.dtype, b * p.v_batch_stride + j * p.v_row_stride);
  if (v != pf.range[0].base) pf.range[1] = {v, rows, p.v_row_stride * eb, v_bytes};
  return pf;
}

}  // namespace

bool decode_rounds_query_to_bf16(const DecodeProblem& p, KernelPath path) {
  return plan_decode(p, path).use_pairs;
}

std::string cpu_kernel_path_name(KernelPath p) {
  if (p == KernelPath::kCuda) return "cuda";
  if (p == KernelPath::kPortable) return "portable";
  if (p != KernelPath::kAvx2 && detail::cpu_has_avx512()) return detail::cpu_has_avx512_bf16() ? "avx512+bf16" : "avx512";
  return detail::cpu_has_avx2() ? "avx2" : "portable";
}

std::string detail::decode_kernel_description(const DecodeProblem& p, KernelPath path) {
  const DecodePlan plan = plan_decode(p, path);
  std::string name = cpu_kernel_path_name(path);
  if (plan.widen_k && plan.widen_v) return name + ", bf16 blocks widened";
  if (plan.widen_k) return name + ", bf16 keys widened";
  if (plan.stage_k) return name + (p.dtype == CacheDType::kBF16 ? ", strided bf16 keys widened" : ", strided keys staged");
  return name;
}

std::vector<KernelPath> cpu_kernel_paths() {
  std::vector<KernelPath> paths{KernelPath::kPortable};
  if (detail::cpu_has_avx2()) paths.push_back(KernelPath::kAvx2);
  if (detail::cpu_has_avx512()) paths.push_back(KernelPath::kAvx512);
  return paths;
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
  if (p.dtype != DType::kF32 && p.dtype != DType::kBF16) {
    throw InputError(fmt::format("decode: a {} cache is not supported (fp32, bf16)", dtype_name(p.dtype)));
  }
  if (path == KernelPath::kCuda) {
    detail::cuda_decode_attention(p, q, out);
    return;
  }
  const int64_t hpg = p.heads_per_group, hp = round16(hpg), qk = p.qk_width, vw = p.v_width;
  const int64_t nseq = checked_mul(p.batch, p.groups, "decode sequences");
  checked_product({nseq, hp, std::max(qk, vw), 4}, "decode buffers");
  const DecodePlan plan = plan_decode(p, path);
  const detail::BlockOps& ops = *plan.ops;
  const bool use_pairs = plan.use_pairs;
  const bool use_slices = ops.uses_query_slices;

  // Queries transposed to [qk][hp] per sequence, pre-scaled into log2 units for exp2.
  const float qscale = static_cast<float>(p.scale * 1.4426950408889634);
  std::vector<float> qt(static_cast<size_t>(nseq * qk * hp), 0.0f);
  std::vector<uint32_t> qpairs(use_pairs ? static_cast<size_t>(nseq * (qk / 2) * hp) : 0, 0u);
  std::vector<float> qslices(use_slices ? qt.size() : 0, 0.0f);
  for (int64_t sq = 0; sq < nseq; ++sq) {
    for (int64_t h = 0; h < hpg; ++h) {
      const float* qh = q + (sq * hpg + h) * qk;
      for (int64_t d = 0; d < qk; ++d) qt[static_cast<size_t>((sq * qk + d) * hp + h)] = qh[d] * qscale;
      for (int64_t d = 0; use_slices && d < qk; ++d) {
        qslices[static_cast<size_t>(((sq * hp + h / 16 * 16) * qk + d * 16) + h % 16)] = qh[d] * qscale;
      }
      if (use_pairs) {
        for (int64_t i = 0; i < qk / 2; ++i) {
          const uint32_t lo = float_to_bf16(qh[2 * i] * qscale), hi = float_to_bf16(qh[2 * i + 1] * qscale);
          qpairs[static_cast<size_t>((sq * (qk / 2) + i) * hp + h)] = lo | (hi << 16);
        }
      }
    }
  }

  // Split-K: each batch row's blocks are divided into `splits` ranges, about kItemsPerThread work
  // items per thread taken from a shared counter, so a thread slowed by another process (shared
  // vCPUs) hands its remaining items to the others instead of holding up the step. An item runs
  // every KV group of its rows, block by block: GQA caches interleave the groups within a token's
  // row, and walking the groups of one block reads that block's rows once, contiguously.
  constexpr int64_t kItemsPerThread = 8;
  const int nthreads = resolve_threads(threads);
  const int64_t blocks = (p.tokens + kDecodeBlock - 1) / kDecodeBlock;
  const int64_t splits =
      nthreads == 1 ? 1 : std::clamp<int64_t>((nthreads * kItemsPerThread + p.batch - 1) / p.batch, 1, blocks);
  const int64_t items = p.batch * splits;
  const int64_t parts = nseq * splits;  // partial results: one per (sequence, split)
  std::vector<float> part_m(static_cast<size_t>(parts * hp)), part_l(part_m.size());
  std::vector<float> part_o(static_cast<size_t>(parts * hpg * vw));
  std::atomic<int64_t> next{0};

  auto worker = [&]() {
    std::vector<float> s(static_cast<size_t>(kDecodeBlock * hp)), alpha(static_cast<size_t>(hp));
    std::vector<float> rot(p.key_rope ? static_cast<size_t>(kDecodeBlock * qk) : 0);
    std::vector<float> kf(plan.stage_k ? static_cast<size_t>(kDecodeBlock * qk) : 0);
    std::vector<float> vf(plan.widen_v ? static_cast<size_t>(kDecodeBlock * vw) : 0);
    for (int64_t it = next++; it < items; it = next++) {
      const int64_t b = it / splits, sp = it % splits;
      const int64_t j_begin = (blocks * sp / splits) * kDecodeBlock;
      const int64_t j_end = std::min(p.tokens, (blocks * (sp + 1) / splits) * kDecodeBlock);
      for (int64_t g = 0; g < p.groups; ++g) {
        const int64_t part = (b * p.groups + g) * splits + sp;
        std::fill_n(part_m.data() + part * hp, hp, -INFINITY);
        std::fill_n(part_l.data() + part * hp, hp, 0.0f);
        std::fill_n(part_o.data() + part * hpg * vw, hpg * vw, 0.0f);
      }
      for (int64_t j0 = j_begin; j0 < j_end; j0 += kDecodeBlock) {
        const int64_t nb = std::min(kDecodeBlock, j_end - j0);
        detail::PrefetchCursor pf = next_block_rows(p, b, j0 + nb, std::min(kDecodeBlock, j_end - j0 - nb));
        for (int64_t g = 0; g < p.groups; ++g) {
          const int64_t sq = b * p.groups + g, part = sq * splits + sp;
          float* m = part_m.data() + part * hp;
          float* l = part_l.data() + part * hp;
          float* o = part_o.data() + part * hpg * vw;
          detail::QueryPack pack{qt.data() + sq * qk * hp, use_pairs ? qpairs.data() + sq * (qk / 2) * hp : nullptr,
                                 use_slices ? qslices.data() + sq * qk * hp : nullptr, hp};
          const int64_t k_off = b * p.k_batch_stride + g * p.k_group_stride;
          const int64_t v_off = b * p.v_batch_stride + g * p.v_group_stride;
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
          if (plan.stage_k) {
            stage_rows(kb, k_bf16, k_stride, nb, qk, kf.data());
            kb = kf.data();
            k_bf16 = false;
            k_stride = qk;
          }
          if (plan.widen_v) {
            widen_rows(static_cast<const uint16_t*>(vb), v_stride, nb, vw, vf.data());
            vb = vf.data();
            v_bf16 = false;
            v_stride = vw;
          }
          for (int64_t h0 = 0; h0 < hpg; h0 += kHeadChunk) {
            const int64_t nh = std::min(kHeadChunk, hpg - h0);
            ops.qk(pack, h0, nh, kb, k_bf16, k_stride, nb, qk, s.data(), hp, &pf);
            ops.softmax(s.data(), hp, h0, round16(nh), nb, m, l, alpha.data());
            ops.pv(s.data(), hp, h0, nh, vb, v_bf16, v_stride, nb, vw, o, vw, alpha.data(), &pf);
          }
        }
      }
    }
  };
  const int spawn = static_cast<int>(std::min<int64_t>(nthreads, items));
  run_on_threads(spawn, [&](int) { worker(); });

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
