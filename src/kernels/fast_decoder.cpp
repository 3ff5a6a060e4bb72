// FastDecoder: a layer's decode form in float32 around decode_attention (see decode.hpp).
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>

#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"
#include "gmha/kernels/cuda_decode.hpp"
#include "gmha/kernels/decode.hpp"

namespace gmha {

namespace {
using MatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VecF = Eigen::VectorXf;
}  // namespace

struct FastDecoder::Impl {
  AttentionShape s;
  LayerOptions o;
  CacheDType dt = CacheDType::kF32;
  int threads = 1;
  KernelPath path = KernelPath::kAuto;
  RopeTable rt;
  double scale = 1;
  std::map<std::string, MatF> w;
  std::vector<MatF> w_uk_t;  // MLA: per head W_UK^T [C, nope] (absorbed into the query)
  std::vector<MatF> w_uv;    // MLA: per head W_UV [v, C] (absorbed into the output)
  int64_t max_tokens = 0, t = 0;
  int64_t k_width = 0, v_width = 0;  // cached elements per token in each stream (v 0 = none)
  std::vector<unsigned char> kc, vc;
  // KernelPath::kCuda: the cache lives on the device as well, created at the first step for
  // max_tokens; each step appends the new token's rows and copies only q in and out back.
  std::unique_ptr<CudaDecodeCache> dev;

  const MatF& at(const char* n) const { return w.at(n); }

  void store(std::vector<unsigned char>& c, int64_t width, const float* src) {
    unsigned char* dst = c.data() + t * width * cache_dtype_bytes(dt);
    if (dt == CacheDType::kF32) {
      std::memcpy(dst, src, static_cast<size_t>(width) * 4);
    } else {
      for (int64_t i = 0; i < width; ++i) {
        const uint16_t b = float_to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &b, 2);
      }
    }
  }

  VecF rms_norm(const VecF& x, const char* gamma) const {
    const double ms = x.cast<double>().squaredNorm() / static_cast<double>(x.size());
    const float f = static_cast<float>(1.0 / std::sqrt(ms + o.norm_eps));
    return x.cwiseProduct(Eigen::Map<const VecF>(at(gamma).data(), x.size())) * f;
  }

  // The attention step: on the CPU over the host cache, or on the device cache (appending
  // token t first).
  void attend(const DecodeProblem& p, const float* q, float* out) {
    if (path != KernelPath::kCuda) {
      decode_attention(p, q, out, threads, path);
      return;
    }
    if (!dev) {
      CudaCacheSpec cs;
      cs.groups = p.groups;
      cs.heads_per_group = p.heads_per_group;
      cs.qk_width = p.qk_width;
      cs.v_width = p.v_width;
      cs.max_tokens = max_tokens;
      cs.scale = p.scale;
      cs.dtype = dt;
      cs.v_aliases_k = v_width == 0;
      cs.key_rope = p.key_rope;
      dev = std::make_unique<CudaDecodeCache>(cs);
    }
    const int64_t es = cache_dtype_bytes(dt);
    const unsigned char* krow = kc.data() + t * k_width * es;
    const unsigned char* vrow = v_width ? vc.data() + t * v_width * es : nullptr;
    dev->append(1, krow, 0, p.k_group_stride, p.k_row_stride, vrow, 0, p.v_group_stride,
                p.v_row_stride);
    dev->decode(q, out);
  }

  DecodeProblem problem(int64_t groups, int64_t hpg, int64_t qk, int64_t vw) const {
    DecodeProblem p;
    p.groups = groups;
    p.heads_per_group = hpg;
    p.qk_width = qk;
    p.v_width = vw;
    p.tokens = t + 1;
    p.scale = scale;
    p.dtype = dt;
    p.k = kc.data();
    p.k_row_stride = k_width;
    p.v = v_width ? static_cast<const void*>(vc.data()) : static_cast<const void*>(kc.data());
    p.v_row_stride = v_width ? v_width : k_width;
    return p;
  }
};

