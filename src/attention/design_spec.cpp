#include "gmha/attention/design_spec.hpp"

#include <charconv>
#include <map>
#include <optional>
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

namespace {
// The FFN keys every design takes: ffn=I (dense GLU) or experts=, topk=, expert_ffn= [, shared=,
// shared_ffn=] (MoE); none: no FFN counted.
FfnShape ffn_of_spec(const SpecFields& f, const std::string& where) {
  FfnShape ffn;
  if (f.has("ffn")) {
    ffn.kind = FfnKind::kDense;
    ffn.intermediate = f.get("ffn");
  }
  if (f.has("experts") || f.has("topk") || f.has("expert_ffn")) {
    if (f.has("ffn")) throw InputError(fmt::format("{}: give ffn= (dense) or experts= (MoE)", where));
    ffn.kind = FfnKind::kMoe;
    ffn.routed_experts = f.get("experts");
    ffn.top_k = f.get("topk");
    ffn.expert_intermediate = f.get("expert_ffn");
    ffn.shared_experts = f.get_zero_ok("shared", 0);
    ffn.shared_intermediate =
        ffn.shared_experts > 0 ? f.get_or("shared_ffn", ffn.expert_intermediate) : 0;
  } else if (f.has("shared") || f.has("shared_ffn")) {
    throw InputError(fmt::format("{}: shared= needs experts=, topk=, expert_ffn=", where));
  }
  return ffn;
}

// ",ffn=..." / ",experts=..." of the canonical spec string (the inverse of ffn_of_spec).
std::string ffn_spec_of(const FfnShape& ffn) {
  std::string s;
  if (ffn.kind == FfnKind::kDense) s += fmt::format(",ffn={}", ffn.intermediate);
  if (ffn.kind == FfnKind::kMoe) {
    s += fmt::format(",experts={},topk={},expert_ffn={}", ffn.routed_experts, ffn.top_k,
                     ffn.expert_intermediate);
    if (ffn.shared_experts > 0) {
      s += fmt::format(",shared={},shared_ffn={}", ffn.shared_experts, ffn.shared_intermediate);
    }
  }
  return s;
}
}  // namespace

