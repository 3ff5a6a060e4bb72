#include "gmha/capacity/sweep.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <queue>
#include <stdexcept>

#include "gmha/attention/design_spec.hpp"
#include "gmha/capacity/cost.hpp"
#include "gmha/capacity/fit.hpp"
#include "gmha/capacity/weight_format.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"

namespace gmha {
namespace {

constexpr uint64_t kMaxDesigns = 1'000'000'000;  // ~30 s of evaluation; narrow the grids beyond
constexpr size_t kChunk = 1 << 18;               // candidates per Pareto chunk (~20 MB)

std::vector<int64_t> range(int64_t lo, int64_t hi, int64_t step, int64_t cap = 0) {
  std::vector<int64_t> v;
  for (int64_t x = lo; x <= hi; x += step) {
    if (cap == 0 || x <= cap) v.push_back(x);
  }
  return v;
}

// A feasible candidate with the keys the selection uses. kv is exact in bits (per token, all
// layers); score is "lower is better" (-TER, -SLSD or $/1M tokens).
struct Record {
  SweepCandidate c;
  int64_t kv_bits = 0;
  int64_t flops = 0;  // core + projections
  int64_t ter = 0;
  int64_t params = 0;
  double score = 0;
  uint64_t index = 0;  // enumeration order, the last tie-break
};

// Pareto order: KV ascending, FLOPs ascending, TER descending, then params, then enumeration.
bool pareto_before(const Record& a, const Record& b) {
  if (a.kv_bits != b.kv_bits) return a.kv_bits < b.kv_bits;
  if (a.flops != b.flops) return a.flops < b.flops;
  if (a.ter != b.ter) return a.ter > b.ter;
  if (a.params != b.params) return a.params < b.params;
  return a.index < b.index;
}

// Objective order: score, then KV, FLOPs, params, enumeration.
bool rank_before(const Record& a, const Record& b) {
  if (a.score != b.score) return a.score < b.score;
  if (a.kv_bits != b.kv_bits) return a.kv_bits < b.kv_bits;
  if (a.flops != b.flops) return a.flops < b.flops;
  if (a.params != b.params) return a.params < b.params;
  return a.index < b.index;
}

// Non-dominated subset (weak dominance: a point equal in all three keys to an earlier one is
// dropped, so each frontier triple appears once, represented by its fewest-params design).
// Sorted by KV, every earlier point has KV <=; a staircase map flops -> max TER (TER rising with
// flops) answers "is there an earlier point with flops <= f and TER >= t" in O(log n).
std::vector<Record> pareto(std::vector<Record> v) {
  std::sort(v.begin(), v.end(), pareto_before);
  std::map<int64_t, int64_t> stair;
  std::vector<Record> out;
  for (const Record& r : v) {
    auto it = stair.upper_bound(r.flops);
    if (it != stair.begin() && std::prev(it)->second >= r.ter) continue;  // dominated
    out.push_back(r);
    // Drop staircase steps this point now dominates (flops >= f and TER <= t), then insert it.
    auto jt = stair.lower_bound(r.flops);
    while (jt != stair.end() && jt->second <= r.ter) jt = stair.erase(jt);
    stair[r.flops] = r.ter;
  }
  return out;
}

int64_t mul(int64_t a, int64_t b, const char* what) { return checked_mul(a, b, what); }

std::string figures_mismatch(const SweepDesign& d, const char* what) {
  return fmt::format("sweep: fast path and compute_figures disagree on {} for {}", what, d.spec);
}

}  // namespace

SweepSpace default_sweep_space(int64_t d, int64_t layers) {
  SweepSpace s;
  s.d_model = d;
  s.layers = layers;
  s.families = {Variant::kMha, Variant::kGqa, Variant::kMqa, Variant::kMla, Variant::kMfa,
                Variant::kMfaKr, Variant::kGta, Variant::kGla, Variant::kTpa};
  s.heads = range(1, 256, 1);
  s.head_dims = {64, 80, 96, 128, 160, 192, 256};
  s.mla_latents = range(64, 1024, 64);
  s.mla_nope = {64, 128, 192};
  s.mla_rope = {0, 32, 64};
  s.mla_q_lora = {0, 768, 1536, 3072};
  s.mfa_dims = range(32, 1024, 32);
  s.mfa_q_share = range(256, 8192, 256, d > 0 ? std::max<int64_t>(d, 256) : 0);
  s.gla_latent_heads = {2, 4, 8};
  s.tpa_ranks = {1, 2, 4};
  s.tpa_q_ranks = {1, 2, 4, 6};
  return s;
}

std::vector<Variant> parse_families(const std::string& text) {
  if (text == "all") return default_sweep_space(0, 0).families;
  std::vector<Variant> out;
  for (std::string_view name_view : split_list(text, "families")) {
    const std::string name(name_view);
    auto v = find_variant(name);
    if (!v || *v == Variant::kFpba || *v == Variant::kLinear || *v == Variant::kMtla) {
      throw errors::bad_option("families", fmt::format("unknown family '{}' (known: mha, gqa, mqa, mla, mfa, mfa-kr, gta, gla, tpa)", name));
    }
    if (std::find(out.begin(), out.end(), *v) == out.end()) out.push_back(*v);
  }
  return out;
}

SweepObjective parse_objective(const std::string& text, std::optional<Hardware>& card) {
  if (text == "ter") return SweepObjective::kTer;
  if (text == "slsd") return SweepObjective::kSlsd;
  if (text.rfind("cost:", 0) == 0) {
    card = read_hardware(text.substr(5));
    return SweepObjective::kCost;
  }
  throw errors::bad_option("objective", fmt::format("'{}' is not ter, slsd or cost:CARD", text));
}

uint64_t sweep_space_size(const SweepSpace& s) {
  auto n = [](const std::vector<int64_t>& v) { return static_cast<uint64_t>(v.size()); };
  uint64_t total = 0;
  for (Variant v : s.families) {
    uint64_t k = 0;
    switch (v) {
      case Variant::kMha:
      case Variant::kMqa:
        k = checked_mul_u64(n(s.heads), n(s.head_dims), "sweep size");
        break;
      case Variant::kGqa: {
        uint64_t divisors = 0;  // proper divisors 1 < g < n, summed over the heads grid
        for (int64_t h : s.heads) {
          for (int64_t g = 2; g * g <= h; ++g) {
            if (h % g == 0) divisors += g * g == h ? 1 : 2;  // g and h/g
          }
        }
        k = checked_mul_u64(divisors, n(s.head_dims), "sweep size");
        break;
      }
      case Variant::kMla:
        k = n(s.heads);
        for (const auto* g : {&s.mla_latents, &s.mla_nope, &s.mla_rope, &s.mla_q_lora}) {
          k = checked_mul_u64(k, n(*g), "sweep size");
        }
        break;
      case Variant::kMfa:
      case Variant::kMfaKr:
        k = checked_mul_u64(checked_mul_u64(n(s.heads), n(s.mfa_dims), "sweep size"),
                            n(s.mfa_q_share), "sweep size");
        break;
      case Variant::kGta: {
        uint64_t divisors = 0;  // every divisor 1 <= g <= n, summed over the heads grid
        for (int64_t h : s.heads) {
          for (int64_t g = 1; g <= h; ++g) divisors += h % g == 0 ? 1 : 0;
        }
        uint64_t dims = 0;
        for (int64_t h : s.head_dims) dims += h >= 2 ? 1 : 0;
        k = checked_mul_u64(divisors, dims, "sweep size");
        break;
      }
      case Variant::kGla: {
        uint64_t pairs = 0;  // (n, h_c) with h_c | n
        for (int64_t h : s.heads) {
          for (int64_t hc : s.gla_latent_heads) pairs += hc > 0 && h % hc == 0 ? 1 : 0;
        }
        k = pairs;
        for (const auto* g : {&s.mla_latents, &s.mla_nope, &s.mla_rope, &s.mla_q_lora}) {
          k = checked_mul_u64(k, n(*g), "sweep size");
        }
        break;
      }
      case Variant::kTpa:
        k = checked_mul_u64(checked_mul_u64(n(s.heads), n(s.head_dims), "sweep size"),
                            checked_mul_u64(n(s.tpa_q_ranks), checked_mul_u64(n(s.tpa_ranks), n(s.tpa_ranks),
                                                                              "sweep size"), "sweep size"),
                            "sweep size");
        break;
      default:
        break;
    }
    // Each candidate plain and under each modifier (NSA only on MHA/GQA/MQA).
    uint64_t copies = 1;
    for (const SweepModifier& m : s.modifiers) {
      if (m.span.kind != SpanKind::kNsa || v == Variant::kMha || v == Variant::kMqa || v == Variant::kGqa) ++copies;
    }
    total = checked_add_u64(total, checked_mul_u64(k, copies, "sweep size"), "sweep size");
  }
  return total;
}

SweepModifier parse_sweep_modifier(const std::string& text) {
  SweepModifier m;
  if (text.empty() || text == "none") return m;
  for (std::string_view item : split_list(text, "--modifier")) {
    const std::string key(item.substr(0, item.find('=')));
    static const char* const kFill[] = {"topk", "index_heads", "index_dim", "compress", "window", "nsa", "moba"};
    if (std::find_if(std::begin(kFill), std::end(kFill), [&](const char* k) { return key == k; }) == std::end(kFill)) {
      throw errors::bad_option("modifier", fmt::format("'{}' is not a fill-rule key (topk, index_heads, "
                                                       "index_dim, compress, window, nsa, moba)", key));
    }
  }
  // The design grammar parses and checks it (on a stand-in GQA layer), so the sweep and
  // --design mean the same thing by it.
  const ModelDesign probe = parse_design_spec("gqa:d=64,heads=2,kv=1,hd=32," + text);
  m.text = text;
  m.span = probe.layers[0].span;
  m.index_heads = probe.layers[0].attention.index_heads;
  m.index_dim = probe.layers[0].attention.index_head_dim;
  if (m.span.kind == SpanKind::kFull || m.span.kind == SpanKind::kSlidingWindow || m.span.kind == SpanKind::kChunked) {
    throw errors::bad_option("modifier", fmt::format("'{}' is not a sparse or compressed fill rule", text));
  }
  return m;
}

namespace {
// The shape a candidate stands for: one full-attention layer with no biases (the spec string
// candidate_model parses gives the same shape; tests hold the two equal on whole spaces).
AttentionShape candidate_shape(const SweepCandidate& c, int64_t d) {
  AttentionShape a;
  a.variant = c.variant;
  a.d_model = d;
  a.heads = c.heads;
  a.kv_heads = c.kv_heads;
  switch (c.variant) {
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa:
      a.head_dim = c.head_dim;
      break;
    case Variant::kMla:
    case Variant::kGla:  // kv_heads = h_c (1 for MLA)
      a.kv_lora_rank = c.latent;
      a.qk_nope_dim = c.nope;
      a.qk_rope_dim = c.rope;
      a.v_head_dim = c.nope;  // the sweep ties v to nope
      a.q_lora_rank = c.q_lora;
      break;
    case Variant::kMfa:
    case Variant::kMfaKr:
      a.kv_heads = 1;
      a.head_dim = c.head_dim;
      a.q_share_dim = c.q_share;
      break;
    case Variant::kGta:
      a.head_dim = c.head_dim;
      a.qk_rope_dim = c.rope;
      break;
    case Variant::kTpa:
      a.head_dim = c.head_dim;
      a.tpa_rank_q = c.tpa_rq;
      a.tpa_rank_k = c.tpa_rk;
      a.tpa_rank_v = c.tpa_rv;
      break;
    default:
      throw InternalError("sweep: unsupported family");
  }
  return a;
}
}  // namespace

FastFigures fast_figures(const SweepCandidate& c, const SweepOptions& o) {
  // The same per-layer formulas as compute_figures (attention_counts, capacity_ranks,
  // fill_counts, decode_attention_flops, indexer_flops, attention_cost) on the candidate's
  // layer, times L identical layers; no allocation, no ModelDesign.
  const SweepSpace& s = o.space;
  const int64_t L = s.layers, T = o.context;
  LayerSpec l;
  l.attention = candidate_shape(c, s.d_model);
  if (c.modifier >= 0) {
    const SweepModifier& m = s.modifiers[static_cast<size_t>(c.modifier)];
    l.span = m.span;
    l.attention.index_heads = m.index_heads;
    l.attention.index_head_dim = m.index_dim;
  }
  const AttentionShape& a = l.attention;
  const AttentionCounts n = attention_counts(l);
  const CapacityRanks r = capacity_ranks(a);
  const FillCounts fc = fill_counts(l, T, o.convention);
  FastFigures f;
  f.frh = r.frh;
  f.slsd = r.slsd;
  f.ter = r.ter;
  const int bits = dtype_bits(s.kv_dtype);
  const int64_t token_bits = mul(n.cached_elements, bits, "kv bits");
  const int64_t index_bits = mul(index_key_bytes(a), 8, "index bits");
  const int64_t mean_bits = l.span.kind == SpanKind::kMoba ? mul(stream_widths(a).keys, bits, "kv bits") : 0;
  // As compute_figures: a layer's bytes per token, times the layers (exact for plain layers).
  const double per_layer = static_cast<double>(token_bits) / 8.0 * fc.entries_per_token +
                           (static_cast<double>(mean_bits) / 8.0 * fc.mean_keys_per_token +
                            static_cast<double>(index_bits) / 8.0 * fc.index_per_token);
  f.kv_bytes_per_token = per_layer * static_cast<double>(L);
  f.kv_bits_per_token = c.modifier < 0 ? mul(token_bits, L, "kv")
                                       : static_cast<int64_t>(std::llround(f.kv_bytes_per_token * 8.0));
  // One device of the TP group holds its part of each entry kind (fit.cpp's rule: a rank keeps
  // its share of the stream entries and the index keys in the stream's share).
  const int64_t tp = o.tp;
  f.shards = a.heads % tp == 0 && kv_splits(a, tp);
  if (f.shards) {
    const KvSplit split = kv_split(a, tp, "sweep", "tp");
    const int64_t device_bits = mul(kv_elements_per_gpu(a, split), bits, "kv bits");
    if (c.modifier < 0) {
      f.kv_bits_per_token_per_device = mul(device_bits, L, "kv");
      f.kv_bytes_per_token_per_device = static_cast<double>(f.kv_bits_per_token_per_device) / 8.0;
    } else {
      const double share = token_bits > 0 ? static_cast<double>(device_bits) / static_cast<double>(token_bits) : 0.0;
      f.kv_bytes_per_token_per_device = share * f.kv_bytes_per_token;
      f.kv_bits_per_token_per_device = static_cast<int64_t>(std::llround(f.kv_bytes_per_token_per_device * 8.0));
    }
  }
  f.attn_params = mul(n.params, L, "params");
  int64_t core = checked_add(decode_attention_flops(a, fc.read, o.convention), indexer_flops(a, fc.index_read),
                             "attention flops");
  if (fc.mean_keys > 0) {
    const DecodeWidths w = decode_widths(a, o.convention);
    core = checked_add(core, checked_product({2, w.query_heads, fc.mean_keys, w.qk_width}, "moba flops"),
                       "attention flops");
  }
  f.attn_flops = mul(core, L, "attention flops");
  f.linear_flops = checked_product({2, n.decode_matmul, L}, "linear flops");
  if (o.card) {
    const int64_t layer_read = checked_add(
        checked_add(mul(fc.read, token_bits, "kv read"), mul(fc.mean_keys, mean_bits, "kv read"), "kv read"),
        mul(fc.index_read, index_bits, "kv read"), "kv read");
    const double read = static_cast<double>(mul(layer_read, L, "kv read")) / 8.0;
    f.attn_usd_per_mtok = attention_cost(*o.card, static_cast<double>(f.attn_flops), read,
                                         static_cast<double>(f.linear_flops), o.compute_dtype)
                              .usd_per_token *
                          1e6;
  }
  return f;
}

ModelDesign candidate_model(const SweepCandidate& c, const SweepSpace& s) {
  std::string spec;
  switch (c.variant) {
    case Variant::kMha:
    case Variant::kMqa:
      spec = fmt::format("{}:d={},heads={},hd={}", variant_name(c.variant), s.d_model, c.heads,
                         c.head_dim);
      break;
    case Variant::kGqa:
      spec =
          fmt::format("gqa:d={},heads={},kv={},hd={}", s.d_model, c.heads, c.kv_heads, c.head_dim);
      break;
    case Variant::kMla:
      spec = fmt::format("mla:d={},heads={},c={},qlora={},nope={},rope={},v={}", s.d_model, c.heads,
                         c.latent, c.q_lora, c.nope, c.rope, c.nope);
      break;
    case Variant::kMfa:
    case Variant::kMfaKr:
      spec = fmt::format("{}:d={},heads={},c={},cq={}", variant_name(c.variant), s.d_model, c.heads,
                         c.head_dim, c.q_share);
      break;
    case Variant::kGta:
      spec = fmt::format("gta:d={},heads={},kv={},hd={},rope={}", s.d_model, c.heads, c.kv_heads,
                         c.head_dim, c.rope);
      break;
    case Variant::kGla:
      spec = fmt::format("gla:d={},heads={},hc={},c={},qlora={},nope={},rope={},v={}", s.d_model, c.heads,
                         c.kv_heads, c.latent, c.q_lora, c.nope, c.rope, c.nope);
      break;
    case Variant::kTpa:
      spec = fmt::format("tpa:d={},heads={},hd={},rq={},rk={},rv={}", s.d_model, c.heads, c.head_dim,
                         c.tpa_rq, c.tpa_rk, c.tpa_rv);
      break;
    default:
      throw InternalError("sweep: unsupported family");
  }
  spec += fmt::format(",layers={},kv_dtype={}", s.layers, dtype_name(s.kv_dtype));
  if (c.modifier >= 0) spec += "," + s.modifiers[static_cast<size_t>(c.modifier)].text;
  return parse_design_spec(spec);
}

SweepResult run_sweep(const SweepOptions& o) {
  const SweepSpace& s = o.space;
  if (s.d_model <= 0) throw errors::option_not_positive("d", s.d_model);
  if (s.layers <= 0) throw errors::option_not_positive("layers", s.layers);
  if (s.layers > 100000)
    throw errors::bad_option("layers", fmt::format("{} is implausible (max 100000)", s.layers));
  if (o.context <= 0) throw errors::option_not_positive("context", o.context);
  if (o.tp <= 0) throw errors::option_not_positive("tp", o.tp);
  if (s.families.empty()) throw errors::bad_option("families", "no family to sweep");
  if (o.objective == SweepObjective::kCost && !o.card) {
    throw errors::bad_option("objective", "cost needs a card (cost:CARD)");
  }
  struct Grid {
    const std::vector<int64_t>* v;
    const char* flag;
    bool zero_ok;
    bool used;
  };
  auto uses = [&](std::initializer_list<Variant> vs) {
    for (Variant v : vs) {
      if (std::find(s.families.begin(), s.families.end(), v) != s.families.end()) return true;
    }
    return false;
  };
  const bool gqa = uses({Variant::kMha, Variant::kGqa, Variant::kMqa, Variant::kGta, Variant::kTpa});
  const bool mla = uses({Variant::kMla, Variant::kGla});  // GLA reads the MLA grids
  const bool mfa = uses({Variant::kMfa, Variant::kMfaKr});
  const bool gla = uses({Variant::kGla});
  const bool tpa = uses({Variant::kTpa});
  for (const Grid& g :
       {Grid{&s.heads, "heads", false, true}, Grid{&s.head_dims, "head-dims", false, gqa},
        Grid{&s.mla_latents, "mla-c", false, mla}, Grid{&s.mla_nope, "mla-nope", false, mla},
        Grid{&s.mla_rope, "mla-rope", true, mla}, Grid{&s.mla_q_lora, "mla-qlora", true, mla},
        Grid{&s.mfa_dims, "mfa-c", false, mfa}, Grid{&s.mfa_q_share, "mfa-cq", false, mfa},
        Grid{&s.gla_latent_heads, "gla-hc", false, gla}, Grid{&s.tpa_ranks, "tpa-r", false, tpa},
        Grid{&s.tpa_q_ranks, "tpa-rq", false, tpa}}) {
    if (!g.used) continue;
    if (g.v->empty()) throw errors::bad_option(g.flag, "the grid is empty");
    for (int64_t x : *g.v) {
      if (x < (g.zero_ok ? 0 : 1) || x > std::numeric_limits<int32_t>::max()) {
        throw errors::bad_option(g.flag, fmt::format("value {} out of range", x));
      }
    }
  }
  const uint64_t size = sweep_space_size(s);
  if (size > kMaxDesigns) {
    throw InputError(fmt::format("sweep: the space has {} designs (max {}); narrow the grids", size,
                                 kMaxDesigns));
  }
  // Validate the extreme corner once so that overflow is reported up front, as an input error.
  if (o.budgets.max_kv_bytes_per_token && !(*o.budgets.max_kv_bytes_per_token >= 0)) {
    throw errors::bad_option("max-kv-bytes-per-token", "must be a non-negative number");
  }
  if (o.budgets.max_kv_bytes_per_token_per_device && !(*o.budgets.max_kv_bytes_per_token_per_device >= 0)) {
    throw errors::bad_option("max-kv-bytes-per-token-per-device", "must be a non-negative number");
  }

  SweepResult r;
  std::vector<Record> chunk, frontier;
  chunk.reserve(std::min<uint64_t>(size, kChunk));
  // Best per family and modifier: slot family * (1 + modifiers) + (modifier + 1).
  const size_t slots = 1 + s.modifiers.size();
  std::vector<Record> best(s.families.size() * slots);
  std::vector<bool> have_best(best.size(), false);
  // Max-heap by rank order: the top holds the worst of the current top-N.
  auto worse = [](const Record& a, const Record& b) { return rank_before(a, b); };
  std::priority_queue<Record, std::vector<Record>, decltype(worse)> top(worse);

  auto flush = [&]() {
    std::vector<Record> f = pareto(std::move(chunk));
    frontier.insert(frontier.end(), f.begin(), f.end());
    if (frontier.size() > 4 * kChunk) frontier = pareto(std::move(frontier));
    chunk.clear();
  };
  // A progress report every 2^18 designs (a few ms of work): often enough for a bar, rare
  // enough to cost nothing.
  constexpr uint64_t kProgressEvery = uint64_t{1} << 18;
  auto evaluate = [&](const SweepCandidate& c) {
    const uint64_t index = r.evaluated++;
    if (o.progress && index % kProgressEvery == 0 && index > 0)
      o.progress(static_cast<int64_t>(index), static_cast<int64_t>(size));
    const FastFigures f = fast_figures(c, o);
    if (!f.shards) {
      ++r.unsharded;
      return;
    }
    const int64_t flops = checked_add(f.attn_flops, f.linear_flops, "attention flops");
    if (o.budgets.max_kv_bytes_per_token &&
        f.kv_bytes_per_token > *o.budgets.max_kv_bytes_per_token)
      return;
    if (o.budgets.max_kv_bytes_per_token_per_device &&
        f.kv_bytes_per_token_per_device > *o.budgets.max_kv_bytes_per_token_per_device)
      return;
    if (o.budgets.max_attn_params && f.attn_params > *o.budgets.max_attn_params) return;
    if (o.budgets.max_attn_flops && flops > *o.budgets.max_attn_flops) return;
    if (o.budgets.min_ter && f.ter < *o.budgets.min_ter) return;
    ++r.feasible;
    Record rec;
    rec.c = c;
    rec.kv_bits = f.kv_bits_per_token_per_device;  // = kv_bits_per_token at tp 1
    rec.flops = flops;
    rec.ter = f.ter;
    rec.params = f.attn_params;
    rec.index = index;
    switch (o.objective) {
      case SweepObjective::kTer:
        rec.score = -static_cast<double>(f.ter);
        break;
      case SweepObjective::kSlsd:
        rec.score = -static_cast<double>(f.slsd);
        break;
      case SweepObjective::kCost:
        rec.score = f.attn_usd_per_mtok;
        break;
    }
    const size_t fam = static_cast<size_t>(
        std::find(s.families.begin(), s.families.end(), c.variant) - s.families.begin()) * slots +
                       static_cast<size_t>(c.modifier + 1);
    if (!have_best[fam] || rank_before(rec, best[fam])) {
      best[fam] = rec;
      have_best[fam] = true;
    }
    if (o.top > 0) {
      if (top.size() < o.top) {
        top.push(rec);
      } else if (rank_before(rec, top.top())) {
        top.pop();
        top.push(rec);
      }
    }
    chunk.push_back(rec);
    if (chunk.size() >= kChunk) flush();
  };
  for_each_candidate(s, [&](const SweepCandidate& plain) {
    evaluate(plain);
    const bool gqa_family = plain.variant == Variant::kMha || plain.variant == Variant::kMqa || plain.variant == Variant::kGqa;
    for (size_t i = 0; i < s.modifiers.size(); ++i) {
      if (s.modifiers[i].span.kind == SpanKind::kNsa && !gqa_family) continue;  // NSA's branches are GQA's
      SweepCandidate c = plain;
      c.modifier = static_cast<int32_t>(i);
      evaluate(c);
    }
  });
  flush();
  frontier = pareto(std::move(frontier));
  if (o.progress) o.progress(static_cast<int64_t>(r.evaluated), static_cast<int64_t>(r.evaluated));

  // Re-evaluate every reported design with the library's own figures; they must agree exactly.
  const std::vector<Hardware> cards =
      o.card ? std::vector<Hardware>{*o.card} : std::vector<Hardware>{};
  CapacityOptions co;
  co.context = o.context;
  co.convention = o.convention;
  auto report_design = [&](const Record& rec) {
    SweepDesign d;
    d.family = std::string(variant_name(rec.c.variant));
    if (rec.c.modifier >= 0) d.family += "+" + s.modifiers[static_cast<size_t>(rec.c.modifier)].text;
    d.model = candidate_model(rec.c, s);
    d.spec = d.model.spec;
    d.figures = compute_figures(d.model, co);
    d.attn_total_flops = checked_add(d.figures.attn_flops, d.figures.linear_flops, "flops");
    const FastFigures fast = fast_figures(rec.c, o);
    if (d.figures.ranks.ter != fast.ter || d.figures.ranks.slsd != fast.slsd ||
        d.figures.ranks.frh != fast.frh) {
      throw InternalError(figures_mismatch(d, "ranks"));
    }
    if (d.figures.kv_bytes_per_token != fast.kv_bytes_per_token) {
      throw InternalError(figures_mismatch(d, "KV bytes per token"));
    }
    if (d.figures.attn_params != fast.attn_params)
      throw InternalError(figures_mismatch(d, "params"));
    // Per device from fit's own sharding (shard_weights): exact for plain designs; under a
    // modifier both are products of the same doubles in another order (1e-12 relative).
    const TensorParallelWeights shards = shard_weights(d.model, o.tp, read_weight_format("bf16", "weights"), "tp");
    d.kv_bytes_per_token_per_device =
        shards.groups.front().kv_bytes_per_token_per_gpu * static_cast<double>(s.layers);
    const double gap = std::abs(d.kv_bytes_per_token_per_device - fast.kv_bytes_per_token_per_device);
    if (rec.c.modifier < 0 ? gap != 0 : gap > 1e-12 * d.kv_bytes_per_token_per_device) {
      throw InternalError(figures_mismatch(d, "KV bytes per token per device"));
    }
    if (d.figures.attn_flops != fast.attn_flops || d.figures.linear_flops != fast.linear_flops) {
      throw InternalError(figures_mismatch(d, "FLOPs"));
    }
    if (o.card) {
      const CostFigures cost = compute_cost(d.figures, cards, o.compute_dtype);
      d.attn_usd_per_mtok = cost.cards.front().attn_usd_per_mtok;
      if (d.attn_usd_per_mtok != fast.attn_usd_per_mtok) {
        throw InternalError(figures_mismatch(d, "cost"));
      }
    }
    switch (o.objective) {
      case SweepObjective::kTer:
        d.objective = static_cast<double>(d.figures.ranks.ter);
        break;
      case SweepObjective::kSlsd:
        d.objective = static_cast<double>(d.figures.ranks.slsd);
        break;
      case SweepObjective::kCost:
        d.objective = d.attn_usd_per_mtok;
        break;
    }
    return d;
  };
  for (const Record& rec : frontier) r.frontier.push_back(report_design(rec));
  for (size_t i = 0; i < best.size(); ++i) {
    if (have_best[i]) r.best.push_back(report_design(best[i]));
  }
  std::vector<Record> ranked;
  while (!top.empty()) {
    ranked.push_back(top.top());
    top.pop();
  }
  std::reverse(ranked.begin(), ranked.end());
  for (const Record& rec : ranked) r.ranked.push_back(report_design(rec));
  return r;
}

}  // namespace gmha