FastDecoder::FastDecoder(const LayerWeights& w, const LayerOptions& o, int64_t max_tokens, CacheDType dtype,
                         int threads, KernelPath path)
    : impl_(new Impl) {
  try {
    check_layer_weights(w, "attention weights");
    // The fast path has no per-head q/k norm and no window: refuse rather than compute another layer.
    if (w.has("q_norm") || w.has("k_norm") || o.window > 0) {
      throw InputError("fast decoder: per-head q/k norms (Qwen3) and sliding windows are reference-only");
    }
    if (w.shape.sinks || w.shape.gate != OutputGate::kNone || w.shape.o_bias || o.sparse.any()) {
      throw InputError("fast decoder: sinks, output gates, o_proj bias and sparse rules are reference-only");
    }
    if (w.shape.kv_tied) throw InputError("fast decoder: K = V tied layers (kv_tied) are reference-only");
    if (max_tokens < 1) throw errors::not_positive("decoder", "max_tokens", max_tokens);
    Impl& m = *impl_;
    m.s = w.shape;
    m.o = o;
    if (m.s.variant == Variant::kFpba) m.o.rope.enabled = false;
    m.dt = dtype;
    m.threads = threads;
    m.path = path;
    m.max_tokens = max_tokens;
    m.rt = resolve_rope(m.o.rope, rotary_dim(m.s), max_tokens);
    m.scale = softmax_scale(m.s, m.o);
    for (const auto& [name, t] : w.tensors) m.w[name] = t.cast<float>();
    const AttentionShape& s = m.s;
    switch (s.variant) {
      case Variant::kFpba:
        m.k_width = m.v_width = checked_mul(s.d_model, s.d_model, "fpba cache");
        break;
      case Variant::kMha:
      case Variant::kMqa:
      case Variant::kGqa:
        m.k_width = m.v_width = s.kv_heads * s.head_dim;
        break;
      case Variant::kMla: {
        m.k_width = s.kv_lora_rank + s.qk_rope_dim;  // one row: latent then the RoPE key
        m.v_width = 0;                               // values are the latent part of that row
        const MatrixRM& kvb = w.at("kv_b_proj");
        for (int64_t c = 0; c < s.heads; ++c) {
          const int64_t base = c * (s.qk_nope_dim + s.v_head_dim);
          m.w_uk_t.push_back(kvb.middleRows(base, s.qk_nope_dim).transpose().cast<float>());
          m.w_uv.push_back(kvb.middleRows(base + s.qk_nope_dim, s.v_head_dim).cast<float>());
        }
        break;
      }
      case Variant::kMfa:
        m.k_width = m.v_width = s.head_dim;
        break;
      case Variant::kMfaKr:
        m.k_width = s.head_dim;  // pre-RoPE key only
        m.v_width = 0;
        break;
      case Variant::kLinear:
        throw InputError("decoder: linear attention is not a softmax variant");
      case Variant::kGta:
      case Variant::kGla:
      case Variant::kTpa:
      case Variant::kMtla:
        // docs/designs.md: the 2025 designs have the double reference (three forms) only.
        throw InputError(fmt::format("fast decoder: {} has no fast kernel yet (reference only)",
                                     variant_label(s.variant)));
    }
    const int64_t bytes = cache_dtype_bytes(dtype);
    m.kc.assign(static_cast<size_t>(checked_product({max_tokens, m.k_width, bytes}, "decode cache")), 0);
    m.vc.assign(static_cast<size_t>(checked_product({max_tokens, m.v_width, bytes}, "decode cache")), 0);
  } catch (...) {
    delete impl_;
    throw;
  }
}

FastDecoder::~FastDecoder() { delete impl_; }

int64_t FastDecoder::tokens() const { return impl_->t; }

int64_t FastDecoder::cache_bytes() const {
  return impl_->t * (impl_->k_width + impl_->v_width) * cache_dtype_bytes(impl_->dt);
}

