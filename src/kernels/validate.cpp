#include "gmha/kernels/validate.hpp"

#include <algorithm>
#include <string_view>
#include <random>

#include <fmt/format.h>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/core/error.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/kernels/decode.hpp"
#include "gmha/kernels/fill_rule.hpp"
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

bool gqa_family(const AttentionShape& s) {
  return s.variant == Variant::kMha || s.variant == Variant::kMqa || s.variant == Variant::kGqa;
}

// One rule applied to a validated layer: its weights and options (and for `share`, the owner).
struct RuleCase {
  std::string label;
  LayerWeights w;
  LayerOptions o;
  bool shared = false;
  LayerWeights owner;
  MatrixRM x_owner;
};

// Small sizes so every rule bites at the 13 tokens of the tests as at the default 70.
// Removes the tensors whose names start with `prefix` (a design's own fill-rule weights, so a rule
// row runs the frame it names).
void drop_tensors(LayerWeights& w, std::string_view prefix) {
  std::erase_if(w.tensors, [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
}

RuleCase make_rule(const std::string& rule, const LayerWeights& base, const MatrixRM& x, const LayerOptions& lo,
                   std::mt19937_64& rng, const std::string& design) {
  RuleCase c{rule, base, lo, false, {}, {}};
  const AttentionShape& s = base.shape;
  const int64_t T = x.rows();
  const bool needs_gqa = rule == "sinks" || rule == "gate=head" || rule == "gate=elem" || rule == "share";
  if (needs_gqa && !gqa_family(s)) {
    throw InputError(fmt::format("validate: rule '{}' applies to MHA/MQA/GQA layers, not {} ({})", rule,
                                 variant_label(s.variant), design));
  }
  auto reshape = [&](auto&& edit) {
    AttentionShape t = s;
    edit(t);
    c.w = random_layer_weights(t, rng());
  };
  // A sparse rule replaces the design's own fill rule (window or modifier) in its rows.
  if (rule == "topk" || rule == "moba" || rule == "nsa" || rule == "compress" || rule == "csa") {
    c.o.window = 0;
    c.o.sparse = {};
  }
  if (rule == "topk") {
    if (s.index_heads > 0) {
      c.o.sparse.topk = top_k_selection(dsa_index_scores(base, x, lo), std::max<int64_t>(1, T / 2));
      c.label = fmt::format("topk {} (DSA indexer)", std::max<int64_t>(1, T / 2));
    } else {
      c.o.sparse.topk.resize(static_cast<size_t>(T));
      for (int64_t i = 0; i < T; ++i) {
        for (int64_t j = 0; j < i; ++j) {
          if (rng() % 2) c.o.sparse.topk[static_cast<size_t>(i)].push_back(j);
        }
        c.o.sparse.topk[static_cast<size_t>(i)].push_back(i);
      }
      c.label = "topk (seeded half of the tokens)";
    }
  } else if (rule == "moba") {
    c.o.sparse.moba = {4, 2};
    c.label = "moba 4/2";
  } else if (rule == "nsa") {
    drop_tensors(c.w, "nsa.");  // the pooled frame's case (sparse.hpp): an NSA design's own branch weights stay out
    c.o.sparse.nsa = {4, 2, 2, 4, 6, {0.1, 0.2, 0.3, 0.4}, random_matrix(3 * s.heads, s.d_model, rng), 7u};
    c.label = "nsa 4/2/2/4/6";
  } else if (rule == "compress" || rule == "csa") {
    drop_tensors(c.w, "compressor.");  // these rows test the pooled frame (its own gate and ape)
    c.o.sparse.compress = {3, 4, random_matrix(1, s.d_model, rng), {0.2, -0.1, 0.3}, rule == "csa" ? 2 : 0, {}};
    c.label = rule == "csa" ? "csa 3, window 4, top-2 entries" : "compress 3, window 4";
  } else if (rule == "sinks") {
    reshape([](AttentionShape& t) { t.sinks = true; });
  } else if (rule == "gate=head" || rule == "gate=elem") {
    reshape([&](AttentionShape& t) { t.gate = rule == "gate=head" ? OutputGate::kHeadwise : OutputGate::kElementwise; });
  } else if (rule == "share") {
    c.shared = true;
    AttentionShape t = s;
    t.heads = t.kv_heads;
    t.variant = Variant::kMha;
    c.owner = random_layer_weights(t, rng());
    c.x_owner = random_matrix(T, s.d_model, rng);
    c.label = "share (reader over an owner's cache)";
  } else {
    throw InputError(fmt::format("validate: unknown rule '{}' (known: topk, moba, nsa, compress, csa, sinks, "
                                 "gate=head, gate=elem, share)", rule));
  }
  return c;
}

MatrixRM run_rule(const RuleCase& c, const MatrixRM& x, AttentionForm f) {
  return c.shared ? reference_forward_shared(c.w, c.owner, x, c.x_owner, c.o, f) : reference_forward(c.w, x, c.o, f);
}

bool rule_applies(const std::string& rule, const AttentionShape& s) {
  if (s.variant == Variant::kMtla) return false;  // MTLA's merge composes with no rule
  const bool needs_gqa = rule == "sinks" || rule == "gate=head" || rule == "gate=elem" || rule == "share";
  return !needs_gqa || gqa_family(s);
}

// The rules the built-in designs run (validate_rules() each, on the designs they apply to).
std::vector<std::string> builtin_rules(const std::string& design) {
  if (design == "gqa:d=30,heads=6,kv=2,hd=10") return validate_rules();
  if (design == "mla:d=40,heads=5,c=13,qlora=11,nope=7,rope=6,v=9") return {"topk", "moba", "nsa", "compress", "csa"};
  if (design == "gla:d=40,heads=6,hc=2,c=9,qlora=11,nope=7,rope=6,v=5") return {"moba", "compress"};
  if (design == "tpa:d=30,heads=5,hd=6,rq=3,rk=2,rv=2") return {"topk", "nsa"};
  if (design == "mfa-kr:d=28,heads=5,c=14,cq=17") return {"csa"};
  if (design == "gta:d=32,heads=6,kv=2,hd=10,rope=4") return {"moba"};
  return {};
}

}  // namespace

std::vector<std::string> validate_rules() {
  return {"topk", "moba", "nsa", "compress", "csa", "sinks", "gate=head", "gate=elem", "share"};
}

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
          "tpa:d=24,heads=4,hd=6,rq=4,rk=2,rv=3,noncontextual=1",
          // MTLA (s = 3 merged tokens per entry): prefill and decode only (no bilinear form).
          "mtla:d=40,heads=5,c=12,qlora=11,nope=7,rope=6,v=9,stride=3"};
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
    const LayerWeights w = preset ? random_layer_weights(s, rng()) : random_layer_weights(*layer, rng());
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
    // The design's own fill rule (window, top-k, MoBA, NSA, compression: its --design
    // modifiers) applies to every form below.
    apply_fill_rule(layer->span, w, x, lo, rng());
    const MatrixRM ref = reference_forward(w, x, lo, AttentionForm::kPrefill);
    auto add = [&](const std::string& check, const MatrixRM& out, double tol) {
      const Comparison c = compare(out, ref);
      rows.push_back({label, std::string(variant_label(s.variant)), check, o.tokens, c.rel_error, tol, c.passed(tol),
                      c.summary()});
    };
    // Contextual TPA and MTLA have no bilinear form (not bilinear in x, outside GMHA).
    const bool bilinear = !(s.variant == Variant::kTpa && !s.tpa_noncontextual) && s.variant != Variant::kMtla;
    // Nor has DeepSeek-V4's compressor (per-channel softmax gates, an RMSNorm per entry).
    const auto v4 = [](const LayerWeights& lw, const LayerOptions& lop) {
      return lop.sparse.compress.stride > 0 && has_v4_compressor(lw);
    };
    if (s.d_model <= 128 && bilinear && !v4(w, lo)) {
      add("bilinear (double) vs prefill", reference_forward(w, x, lo, AttentionForm::kBilinear), kTolDouble);
    }
    add("decode (double) vs prefill", reference_forward(w, x, lo, AttentionForm::kDecode), kTolDouble);
    // Each rule: its own prefill is the reference of its rows.
    const std::vector<std::string> rules = o.rules.empty() && o.designs.empty() ? builtin_rules(design) : o.rules;
    for (const std::string& rule : rules) {
      // Over the built-in set a rule runs where it applies; a design the user names must take it.
      if (o.designs.empty() && !rule_applies(rule, s)) continue;
      const RuleCase rc = make_rule(rule, w, x, lo, rng, design);
      const MatrixRM rref = run_rule(rc, x, AttentionForm::kPrefill);
      auto add_rule = [&](const char* form, const MatrixRM& out) {
        const Comparison c = compare(out, rref);
        rows.push_back({label, std::string(variant_label(s.variant)), fmt::format("{} (double) vs prefill, {}", form, rc.label),
                        o.tokens, c.rel_error, kTolDouble, c.passed(kTolDouble), c.summary()});
      };
      if (s.d_model <= 128 && bilinear && !v4(rc.w, rc.o)) add_rule("bilinear", run_rule(rc, x, AttentionForm::kBilinear));
      add_rule("decode", run_rule(rc, x, AttentionForm::kDecode));
    }
    // GTA, GLA, TPA and MTLA have the double reference only, and so have sinks, gates, the
    // o_proj bias and q/k norms; the fast kernels refuse them.
    const bool fast = s.variant != Variant::kGta && s.variant != Variant::kGla && s.variant != Variant::kTpa &&
                      s.variant != Variant::kMtla && !s.sinks && s.gate == OutputGate::kNone && !s.o_bias &&
                      !s.kv_tied &&  // K = V tied: the cache holds the raw key only (reference-only)
                      !s.qk_norm &&  // per-head q/k norms (Qwen3, GLM-4.5, Gemma 3): reference-only too
                      lo.window == 0 && !lo.sparse.any();  // windows and sparse fill rules too
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
