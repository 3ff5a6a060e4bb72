#include "gmha/attention/design_spec.hpp"

#include <charconv>
#include <map>
#include <set>

#include <fmt/format.h>

#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"

namespace gmha {

namespace {

// Keys every variant accepts, then the variant's own keys.
const std::set<std::string> kCommonKeys = {"d",       "heads",  "layers",     "window",
                                           "chunk",   "kv_dtype", "ffn",      "experts",
                                           "topk",    "expert_ffn", "shared", "shared_ffn",
                                           "vocab"};
std::set<std::string> variant_keys(Variant v) {
  switch (v) {
    case Variant::kGqa: return {"kv", "hd", "bias", "qk_norm"};
    case Variant::kMha: case Variant::kMqa: return {"hd", "bias", "qk_norm"};
    case Variant::kMla: return {"c", "qlora", "nope", "rope", "v"};
    case Variant::kMfa: case Variant::kMfaKr: return {"c", "cq"};
    case Variant::kLinear: return {"hd", "dv", "gate"};
    case Variant::kFpba: return {};
    case Variant::kGta: return {"kv", "hd", "rope"};
    case Variant::kGla: return {"hc", "c", "qlora", "nope", "rope", "v"};
    case Variant::kTpa: return {"hd", "rq", "rk", "rv", "noncontextual"};
    case Variant::kMtla: return {"c", "qlora", "nope", "rope", "v", "stride"};
  }
  return {};
}

class SpecFields {
 public:
  SpecFields(std::string spec, std::map<std::string, std::string> kv)
      : spec_(std::move(spec)), kv_(std::move(kv)) {}

  bool has(const std::string& k) const { return kv_.count(k) > 0; }
  const std::string& text(const std::string& k) const { return kv_.at(k); }

  int64_t get(const std::string& k) const {
    auto it = kv_.find(k);
    if (it == kv_.end()) {
      throw InputError(fmt::format("design '{}': missing key '{}'", spec_, k));
    }
    const int64_t v = parse_integer(it->second, fmt::format("design '{}': {}", spec_, k));
    if (v <= 0) {
      throw InputError(fmt::format("design '{}': {} must be positive (got {})", spec_, k, v));
    }
    return v;
  }
  int64_t get_or(const std::string& k, int64_t fallback) const { return has(k) ? get(k) : fallback; }
  int64_t get_zero_ok(const std::string& k, int64_t fallback) const {
    if (has(k) && kv_.at(k) == "0") return 0;
    return get_or(k, fallback);
  }

 private:
  std::string spec_;
  std::map<std::string, std::string> kv_;
};

}  // namespace

namespace {
// hd= when given, else d / heads (which must divide).
int64_t head_dim_of(const SpecFields& f, const AttentionShape& a, const std::string& where) {
  if (!f.has("hd") && a.d_model % a.heads != 0) {
    throw InputError(fmt::format("{}: d ({}) is not divisible by heads ({}); give hd=", where,
                                 a.d_model, a.heads));
  }
  return f.get_or("hd", a.d_model / a.heads);
}
}  // namespace

ModelDesign parse_design_spec(std::string_view spec_view) {
  const std::string spec(spec_view);
  const size_t colon = spec.find(':');
  const std::string vname = spec.substr(0, colon);
  auto variant = find_variant(vname);
  if (!variant) {
    throw errors::unknown_name("design '" + spec + "'", "variant", vname,
                               "fpba, mha, mqa, gqa, mla, mfa, mfa-kr, linear, gta, gla, tpa, mtla");
  }
  std::map<std::string, std::string> kv;
  const std::set<std::string> own = variant_keys(*variant);
  if (colon != std::string::npos) {
    for (std::string_view item_view :
         split_list(std::string_view(spec).substr(colon + 1), "design '" + spec + "'")) {
      const std::string item(item_view);
      size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
        throw InputError(fmt::format("design '{}': '{}' is not key=value", spec, item));
      }
      std::string key = item.substr(0, eq);
      if (!kCommonKeys.count(key) && !own.count(key)) {
        throw InputError(fmt::format("design '{}': unknown key '{}' for {}", spec, key,
                                     variant_name(*variant)));
      }
      if (!kv.emplace(key, item.substr(eq + 1)).second) {
        throw InputError(fmt::format("design '{}': key '{}' given twice", spec, key));
      }
    }
  }
  SpecFields f(spec, kv);
  const std::string where = "design '" + spec + "'";

