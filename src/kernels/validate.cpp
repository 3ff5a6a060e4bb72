#include "gmha/kernels/validate.hpp"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/core/error.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/kernels/decode.hpp"
#include "gmha/kernels/reference.hpp"

namespace gmha {

namespace {

// Tolerances (docs/kernels.md): double forms differ only by summation order; float32 kernels
// carry ~1e-7 relative rounding amplified by the softmax; a bf16 cache rounds every cached
// element to 8 bits of mantissa (u = 2^-8).
constexpr double kTolDouble = 1e-10;
constexpr double kTolF32 = 1e-4;
constexpr double kTolBF16 = 3e-2;

// A preset's first softmax layer with its true head widths, but at most 4 query heads and
// d <= 256, so the double reference stays small.
AttentionShape reduced(AttentionShape s) {
  s.d_model = std::min<int64_t>(s.d_model, 256);
  if (s.variant == Variant::kFpba) {
    s.d_model = std::min<int64_t>(s.d_model, 8);
    s.heads = s.kv_heads = s.head_dim = s.d_model;
    return s;
  }
  const int64_t heads = std::min<int64_t>(s.heads, 4);
  if (s.variant == Variant::kGqa || s.variant == Variant::kMha || s.variant == Variant::kMqa) {
    const int64_t per = std::max<int64_t>(1, s.heads / s.kv_heads);
    s.kv_heads = std::max<int64_t>(1, heads / std::min(per, heads));
    s.heads = s.kv_heads * std::min(per, heads);
    if (s.variant == Variant::kMha) s.kv_heads = s.heads;
  } else {
    s.heads = heads;
  }
  return s;
}

MatrixRM random_matrix(int64_t r, int64_t c, std::mt19937_64& rng) {
  std::normal_distribution<double> n(0.0, 1.0);
  MatrixRM m(r, c);
  for (auto& v : m.reshaped()) v = n(rng);
  return m;
}

}  // namespace

std::vector<std::string> default_validation_designs() {
  return {"fpba:d=7",
          "mha:d=24,heads=3,hd=8",
          "mqa:d=20,heads=5,hd=6",
          "gqa:d=30,heads=6,kv=2,hd=10",
          "gqa:d=33,heads=4,kv=4,hd=6,bias=1",
          "gqa:d=96,heads=12,kv=3,hd=32",
          "mla:d=40,heads=5,c=13,qlora=11,nope=7,rope=6,v=9",
          "mla:d=36,heads=3,c=10,qlora=0,nope=8,rope=4,v=5",
          "mfa:d=28,heads=7,c=12,cq=9",
          "mfa:d=64,heads=17,c=32,cq=48",
          "mfa-kr:d=28,heads=5,c=14,cq=17",
          // The 2025 designs (docs/designs.md): reference forms only, no fast kernels yet.
          "gta:d=32,heads=6,kv=2,hd=10,rope=4",
          "gla:d=40,heads=6,hc=2,c=9,qlora=11,nope=7,rope=6,v=5",
          "tpa:d=30,heads=5,hd=6,rq=3,rk=2,rv=2",
          "tpa:d=24,heads=4,hd=6,rq=4,rk=2,rv=3,noncontextual=1"};
}

std::vector<ValidationRow> run_validation(const ValidateOptions& o) {
  if (o.device != "cpu" && o.device != "cuda") throw errors::bad_option("device", fmt::format("unknown device '{}' (known: cpu, cuda)", o.device));
  if (o.tokens < 1 || o.tokens > 512) throw errors::bad_option("tokens", fmt::format("must be in 1..512 (got {})", o.tokens));
  const std::vector<std::string> designs = o.designs.empty() ? default_validation_designs() : o.designs;
  std::mt19937_64 rng(o.seed);
  std::vector<ValidationRow> rows;
  for (const std::string& design : designs) {
    const bool preset = is_preset(design);
    const ModelDesign m = preset ? read_preset(design) : parse_design_spec(design);
    const LayerSpec* layer = nullptr;
    for (const LayerSpec& l : m.layers) {
      if (l.attention.variant != Variant::kLinear) {
        layer = &l;
        break;
      }
    }
    if (!layer) throw InputError(fmt::format("design {}: no softmax attention layer to validate", design));
    const AttentionShape s = preset ? reduced(layer->attention) : layer->attention;
    if (!preset && s.d_model > 1024) {
      throw InputError(fmt::format("design {}: d = {} is too large for the double reference (max 1024)", design, s.d_model));
    }
    const std::string label = preset ? fmt::format("{} (reduced: d={}, heads={})", design, s.d_model, s.heads) : design;
    const LayerWeights w = random_layer_weights(s, rng());
    const MatrixRM x = random_matrix(o.tokens, s.d_model, rng);
    LayerOptions lo;
    lo.rope.theta = 10000.0;
    lo.rope.style = s.variant == Variant::kMla ? RopeStyle::kInterleaved : RopeStyle::kHalves;
    if (s.variant == Variant::kMla) {
      // DeepSeek-V3's yarn (factor 40, mscale = mscale_all_dim = 1) so the mscale^2 path runs.
      lo.rope.scaling = RopeScalingKind::kYarn;
      lo.rope.factor = 40;
      lo.rope.original_max_position = 4096;
      lo.rope.mscale = lo.rope.mscale_all_dim = 1.0;
    }
    const MatrixRM ref = reference_forward(w, x, lo, AttentionForm::kPrefill);
    auto add = [&](const std::string& check, const MatrixRM& out, double tol) {
      const Comparison c = compare(out, ref);
      rows.push_back({label, std::string(variant_label(s.variant)), check, o.tokens, c.rel_error, tol, c.passed(tol),
                      c.summary()});
    };
    // Contextual TPA has no bilinear form (it is quadratic in x, outside GMHA).
    const bool bilinear = !(s.variant == Variant::kTpa && !s.tpa_noncontextual);
    if (s.d_model <= 128 && bilinear) {
      add("bilinear (double) vs prefill", reference_forward(w, x, lo, AttentionForm::kBilinear), kTolDouble);
    }
    add("decode (double) vs prefill", reference_forward(w, x, lo, AttentionForm::kDecode), kTolDouble);
    // GTA, GLA and TPA have the double reference only; the fast kernels refuse them.
    const bool fast = s.variant != Variant::kGta && s.variant != Variant::kGla && s.variant != Variant::kTpa;
    if (!fast) continue;
    std::vector<KernelPath> paths;
    if (o.device == "cuda") {
      paths = {KernelPath::kCuda};
    } else {
      paths = cpu_kernel_paths();
    }
    for (KernelPath path : paths) {
      const std::string pname = path == KernelPath::kCuda ? "cuda" : cpu_kernel_path_name(path);
      for (CacheDType dt : {CacheDType::kF32, CacheDType::kBF16}) {
        FastDecoder dec(w, lo, o.tokens, dt, o.threads, path);
        add(fmt::format("decode {} {} vs prefill", cache_dtype_name(dt), pname), dec.run(x),
            dt == CacheDType::kF32 ? kTolF32 : kTolBF16);
      }
    }
  }
  return rows;
}

}  // namespace gmha