ModelDesign parse_design_spec(std::string_view spec_view) {
  const std::string spec(spec_view);
  const size_t colon = spec.find(':');
  const std::string vname = spec.substr(0, colon);
  if (auto kind = recurrent_design_kind(vname)) return parse_recurrent_design(spec, *kind);
  auto variant = find_variant(vname);
  if (!variant) {
    throw errors::unknown_name("design '" + spec + "'", "variant", vname,
                               "fpba, mha, mqa, gqa, mla, mfa, mfa-kr, linear, gta, gla, tpa, mtla, "
                               "gdn, kda, mamba2");
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

  l.ffn = ffn_of_spec(f, where);

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

namespace {
// --- recurrent designs: gdn:, kda:, mamba2: (docs/designs.md, "Recurrent designs") -------------

const std::set<std::string> kRecurrentKeys = {"d", "heads", "hd", "dv", "kh", "state", "groups", "conv",
                                              "state_dtype", "conv_dtype", "layers", "ffn", "experts",
                                              "topk", "expert_ffn", "shared", "shared_ffn", "vocab"};
}  // namespace

std::optional<RecurrentKind> recurrent_design_kind(std::string_view name) {
  if (name == "gdn") return RecurrentKind::kGatedDeltaNet;
  if (name == "kda") return RecurrentKind::kKda;
  if (name == "mamba2") return RecurrentKind::kMamba2;
  return std::nullopt;
}

bool is_design_name(std::string_view name) {
  return find_variant(name).has_value() || recurrent_design_kind(name).has_value();
}

// gdn:d=,heads=H_v,kh=H_k,hd=d_k,dv=d_v,conv=K   kda:d=,heads=H,hd=d_k,dv=d_v,conv=K
// mamba2:d=,heads=H,hd=P,state=N,groups=G,conv=K   and [,state_dtype=,conv_dtype=] + the FFN keys.
// Defaults: kh = heads, dv = hd, groups 1, conv 4, the state in fp32 and the conv state in bf16.
// The model without its canonical spec (recurrent_spec_of reads specs back with it).
static ModelDesign recurrent_design_model(const std::string& spec, RecurrentKind kind) {
  const size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const std::string where = "design '" + spec + "'";
  std::map<std::string, std::string> kv;
  if (colon != std::string::npos) {
    for (std::string_view item_view : split_list(std::string_view(spec).substr(colon + 1), where)) {
      const std::string item(item_view);
      const size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
        throw InputError(fmt::format("{}: '{}' is not key=value", where, item));
      }
      const std::string key = item.substr(0, eq);
      const bool own = key == "kh" ? kind == RecurrentKind::kGatedDeltaNet
                       : key == "state" || key == "groups" ? kind == RecurrentKind::kMamba2
                       : key == "dv" ? kind != RecurrentKind::kMamba2
                                     : kRecurrentKeys.count(key) > 0;
      if (!own) throw InputError(fmt::format("{}: unknown key '{}' for {}", where, key, name));
      if (!kv.emplace(key, item.substr(eq + 1)).second) {
        throw InputError(fmt::format("{}: key '{}' given twice", where, key));
      }
    }
  }
  SpecFields f(spec, kv);
  LayerSpec l;
  AttentionShape& a = l.attention;
  a.variant = Variant::kLinear;
  a.recurrent = kind;
  a.d_model = f.get("d");
  a.heads = a.kv_heads = f.get("heads");
  a.head_dim = f.get("hd");
  a.conv_kernel = f.get_or("conv", 4);
  switch (kind) {
    case RecurrentKind::kGatedDeltaNet:
      a.key_heads = f.get_or("kh", a.heads);
      a.state_value_dim = f.get_or("dv", a.head_dim);
      break;
    case RecurrentKind::kKda:
      a.state_value_dim = f.get_or("dv", a.head_dim);
      break;
    case RecurrentKind::kMamba2:
      a.state_value_dim = f.get("state");
      a.key_heads = f.get_or("groups", 1);
      a.inner = checked_mul(a.heads, a.head_dim, "mamba2 width");
      break;
    default:
      throw InternalError("parse_recurrent_design: not a recurrent design");
  }
  l.kv_dtype = f.has("state_dtype") ? read_kv_dtype(f.text("state_dtype"), where + " state_dtype") : DType::kF32;
  l.conv_dtype = f.has("conv_dtype") ? read_kv_dtype(f.text("conv_dtype"), where + " conv_dtype") : DType::kBF16;
  l.ffn = ffn_of_spec(f, where);

  ModelDesign m;
  m.name = spec;
  m.source = "--design";
  m.d_model = a.d_model;
  m.vocab_size = f.get_zero_ok("vocab", 0);
  const int64_t layers = f.get_or("layers", 1);
  if (layers > 100000) throw InputError(fmt::format("{}: layers={} is implausible (max 100000)", where, layers));
  m.layers.assign(static_cast<size_t>(layers), l);
  validate_model(m, where);
  return m;
}

ModelDesign parse_recurrent_design(const std::string& spec, RecurrentKind kind) {
  ModelDesign m = recurrent_design_model(spec, kind);
  m.spec = design_spec_of(m);
  return m;
}

std::string recurrent_spec_of(const ModelDesign& m) {
  const LayerSpec& l = m.layers.front();
  const AttentionShape& a = l.attention;
  std::string s;
  switch (a.recurrent) {
    case RecurrentKind::kGatedDeltaNet:
      s = fmt::format("gdn:d={},heads={},kh={},hd={},dv={}", a.d_model, a.heads, a.key_heads, a.head_dim,
                      a.state_value_dim);
      break;
    case RecurrentKind::kKda:
      s = fmt::format("kda:d={},heads={},hd={},dv={}", a.d_model, a.heads, a.head_dim, a.state_value_dim);
      break;
    case RecurrentKind::kMamba2:
      s = fmt::format("mamba2:d={},heads={},hd={},state={},groups={}", a.d_model, a.heads, a.head_dim,
                      a.state_value_dim, a.key_heads);
      break;
    default:
      return "";  // Mamba-1, short conv: no design grammar
  }
  s += fmt::format(",conv={},layers={},state_dtype={},conv_dtype={}", a.conv_kernel, m.layers.size(),
                   dtype_name(l.kv_dtype), dtype_name(l.conv_dtype));
  s += ffn_spec_of(l.ffn);
  if (m.vocab_size > 0) s += fmt::format(",vocab={}", m.vocab_size);
  // Only a layer the grammar reproduces exactly has a spec (a config's extras would be lost).
  const ModelDesign back = recurrent_design_model(s, a.recurrent);
  if (!(back.layers.front() == l) || back.vocab_size != m.vocab_size || back.d_model != m.d_model) return "";
  return s;
}

std::string design_spec_of(const ModelDesign& m) {
  auto groups = m.groups();
  if (groups.size() != 1) return "";
  const LayerSpec& l = groups[0].spec;
  const AttentionShape& a = l.attention;
  if (mixer_kind(l) == MixerKind::kRecurrent && a.recurrent != RecurrentKind::kLightning) {
    return recurrent_spec_of(m);
  }
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
  s += ffn_spec_of(l.ffn);
  if (m.vocab_size > 0) s += fmt::format(",vocab={}", m.vocab_size);
  return s;
}

}  // namespace gmha