  AttentionShape a;
  a.variant = *variant;
  a.d_model = f.get("d");
  switch (a.variant) {
    case Variant::kFpba:
      a.heads = a.kv_heads = a.head_dim = a.d_model;
      break;
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa: {
      a.heads = f.get("heads");
      a.head_dim = head_dim_of(f, a, where);
      a.kv_heads = a.variant == Variant::kMha ? a.heads
                   : a.variant == Variant::kMqa ? 1
                                                : f.get("kv");
      a.qkv_bias = f.get_zero_ok("bias", 0) != 0;
      a.qk_norm = f.get_zero_ok("qk_norm", 0) != 0;  // per-head q/k RMSNorm (Qwen3, Gemma 3)
      break;
    }
    case Variant::kGta:
      a.heads = f.get("heads");
      a.head_dim = head_dim_of(f, a, where);
      a.kv_heads = f.get("kv");
      // Zadouri et al. rotate half of each head unless rope= says otherwise (rope=0: no RoPE).
      a.qk_rope_dim = f.get_zero_ok("rope", gta_default_rope_dim(a.head_dim));
      break;
    case Variant::kTpa:
      a.heads = f.get("heads");
      a.head_dim = head_dim_of(f, a, where);
      a.kv_heads = a.heads;
      a.tpa_rank_q = f.get("rq");
      a.tpa_rank_k = f.get("rk");
      a.tpa_rank_v = f.get("rv");
      a.tpa_noncontextual = f.get_zero_ok("noncontextual", 0) != 0;
      break;
    case Variant::kMla:
    case Variant::kGla:
    case Variant::kMtla:
      a.heads = f.get("heads");
      a.kv_heads = a.variant == Variant::kGla ? f.get("hc") : 1;
      if (a.variant == Variant::kMtla) a.temporal_stride = f.get("stride");
      a.kv_lora_rank = f.get("c");
      a.q_lora_rank = f.get_zero_ok("qlora", 0);
      a.qk_nope_dim = f.get("nope");
      a.qk_rope_dim = f.get_zero_ok("rope", 0);
      a.v_head_dim = f.get_or("v", a.qk_nope_dim);
      break;
    case Variant::kMfa:
    case Variant::kMfaKr:
      a.heads = f.get("heads");
      a.kv_heads = 1;
      a.head_dim = f.get("c");
      a.q_share_dim = f.get_or("cq", a.head_dim);
      // A shared query projection wider than the input adds parameters but no rank.
      if (a.q_share_dim > a.d_model) {
        throw InputError(fmt::format("design '{}': cq = {} exceeds d = {} (the shared query "
                                     "projection cannot have rank above d)",
                                     spec, a.q_share_dim, a.d_model));
      }
      break;
    case Variant::kLinear:
      a.heads = f.get("heads");
      a.kv_heads = a.heads;
      a.head_dim = f.get_or("hd", a.d_model / a.heads);
      a.state_value_dim = f.get_or("dv", a.head_dim);
      a.output_gate = f.get_zero_ok("gate", 0) != 0;
      break;
  }

  LayerSpec l;
  l.attention = a;
  if (f.has("window") && f.has("chunk")) {
    throw InputError(fmt::format("{}: give window= or chunk=, not both", where));
  }
  if (f.has("window")) l.span = {SpanKind::kSlidingWindow, f.get("window")};
  if (f.has("chunk")) l.span = {SpanKind::kChunked, f.get("chunk")};
  if (a.variant == Variant::kLinear) {
    if (l.span.kind != SpanKind::kFull) {
      throw InputError(fmt::format("{}: linear attention has a fixed state, no window", where));
    }
    l.kv_dtype = DType::kF32;  // docs/capacity.md: states are kept in fp32 unless configured
  }
  if (f.has("kv_dtype")) l.kv_dtype = read_kv_dtype(f.text("kv_dtype"), where + " kv_dtype");

  if (f.has("ffn")) {
    l.ffn.kind = FfnKind::kDense;
    l.ffn.intermediate = f.get("ffn");
  }
  if (f.has("experts") || f.has("topk") || f.has("expert_ffn")) {
    if (f.has("ffn")) throw InputError(fmt::format("{}: give ffn= (dense) or experts= (MoE)", where));
    l.ffn.kind = FfnKind::kMoe;
    l.ffn.routed_experts = f.get("experts");
    l.ffn.top_k = f.get("topk");
    l.ffn.expert_intermediate = f.get("expert_ffn");
    l.ffn.shared_experts = f.get_zero_ok("shared", 0);
    l.ffn.shared_intermediate =
        l.ffn.shared_experts > 0 ? f.get_or("shared_ffn", l.ffn.expert_intermediate) : 0;
  } else if (f.has("shared") || f.has("shared_ffn")) {
    throw InputError(fmt::format("{}: shared= needs experts=, topk=, expert_ffn=", where));
  }

  ModelDesign m;
  m.name = spec;
  m.spec = spec;
  m.source = "--design";
  m.d_model = a.d_model;
  m.vocab_size = f.get_zero_ok("vocab", 0);
  const int64_t layers = f.get_or("layers", 1);
  if (layers > 100000) throw InputError(fmt::format("{}: layers={} is implausible (max 100000)", where, layers));
  m.layers.assign(static_cast<size_t>(layers), l);
  validate_model(m, where);
  m.spec = design_spec_of(m);
  return m;
}