std::vector<float> FastDecoder::step(const float* x_ptr) {
  Impl& m = *impl_;
  const AttentionShape& s = m.s;
  if (m.t >= m.max_tokens) throw InputError(fmt::format("decoder: cache full ({} tokens)", m.max_tokens));
  const Eigen::Map<const VecF> x(x_ptr, s.d_model);
  const int64_t t = m.t;
  VecF y = VecF::Zero(s.d_model);
  switch (s.variant) {
    case Variant::kFpba: {
      const int64_t d = s.d_model;
      const VecF k = m.at("w_qk") * x, v = m.at("u_vo") * x;
      m.store(m.kc, m.k_width, k.data());
      m.store(m.vc, m.v_width, v.data());
      DecodeProblem p = m.problem(d, 1, d, d);
      p.k_group_stride = p.v_group_stride = d;  // head c's key/value at [c*d, c*d + d) of the row
      VecF q(d * d), out(d * d);
      for (int64_t c = 0; c < d; ++c) q.segment(c * d, d) = x;  // every head's query is x
      m.attend(p, q.data(), out.data());
      for (int64_t c = 0; c < d; ++c) y += out.segment(c * d, d);
      break;
    }
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa: {
      const int64_t hd = s.head_dim;
      VecF q = m.at("q_proj") * x, k = m.at("k_proj") * x, v = m.at("v_proj") * x;
      if (s.qkv_bias) {
        q += Eigen::Map<const VecF>(m.at("q_proj.bias").data(), q.size());
        k += Eigen::Map<const VecF>(m.at("k_proj.bias").data(), k.size());
        v += Eigen::Map<const VecF>(m.at("v_proj.bias").data(), v.size());
      }
      for (int64_t c = 0; c < s.kv_heads; ++c) apply_rope(m.rt, t, k.data() + c * hd);
      for (int64_t c = 0; c < s.heads; ++c) apply_rope(m.rt, t, q.data() + c * hd);
      m.store(m.kc, m.k_width, k.data());
      m.store(m.vc, m.v_width, v.data());
      DecodeProblem p = m.problem(s.kv_heads, s.heads / s.kv_heads, hd, hd);
      p.k_group_stride = p.v_group_stride = hd;
      VecF out(s.heads * hd);
      m.attend(p, q.data(), out.data());
      y = m.at("o_proj") * out;
      break;
    }
    case Variant::kMla: {
      const int64_t nope = s.qk_nope_dim, rope = s.qk_rope_dim, C = s.kv_lora_rank, vd = s.v_head_dim;
      const VecF q = s.q_lora_rank > 0 ? VecF(m.at("q_b_proj") * m.rms_norm(m.at("q_a_proj") * x, "q_a_layernorm"))
                                       : VecF(m.at("q_proj") * x);
      const VecF kv_a = m.at("kv_a_proj_with_mqa") * x;
      VecF row(C + rope);
      row.head(C) = m.rms_norm(kv_a.head(C), "kv_a_layernorm");
      row.tail(rope) = kv_a.tail(rope);
      apply_rope(m.rt, t, row.data() + C);
      m.store(m.kc, m.k_width, row.data());
      // Absorbed query per head: [W_UK^T q_nope, RoPE(q_rope)], width C + rope.
      VecF qa(s.heads * (C + rope)), out(s.heads * C);
      for (int64_t c = 0; c < s.heads; ++c) {
        qa.segment(c * (C + rope), C) = m.w_uk_t[static_cast<size_t>(c)] * q.segment(c * (nope + rope), nope);
        qa.segment(c * (C + rope) + C, rope) = q.segment(c * (nope + rope) + nope, rope);
        apply_rope(m.rt, t, qa.data() + c * (C + rope) + C);
      }
      m.attend(m.problem(1, s.heads, C + rope, C), qa.data(), out.data());
      VecF heads(s.heads * vd);
      for (int64_t c = 0; c < s.heads; ++c) heads.segment(c * vd, vd) = m.w_uv[static_cast<size_t>(c)] * out.segment(c * C, C);
      y = m.at("o_proj") * heads;
      break;
    }
    case Variant::kMfa:
    case Variant::kMfaKr: {
      const int64_t C = s.head_dim;
      const bool kr = s.variant == Variant::kMfaKr;
      VecF q = m.at("wq") * m.rms_norm(m.at("q_proj") * x, "inter_norm");
      VecF k = m.at("k_proj") * x;
      if (!kr) {
        apply_rope(m.rt, t, k.data());
        const VecF v = m.at("v_proj") * x;
        m.store(m.vc, m.v_width, v.data());
      }
      m.store(m.kc, m.k_width, k.data());
      for (int64_t c = 0; c < s.heads; ++c) apply_rope(m.rt, t, q.data() + c * C);
      DecodeProblem p = m.problem(1, s.heads, C, C);
      if (kr) p.key_rope = &m.rt;
      VecF out(s.heads * C);
      m.attend(p, q.data(), out.data());
      if (kr) {
        // v = k + alpha . (N k) is linear: apply it once to each head's weighted key sum.
        const Eigen::Map<const VecF> alpha(m.at("kr_alpha").data(), C);
        for (int64_t c = 0; c < s.heads; ++c) {
          const VecF oc = out.segment(c * C, C);
          out.segment(c * C, C) = oc + alpha.cwiseProduct(m.at("kr_n") * oc);
        }
      }
      y = m.at("o_proj") * out;
      break;
    }
    case Variant::kLinear:
    case Variant::kGta:
    case Variant::kGla:
    case Variant::kTpa:
    case Variant::kMtla:
      break;  // refused by the constructor
  }
  ++m.t;
  return std::vector<float>(y.data(), y.data() + y.size());
}

MatrixRM FastDecoder::run(const MatrixRM& x) {
  if (x.cols() != impl_->s.d_model) {
    throw InputError(fmt::format("decoder: x has {} columns, expected d = {}", x.cols(), impl_->s.d_model));
  }
  MatrixRM y(x.rows(), x.cols());
  std::vector<float> row(static_cast<size_t>(x.cols()));
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    for (Eigen::Index c = 0; c < x.cols(); ++c) row[static_cast<size_t>(c)] = static_cast<float>(x(t, c));
    const std::vector<float> out = step(row.data());
    for (Eigen::Index c = 0; c < x.cols(); ++c) y(t, c) = out[static_cast<size_t>(c)];
  }
  return y;
}

}  // namespace gmha
