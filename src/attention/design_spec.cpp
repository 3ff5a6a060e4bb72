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
                                           "expert_ffn", "shared", "shared_ffn", "vocab",
                                           // modifiers of softmax designs (docs/designs.md)
                                           "topk", "index_heads", "index_dim", "nsa", "moba",
                                           "compress", "share", "kv_tied", "sinks", "gate"};
std::set<std::string> variant_keys(Variant v) {
  switch (v) {
    case Variant::kGqa: return {"kv", "hd", "bias", "qk_norm"};
    case Variant::kMha: case Variant::kMqa: return {"hd", "bias", "qk_norm"};
    case Variant::kMla: return {"c", "qlora", "nope", "rope", "v"};
    case Variant::kMfa: case Variant::kMfaKr: return {"c", "cq"};
    case Variant::kLinear: return {"hd", "dv"};
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

// "a/b/c": exactly `n` positive integers separated by '/' (nsa=, moba=, experts=).
std::vector<int64_t> slash_fields(const std::string& text, size_t n, const std::string& what,
                                  const std::string& form) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (true) {
    const size_t slash = text.find('/', start);
    const std::string item = text.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    out.push_back(parse_integer(item, what, 1));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (out.size() != n) {
    throw InputError(fmt::format("{} must be {} ({} numbers separated by '/', got '{}')", what, form, n, text));
  }
  return out;
}

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
  if (f.has("experts") || f.has("expert_ffn")) {
    if (f.has("ffn")) throw InputError(fmt::format("{}: give ffn= (dense) or experts= (MoE)", where));
    if (!f.has("experts")) throw InputError(fmt::format("{}: expert_ffn= needs experts=E/k", where));
    if (f.text("experts").find('/') == std::string::npos) {
      // The old spelling experts=E,topk=k: topk= is token selection now (docs/designs.md).
      throw InputError(fmt::format("{}: experts= is E/k (routed experts / experts per token), e.g. "
                                   "experts={}/8; topk= now means token selection", where, f.text("experts")));
    }
    const auto e = slash_fields(f.text("experts"), 2, where + ": experts", "E/k");
    ffn.kind = FfnKind::kMoe;
    ffn.routed_experts = e[0];
    ffn.top_k = e[1];
    ffn.expert_intermediate = f.get("expert_ffn");
    ffn.shared_experts = f.get_zero_ok("shared", 0);
    ffn.shared_intermediate =
        ffn.shared_experts > 0 ? f.get_or("shared_ffn", ffn.expert_intermediate) : 0;
  } else if (f.has("shared") || f.has("shared_ffn")) {
    throw InputError(fmt::format("{}: shared= needs experts=E/k and expert_ffn=", where));
  }
  return ffn;
}

// ",ffn=..." / ",experts=..." of the canonical spec string (the inverse of ffn_of_spec).
std::string ffn_spec_of(const FfnShape& ffn) {
  std::string s;
  if (ffn.kind == FfnKind::kDense) s += fmt::format(",ffn={}", ffn.intermediate);
  if (ffn.kind == FfnKind::kMoe) {
    s += fmt::format(",experts={}/{},expert_ffn={}", ffn.routed_experts, ffn.top_k,
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
      a.output_gate = f.get_zero_ok("gate", 0) != 0;  // linear attention: gate=1 (MiniMax)
      break;
  }
  const bool gqa_family = a.variant == Variant::kMha || a.variant == Variant::kMqa || a.variant == Variant::kGqa;
  // Modifiers of softmax designs (docs/designs.md, "Modifiers").
  if (a.variant == Variant::kLinear) {
    for (const char* k : {"topk", "index_heads", "index_dim", "nsa", "moba", "compress", "share", "kv_tied", "sinks"}) {
      if (f.has(k)) throw InputError(fmt::format("{}: {}= applies to softmax designs, not linear", where, k));
    }
  } else {
    if (f.has("gate")) {
      const std::string& g = f.text("gate");
      if (g == "head") a.gate = OutputGate::kHeadwise;
      else if (g == "elem") a.gate = OutputGate::kElementwise;
      else throw InputError(fmt::format("{}: gate must be head or elem (got '{}')", where, g));
    }
    a.sinks = f.get_zero_ok("sinks", 0) != 0;
    if (f.get_zero_ok("kv_tied", 0) != 0) {
      if (!gqa_family) {
        throw InputError(fmt::format("{}: kv_tied=1 applies to mha, mqa and gqa ({} ties or "
                                     "shares its cache already)", where, variant_name(a.variant)));
      }
      a.kv_tied = true;
    }
    if (f.has("index_heads") != f.has("index_dim") || (f.has("index_dim") && !f.has("topk"))) {
      throw InputError(fmt::format("{}: topk= selection takes its indexer as index_heads= and "
                                   "index_dim=, all three together", where));
    }
    if (f.has("topk")) {
      if (!f.has("index_dim")) {
        throw InputError(fmt::format("{}: topk= is token selection and needs index_heads= and "
                                     "index_dim= (routed experts per token are experts=E/k)", where));
      }
      a.index_heads = f.get("index_heads");
      a.index_head_dim = f.get("index_dim");
    }
  }

  LayerSpec l;
  l.attention = a;
  // One fill rule (docs/designs.md): compress= takes window= and topk= as its parts; otherwise
  // window=, chunk=, topk=, nsa=, moba= exclude each other.
  std::vector<std::string> rules;
  for (const char* k : {"compress", "nsa", "moba", "chunk", "window", "topk"}) {
    if (!f.has(k)) continue;
    if (f.has("compress") && (std::string(k) == "window" || std::string(k) == "topk")) continue;
    rules.push_back(k);
  }
  if (rules.size() > 1) {
    throw InputError(fmt::format("{}: {}= and {}= are two fill rules; give one", where, rules[0], rules[1]));
  }
  if (f.has("window") && !f.has("compress")) l.span = {SpanKind::kSlidingWindow, f.get("window")};
  if (f.has("chunk")) l.span = {SpanKind::kChunked, f.get("chunk")};
  if (f.has("topk") && !f.has("compress")) l.span = {SpanKind::kTopK, f.get("topk")};
  if (f.has("compress")) {
    l.span.kind = SpanKind::kCompressed;
    l.span.ratio = f.get("compress");
    l.span.window = f.get_zero_ok("window", 0);
    l.span.tokens = f.has("topk") ? f.get("topk") : 0;
  }
  if (f.has("nsa")) {
    const auto v = slash_fields(f.text("nsa"), 5, where + ": nsa", "l/d/n/l'/w");
    l.span.kind = SpanKind::kNsa;
    l.span.block = v[0];
    l.span.ratio = v[1];
    l.span.blocks = v[2];
    l.span.select_block = v[3];
    l.span.window = v[4];
  }
  if (f.has("moba")) {
    const auto v = slash_fields(f.text("moba"), 2, where + ": moba", "B/k");
    l.span.kind = SpanKind::kMoba;
    l.span.block = v[0];
    l.span.blocks = v[1];
  }
  if (a.variant == Variant::kLinear) {
    if (l.span.kind != SpanKind::kFull) {
      throw InputError(fmt::format("{}: linear attention has a fixed state, no window", where));
    }
    l.kv_dtype = DType::kF32;  // docs/capacity.md: states are kept in fp32 unless configured
  }
  if (f.has("kv_dtype")) {
    const KvCacheType t = read_kv_cache_type(f.text("kv_dtype"), where + " kv_dtype");
    l.kv_dtype = t.dtype;
    l.kv_layout = t.layout;
    check_kv_layout(l, where + " kv_dtype");
  }

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
  if (f.has("share")) {
    // share=s: layer i reads the cache of layer s * floor(i / s) (docs/designs.md).
    if (a.variant == Variant::kLinear) throw InputError(fmt::format("{}: share= applies to softmax designs", where));
    const int64_t share = f.get("share");
    for (int64_t i = 0; i < layers; ++i) {
      if (i % share == 0) continue;
      // CLA: the reading layer has no K/V projections of its own.
      m.layers[static_cast<size_t>(i)].kv_source = static_cast<int>(i - i % share);
      m.layers[static_cast<size_t>(i)].kv_projections = false;
    }
  }
  validate_model(m, where);
  m.spec = design_spec_of(m);
  return m;
}

namespace {
// share=s when every layer is the first one's except that layer i reads layer s*floor(i/s)'s
// cache (the pattern parse_design_spec builds); 1 when no layer shares; 0 when no such s.
int64_t share_of(const ModelDesign& m) {
  const size_t n = m.layers.size();
  int64_t s = 1;
  while (static_cast<size_t>(s) < n && m.layers[static_cast<size_t>(s)].kv_source == 0) ++s;
  for (size_t i = 0; i < n; ++i) {
    LayerSpec x = m.layers[i];
    const int want = i % static_cast<size_t>(s) == 0 ? -1 : static_cast<int>(i - i % static_cast<size_t>(s));
    if (x.kv_source != want || (want >= 0 && x.kv_projections)) return 0;
    x.kv_source = -1;
    x.kv_projections = true;
    if (!(x == m.layers[0])) return 0;
  }
  return s;
}
// --- recurrent designs: gdn:, kda:, mamba2: (docs/designs.md, "Recurrent designs") -------------

const std::set<std::string> kRecurrentKeys = {"d", "heads", "hd", "dv", "kh", "state", "groups", "conv",
                                              "state_dtype", "conv_dtype", "layers", "ffn", "experts",
                                              "expert_ffn", "shared", "shared_ffn", "vocab"};
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
  if (m.layers.empty()) return "";
  const int64_t share = share_of(m);
  if (share == 0) return "";
  const LayerSpec& l = m.layers[0];
  const AttentionShape& a = l.attention;
  if (mixer_kind(l) == MixerKind::kRecurrent && a.recurrent != RecurrentKind::kLightning) {
    return recurrent_spec_of(m);
  }
  // The design grammar expresses the classic variants and the modifiers of docs/designs.md: a
  // layer using any other layer-level extra (docs/capacity.md, "Layer kinds") has no --design
  // string that reproduces it.
  const bool gqa_family = a.variant == Variant::kMha || a.variant == Variant::kMqa || a.variant == Variant::kGqa;
  AttentionShape classic = a;
  classic.rotary_dim = 0;
  if (a.variant != Variant::kMla && a.variant != Variant::kGla && a.variant != Variant::kMtla) {
    classic.v_head_dim = 0;
  }
  // Zero what the grammar cannot write; any of it set means there is no spec string.
  classic.o_bias = classic.qk_norm_per_layer = classic.kv_latent = false;
  if (!gqa_family) classic.qk_norm = false;  // qk_norm=1 is a key of the GQA family
  classic.o_lora_rank = classic.o_groups = classic.hyper_connections = 0;
  if (gqa_family) classic.q_lora_rank = 0;
  if (!gqa_family) classic.kv_tied = false;
  if (a.variant == Variant::kLinear) {
    classic.sinks = false;
    classic.gate = OutputGate::kNone;
  }
  const bool indexed = l.span.kind == SpanKind::kTopK || (l.span.kind == SpanKind::kCompressed && l.span.tokens > 0);
  if (!indexed) classic.index_heads = classic.index_head_dim = 0;
  classic.recurrent = RecurrentKind::kLightning;
  classic.key_heads = classic.conv_kernel = classic.inner = 0;
  if (!(classic == a) || !l.has_mixer) return "";
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
  // The modifiers, in the order docs/designs.md gives.
  const AttentionSpan& sp = l.span;
  if (sp.kind == SpanKind::kSlidingWindow) s += fmt::format(",window={}", sp.tokens);
  if (sp.kind == SpanKind::kCompressed && sp.window > 0) s += fmt::format(",window={}", sp.window);
  if (sp.kind == SpanKind::kChunked) s += fmt::format(",chunk={}", sp.tokens);
  if (sp.kind == SpanKind::kCompressed) s += fmt::format(",compress={}", sp.ratio);
  if (indexed) {
    s += fmt::format(",topk={},index_heads={},index_dim={}", sp.tokens, a.index_heads, a.index_head_dim);
  }
  if (sp.kind == SpanKind::kNsa) {
    s += fmt::format(",nsa={}/{}/{}/{}/{}", sp.block, sp.ratio, sp.blocks, sp.select_block, sp.window);
  }
  if (sp.kind == SpanKind::kMoba) s += fmt::format(",moba={}/{}", sp.block, sp.blocks);
  if (share > 1) s += fmt::format(",share={}", share);
  if (gqa_family && a.kv_tied) s += ",kv_tied=1";
  if (a.variant != Variant::kLinear && a.sinks) s += ",sinks=1";
  if (a.variant != Variant::kLinear && a.gate != OutputGate::kNone) {
    s += a.gate == OutputGate::kHeadwise ? ",gate=head" : ",gate=elem";
  }
  s += fmt::format(",kv_dtype={}", kv_cache_type_name(l.kv_dtype, l.kv_layout));
  s += ffn_spec_of(l.ffn);
  if (m.vocab_size > 0) s += fmt::format(",vocab={}", m.vocab_size);
  return s;
}

}  // namespace gmha