std::string design_spec_of(const ModelDesign& m) {
  auto groups = m.groups();
  if (groups.size() != 1) return "";
  const LayerSpec& l = groups[0].spec;
  const AttentionShape& a = l.attention;
  // The design grammar expresses the classic variants only: a layer using any of the layer-level
  // extras (docs/capacity.md, "Layer kinds") has no --design string that reproduces it.
  AttentionShape classic = a;
  classic.rotary_dim = 0;
  if (a.variant != Variant::kMla && a.variant != Variant::kGla && a.variant != Variant::kMtla) {
    classic.v_head_dim = 0;
  }
  classic.kv_tied = classic.o_bias = classic.sinks = classic.qk_norm_per_layer = false;
  const bool gqa_family =
      a.variant == Variant::kMha || a.variant == Variant::kMqa || a.variant == Variant::kGqa;
  if (!gqa_family) classic.qk_norm = false;  // qk_norm=1 is a key of the GQA family
  classic.gate = OutputGate::kNone;
  classic.index_heads = classic.index_head_dim = 0;
  classic.recurrent = RecurrentKind::kLightning;
  classic.key_heads = classic.conv_kernel = classic.inner = 0;
  if (!(classic == a) || !l.has_mixer || l.kv_source >= 0 || l.span.kind == SpanKind::kTopK) return "";
  std::string s = fmt::format("{}:d={}", variant_name(a.variant), a.d_model);
  switch (a.variant) {
    case Variant::kFpba: break;
    case Variant::kMha: case Variant::kMqa:
      s += fmt::format(",heads={},hd={}", a.heads, a.head_dim);
      break;
    case Variant::kGqa:
      s += fmt::format(",heads={},kv={},hd={}", a.heads, a.kv_heads, a.head_dim);
      break;
    case Variant::kMla:
      s += fmt::format(",heads={},c={},qlora={},nope={},rope={},v={}", a.heads, a.kv_lora_rank,
                       a.q_lora_rank, a.qk_nope_dim, a.qk_rope_dim, a.v_head_dim);
      break;
    case Variant::kMfa: case Variant::kMfaKr:
      s += fmt::format(",heads={},c={},cq={}", a.heads, a.head_dim, a.q_share_dim);
      break;
    case Variant::kLinear:
      s += fmt::format(",heads={},hd={},dv={}", a.heads, a.head_dim, a.state_value_dim);
      if (a.output_gate) s += ",gate=1";
      break;
    case Variant::kGta:
      s += fmt::format(",heads={},kv={},hd={},rope={}", a.heads, a.kv_heads, a.head_dim, a.qk_rope_dim);
      break;
    case Variant::kGla:
      s += fmt::format(",heads={},hc={},c={},qlora={},nope={},rope={},v={}", a.heads, a.kv_heads,
                       a.kv_lora_rank, a.q_lora_rank, a.qk_nope_dim, a.qk_rope_dim, a.v_head_dim);
      break;
    case Variant::kMtla:
      s += fmt::format(",heads={},c={},qlora={},nope={},rope={},v={},stride={}", a.heads,
                       a.kv_lora_rank, a.q_lora_rank, a.qk_nope_dim, a.qk_rope_dim, a.v_head_dim,
                       a.temporal_stride);
      break;
    case Variant::kTpa:
      s += fmt::format(",heads={},hd={},rq={},rk={},rv={}", a.heads, a.head_dim, a.tpa_rank_q,
                       a.tpa_rank_k, a.tpa_rank_v);
      if (a.tpa_noncontextual) s += ",noncontextual=1";
      break;
  }
  if (a.qkv_bias) s += ",bias=1";
  if (a.qk_norm) s += ",qk_norm=1";
  s += fmt::format(",layers={}", m.layers.size());
  if (l.span.kind == SpanKind::kSlidingWindow) s += fmt::format(",window={}", l.span.tokens);
  if (l.span.kind == SpanKind::kChunked) s += fmt::format(",chunk={}", l.span.tokens);
  s += fmt::format(",kv_dtype={}", dtype_name(l.kv_dtype));
  if (l.ffn.kind == FfnKind::kDense) s += fmt::format(",ffn={}", l.ffn.intermediate);
  if (l.ffn.kind == FfnKind::kMoe) {
    s += fmt::format(",experts={},topk={},expert_ffn={}", l.ffn.routed_experts, l.ffn.top_k,
                     l.ffn.expert_intermediate);
    if (l.ffn.shared_experts > 0) {
      s += fmt::format(",shared={},shared_ffn={}", l.ffn.shared_experts, l.ffn.shared_intermediate);
    }
  }
  if (m.vocab_size > 0) s += fmt::format(",vocab={}", m.vocab_size);
  return s;
}

}  // namespace gmha
