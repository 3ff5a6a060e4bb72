#include "gmha/capacity/fit.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "gmha/attention/weights.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"

namespace gmha {
namespace {

// Largest context the search tries (2^40 tokens); beyond it a model "fits any context".
constexpr int64_t kMaxContext = int64_t{1} << 40;

// Weight elements of one attention layer held by one rank (see the header for the rules).
double attention_elements_per_gpu(const LayerSpec& l, int64_t n, int64_t kv_per_gpu) {
  const AttentionShape& a = l.attention;
  double total = 0;
  for (const WeightTensor& w : layer_weights(l)) {
    const double e = static_cast<double>(w.elements());
    bool replicated = false;
    double per_gpu = e / static_cast<double>(n);
    // Fill-rule and indexer weights (compressors, index keys, NSA's phi, mHC mixing) produce
    // what every rank keeps or needs whole: replicated (docs/designs.md).
    const bool shared_part = w.name.rfind("compressor.", 0) == 0 || w.name.rfind("indexer.", 0) == 0 ||
                             w.name.rfind("nsa.phi", 0) == 0 || w.name.rfind("hc_", 0) == 0;
    switch (a.variant) {
      case Variant::kMha:
      case Variant::kMqa:
      case Variant::kGqa:
        if (w.name.rfind("k_proj", 0) == 0 || w.name.rfind("v_proj", 0) == 0 || w.name == "wkv" ||
            w.name == "kv_norm" || w.name.rfind("nsa.k_", 0) == 0 || w.name.rfind("nsa.v_", 0) == 0) {
          // Rows are g*h: each rank holds kv_per_gpu heads (a replica when g < N).
          per_gpu = e / static_cast<double>(a.kv_heads) * static_cast<double>(kv_per_gpu);
        }
        // DeepSeek-V4's compressed query down-projection is needed whole on every rank.
        replicated = shared_part || w.name == "q_a_proj" || w.name == "q_a_layernorm";
        break;
      case Variant::kMla:
        replicated = w.name == "q_a_proj" || w.name == "q_a_layernorm" ||
                     w.name == "kv_a_proj_with_mqa" || w.name == "kv_a_layernorm";
        break;
      case Variant::kMfa:
      case Variant::kMfaKr:
        replicated = w.name == "q_proj" || w.name == "inter_norm" || w.name == "k_proj" ||
                     w.name == "v_proj" || w.name == "kr_n" || w.name == "kr_alpha";
        break;
      case Variant::kGta:
        // The tied states split by KV head as GQA's k_proj; the one shared RoPE key replicates.
        if (w.name == "kv_proj") {
          per_gpu = e / static_cast<double>(a.kv_heads) * static_cast<double>(kv_per_gpu);
        }
        replicated = w.name == "k_rope_proj";
        break;
      case Variant::kGla:
        // Latent heads split as KV heads (each rank down-projects only its latents); the query
        // down-projection, the RoPE key rows and kv_a's norm are counted replicated (an upper
        // bound on the RoPE rows' share: docs/designs.md).
        if (w.name == "kv_a_proj_with_mqa" || w.name == "kv_a_layernorm") {
          per_gpu = e / static_cast<double>(a.kv_heads) * static_cast<double>(kv_per_gpu);
        }
        replicated = w.name == "q_a_proj" || w.name == "q_a_layernorm";
        break;
      case Variant::kFpba:
      case Variant::kLinear:
      case Variant::kTpa:   // refused by compute_fit before it gets here
      case Variant::kMtla:
        break;
    }
    total += replicated ? e : per_gpu;
  }
  return total;
}

}  // namespace

namespace {
// g streams over n ranks: split while g >= n (g % n == 0), replicated evenly below (n % g == 0).
bool streams_shard(int64_t g, int64_t n) { return g >= n ? g % n == 0 : n % g == 0; }
}  // namespace

bool kv_splits(const AttentionShape& a, int64_t n) {
  switch (a.variant) {
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa:
      return a.kv_heads <= 0 || streams_shard(a.kv_heads, n);
    case Variant::kGta:
    case Variant::kGla:
      return streams_shard(a.kv_heads, n);
    case Variant::kTpa:
    case Variant::kMtla:
      return n == 1;
    default:
      return true;
  }
}

int64_t kv_elements_per_gpu(const AttentionShape& a, const KvSplit& k) {
  const int64_t cached = attention_counts(a).cached_elements;
  switch (a.variant) {
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa:
      // The K and V streams hold kv heads each; a rank caches kv_heads_per_gpu of them.
      return k.kv_heads > 0 ? checked_mul(cached / k.kv_heads, k.kv_heads_per_gpu, "kv") : 0;
    case Variant::kGta:
    case Variant::kGla: {
      // A rank caches its tied states (GTA, d_h each) or latents (GLA, d_c each) and the RoPE key.
      const int64_t per_head = a.variant == Variant::kGla ? a.kv_lora_rank : a.head_dim;
      return checked_add(checked_mul(per_head, k.kv_heads_per_gpu, "kv"), a.qk_rope_dim, "kv");
    }
    default:
      return cached;  // MLA/MFA replicated whole; TPA, MTLA at N = 1
  }
}

KvSplit kv_split(const AttentionShape& a, int64_t n, const std::string& layers, const char* option) {
  KvSplit s;
  switch (a.variant) {
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa: {
      const int64_t kv = a.kv_heads;
      if (kv <= 0) return s;  // no mixer: nothing cached
      if (!streams_shard(kv, n)) {
        throw errors::bad_option(
            option, fmt::format("{}: {} KV heads neither split {} ways nor replicate "
                                "evenly (layers {})",
                                n, kv, n, layers));
      }
      s.kv_heads = kv;
      s.kv_heads_per_gpu = kv >= n ? kv / n : 1;
      s.replication = kv >= n ? 1 : n / kv;
      s.note = kv >= n ? fmt::format("{} KV heads per rank", s.kv_heads_per_gpu)
                       : fmt::format("g = {} < N: each KV head replicated on {} ranks", kv,
                                     s.replication);
      break;
    }
    case Variant::kMla:
    case Variant::kMfa:
    case Variant::kMfaKr:
      s.kv_heads = 1;
      s.kv_heads_per_gpu = 1;
      s.replication = n;
      s.note = n == 1 ? ""
               : a.variant == Variant::kMla ? "latent + RoPE key replicated on every rank"
                                            : "single K/V head replicated on every rank";
      break;
    case Variant::kGta:
    case Variant::kGla: {
      // GLA's point (Zadouri et al. 2025 §3.3; docs/designs.md): its h_c latent heads shard
      // across ranks like KV heads, where MLA's one latent replicates; GTA's tied states shard as
      // GQA's. The shared RoPE key (d_R) is on every rank.
      const int64_t kv = a.kv_heads;
      const char* what = a.variant == Variant::kGla ? "latent heads" : "KV heads";
      if (!streams_shard(kv, n)) {
        throw errors::bad_option(
            option, fmt::format("{}: {} {} neither split {} ways nor replicate evenly (layers {})",
                                n, kv, what, n, layers));
      }
      s.kv_heads = kv;
      s.kv_heads_per_gpu = kv >= n ? kv / n : 1;
      s.replication = kv >= n ? 1 : n / kv;
      s.note = fmt::format("{} {} per rank, RoPE key replicated", s.kv_heads_per_gpu,
                           a.variant == Variant::kGla ? "latent heads" : "tied KV heads");
      break;
    }
    case Variant::kTpa:
    case Variant::kMtla:
      if (n == 1) {  // one device holds everything: nothing to model
        s.kv_heads = s.kv_heads_per_gpu = 1;
        break;
      }
      // Not modelled: TPA's head factors could shard by head and its feature factors not;
      // MTLA's entries hold s tokens each. Refused rather than guessed.
      throw InputError(fmt::format("{} layers (layers {}) have no tensor-parallel model yet",
                                   variant_label(a.variant), layers));
    case Variant::kFpba:
    case Variant::kLinear:
      s.kv_heads = a.heads;
      s.kv_heads_per_gpu = a.heads / n;
      if (a.variant == Variant::kLinear) s.note = "fixed state, heads split";
      break;
  }
  return s;
}

namespace {
// One layer group's FFN bytes: `split` (dense matrices, routed and shared experts: split N ways)
// and the replicated router, each part at its own format (part_bytes sums a part over layers).
struct FfnBytes {
  double split = 0;
  double router = 0;
};
template <class PartBytes>
FfnBytes ffn_bytes(const FfnShape& f, int64_t d, const std::vector<int>& layers, PartBytes part_bytes,
                   double other) {
  const FfnParams fp = ffn_params(f, d);
  FfnBytes b;
  b.router = static_cast<double>(fp.router) * other * static_cast<double>(layers.size());
  if (f.kind == FfnKind::kDense) {
    b.split = static_cast<double>(fp.total) * part_bytes(WeightPart::kDenseFfn, layers);
  } else if (f.kind == FfnKind::kMoe) {
    const double routed = static_cast<double>(f.matrices) * static_cast<double>(d) *
                          static_cast<double>(f.expert_intermediate) * static_cast<double>(f.routed_experts);
    const double shared = static_cast<double>(fp.total - fp.router) - routed;
    b.split = routed * part_bytes(WeightPart::kRoutedExperts, layers) +
              shared * part_bytes(WeightPart::kSharedExperts, layers);
  }
  return b;
}
}  // namespace

TensorParallelWeights shard_weights(const ModelDesign& m, int64_t n, const WeightFormat& wf,
                                    const char* option, int64_t ep) {
  validate_model(m, m.name);
  if (n <= 0) throw errors::option_not_positive(option, n);
  if (ep <= 0) throw errors::option_not_positive("ep", ep);
  if (n % ep != 0) {
    throw errors::bad_option("ep", fmt::format("{}: expert groups must divide the {} devices of "
                                               "the card group (--{} {})",
                                               ep, n, option, n));
  }
  TensorParallelWeights r;
  // Bytes per weight of a part summed over a group's layers: a quantization_config may leave a
  // part, or one layer's part, in the model dtype (docs/capacity.md, "Mixed weight formats").
  auto part_bytes = [&](WeightPart p, const std::vector<int>& layers) {
    double b = 0;
    for (int l : layers) b += wf.bits_of(p, l) / 8.0;
    return b;
  };
  const double other = wf.other_bits() / 8.0;  // embeddings, routers, norms, extras
  const int64_t d = m.d_model;
  const double nd = static_cast<double>(n);
  double weight_bytes = 0;  // one rank
  double weight_bytes_all = 0;
  for (const LayerGroup& g : m.groups()) {
    const AttentionShape& a = g.spec.attention;
    const int64_t layers = static_cast<int64_t>(g.layers.size());
    GroupShard s;
    s.label = g.label();
    s.layers = layers;
    if (mixer_kind(g.spec) == MixerKind::kNone) {
      // No mixer: nothing cached or sharded by heads; its FFN splits N ways like any other.
      const FfnBytes fb = ffn_bytes(g.spec.ffn, d, g.layers, part_bytes, other);
      weight_bytes += fb.split / nd + fb.router;
      weight_bytes_all += fb.split + fb.router;
      r.groups.push_back(std::move(s));
      continue;
    }
    if (a.heads % n != 0) {
      throw errors::bad_option(option, fmt::format("{}: {} query heads of layers {} do not split {} ways",
                                                   n, a.heads, g.layer_list(), n));
    }
    const int bits = dtype_bits(g.spec.kv_dtype);
    const int64_t cached = attention_counts(a).cached_elements;  // one layer, all its streams
    const KvSplit k = kv_split(a, n, g.layer_list(), option);
    s.kv_heads = k.kv_heads;
    s.kv_heads_per_gpu = k.kv_heads_per_gpu;
    s.kv_replication = k.replication;
    s.note = k.note;
    switch (a.variant) {
      case Variant::kFpba:
      case Variant::kLinear:
        break;
      case Variant::kMtla: {
        // Only at N = 1 (kv_split refuses more): the whole cache; an MTLA entry holds s tokens.
        const double stride = static_cast<double>(std::max<int64_t>(1, a.temporal_stride));
        s.kv_bytes_per_token_per_gpu = static_cast<double>(kv_row_bits(g.spec, cached)) / 8.0 / stride;
        break;
      }
      default:
        // This rank's part of the row in the layer's KV layout (fp8_ds_mla rows are whole).
        s.kv_bytes_per_token_per_gpu =
            static_cast<double>(kv_row_bits(g.spec, kv_elements_per_gpu(a, k))) / 8.0;
        break;
    }
    switch (a.variant) {  // heads-split kinds
      case Variant::kFpba:
        s.kv_bytes_per_token_per_gpu =
            static_cast<double>(checked_mul(cached, bits, "kv")) / 8.0 / static_cast<double>(n);
        break;
      case Variant::kLinear:
        s.state_bytes_per_gpu =
            static_cast<double>(checked_mul(linear_state_elements(a), bits, "state")) / 8.0 /
            static_cast<double>(n);
        break;
      default:
        break;
    }
    const SpanKind sk = g.spec.span.kind;
    if (sk == SpanKind::kTopK || sk == SpanKind::kCompressed || sk == SpanKind::kNsa || sk == SpanKind::kMoba) {
      // A rank holds its share of every entry kind (stream entries, MoBA mean keys and index
      // keys in the stream's share); fill_counts counts them at T (kv_bytes_per_sequence_per_gpu).
      const double full_entry = static_cast<double>(kv_row_bits(g.spec, cached)) / 8.0;
      const double share = full_entry > 0 ? s.kv_bytes_per_token_per_gpu / full_entry : 0.0;
      const FillCounts rate = fill_counts(g.spec, 1, Convention::kExact);
      s.layer = g.spec;
      s.entry_bytes_per_gpu = s.kv_bytes_per_token_per_gpu;
      s.mean_key_bytes_per_gpu =
          sk == SpanKind::kMoba ? share * static_cast<double>(kv_row_bits(g.spec, stream_widths(a).keys)) / 8.0 : 0.0;
      s.index_key_bytes_per_gpu = share * static_cast<double>(index_key_bytes(a));
      s.kv_bytes_per_token_per_gpu = s.entry_bytes_per_gpu * rate.entries_per_token +
                                     s.mean_key_bytes_per_gpu * rate.mean_keys_per_token +
                                     s.index_key_bytes_per_gpu * rate.index_per_token;
    } else if (a.variant != Variant::kLinear && sk != SpanKind::kFull) {
      s.tokens_cap = g.spec.span.tokens;
    }
    const double attn_bytes = part_bytes(WeightPart::kAttention, g.layers);
    const double attn = attention_elements_per_gpu(g.spec, n, s.kv_heads_per_gpu) * attn_bytes;
    const double attn_all = static_cast<double>(attention_counts(g.spec).params) * attn_bytes;
    // Experts and dense matrices split N ways; the router (d x E) is replicated.
    const FfnBytes fb = ffn_bytes(g.spec.ffn, d, g.layers, part_bytes, other);
    if (g.spec.ffn.kind == FfnKind::kMoe && g.spec.ffn.routed_experts > 0) {
      const FfnShape& f = g.spec.ffn;
      if (f.routed_experts % ep != 0) {
        throw errors::bad_option(
            "ep", fmt::format("{}: {} routed experts of layers {} do not form {} equal groups", ep,
                              f.routed_experts, g.layer_list(), ep));
      }
      s.routed_experts = f.routed_experts;
      s.top_k = f.top_k;
      s.expert_parallel = ep;
      // A rank holds E/M experts, each split N/M ways: E/N experts' worth, as without EP.
      // Bytes of one expert on this rank, averaged over the group's layers.
      s.expert_bytes_per_gpu = static_cast<double>(f.matrices) * static_cast<double>(d) *
                               static_cast<double>(f.expert_intermediate) *
                               static_cast<double>(ep) / nd *
                               part_bytes(WeightPart::kRoutedExperts, g.layers) / static_cast<double>(layers);
    }
    weight_bytes += attn + fb.split / nd + fb.router;
    weight_bytes_all += attn_all + fb.split + fb.router;
    r.groups.push_back(std::move(s));
  }
  // Embeddings split over the vocabulary; RMSNorms (two per layer and the final one) replicated,
  // and so are the small per-layer-input projections and Gemma 3n's AltUp and LAuReL weights.
  // The untied output head is a Linear a method may quantize; the input tables are lookups.
  const double table = m.vocab_size > 0 ? static_cast<double>(m.vocab_size) * static_cast<double>(d) : 0.0;
  const double head = m.tied_embeddings ? 0.0 : table * wf.bits_of(WeightPart::kOutputHead, -1) / 8.0;
  const double embed = table * other + head + static_cast<double>(per_layer_embedding_params(m)) * other;
  const double norms = (static_cast<double>(norm_params(m)) + static_cast<double>(per_layer_input_params(m)) +
                        static_cast<double>(altup_laurel_params(m))) * other;
  weight_bytes += embed / nd + norms;
  weight_bytes_all += embed + norms;
  r.per_gpu = weight_bytes;
  r.total = weight_bytes_all;
  // A tied embedding is the output head too, read every step; an untied input one is a lookup.
  if (m.vocab_size > 0 && !m.tied_embeddings) r.input_embedding_per_gpu = table / nd * other;
  // The per-layer embedding table is a lookup as well: a few rows read per token.
  r.input_embedding_per_gpu += static_cast<double>(per_layer_embedding_params(m)) / nd * other;
  return r;
}

FitResult compute_fit(const ModelDesign& m, const FitOptions& o) {
  validate_model(m, m.name);
  const int64_t n = o.gpus;
  if (n <= 0) throw errors::option_not_positive("gpus", n);
  if (o.batch <= 0) throw errors::option_not_positive("batch", o.batch);
  if (o.context <= 0) throw errors::option_not_positive("context", o.context);
  if (!(o.memory_fraction > 0 && o.memory_fraction <= 1)) {
    throw errors::bad_option("memory-fraction", fmt::format("{} is not in (0, 1]", o.memory_fraction));
  }
  FitResult r;
  r.gpus = n;
  r.memory_per_gpu = o.memory_per_gpu ? *o.memory_per_gpu : o.card.memory_bytes;
  if (!(r.memory_per_gpu > 0) || !std::isfinite(r.memory_per_gpu)) {
    throw errors::bad_option(
        "memory", fmt::format("card {} has no memory size; give one (bytes per GPU)", o.card.name));
  }
  r.usable_per_gpu = r.memory_per_gpu * o.memory_fraction;
  TensorParallelWeights w = shard_weights(m, n, o.weights, "gpus", o.expert_parallel);
  r.expert_parallel = o.expert_parallel;
  r.weights_per_gpu = w.per_gpu;
  r.weights_total = w.total;
  r.input_embedding_per_gpu = w.input_embedding_per_gpu;
  r.groups = std::move(w.groups);
  r.model_max_context = m.max_context;
  r.weights_fit = r.weights_per_gpu <= r.usable_per_gpu;
  r.kv_budget_per_gpu = r.weights_fit ? r.usable_per_gpu - r.weights_per_gpu : 0;

  const double per_seq = kv_bytes_per_sequence_per_gpu(r, o.context);
  r.kv_per_gpu = per_seq * static_cast<double>(o.batch);
  r.free_per_gpu = r.usable_per_gpu - r.weights_per_gpu - r.kv_per_gpu;
  if (r.weights_fit && per_seq > 0) {
    r.max_batch = static_cast<int64_t>(std::min(std::floor(r.kv_budget_per_gpu / per_seq), 9.2e18));
  }
  // Longest context at the batch: KV grows monotonically with T, so bisect on it.
  auto fits = [&](int64_t t) {
    return r.weights_fit && kv_bytes_per_sequence_per_gpu(r, t) * static_cast<double>(o.batch) <=
                                r.kv_budget_per_gpu;
  };
  if (fits(kMaxContext)) {
    r.max_context = std::nullopt;
  } else if (!fits(1)) {
    r.max_context = 0;
  } else {
    int64_t lo = 1, hi = kMaxContext;  // fits(lo), !fits(hi)
    while (hi - lo > 1) {
      const int64_t mid = lo + (hi - lo) / 2;
      (fits(mid) ? lo : hi) = mid;
    }
    r.max_context = lo;
  }
  // Past max_position_embeddings the model is untrained (RoPE scaling aside): the longest
  // context the model serves is the smaller of the two, and the table says which bound.
  if (m.max_context > 0 && (!r.max_context || *r.max_context > m.max_context)) {
    r.max_context = m.max_context;
    r.capped_at_model_max = true;
  }
  return r;
}

double kv_bytes_per_sequence_per_gpu(const FitResult& f, int64_t context) {
  double total = 0;
  for (const GroupShard& g : f.groups) {
    if (g.entry_bytes_per_gpu > 0) {
      const FillCounts fc = fill_counts(g.layer, context, Convention::kExact);
      total += static_cast<double>(g.layers) *
               (g.entry_bytes_per_gpu * static_cast<double>(fc.stored) +
                g.mean_key_bytes_per_gpu * static_cast<double>(fc.mean_keys) +
                g.index_key_bytes_per_gpu * static_cast<double>(fc.index_stored) + g.state_bytes_per_gpu);
      continue;
    }
    const int64_t tokens = g.tokens_cap > 0 ? std::min(context, g.tokens_cap) : context;
    total += static_cast<double>(g.layers) *
             (g.kv_bytes_per_token_per_gpu * static_cast<double>(tokens) + g.state_bytes_per_gpu);
  }
  return total;
}

KvGrowth kv_growth_per_sequence_per_gpu(const FitResult& f) {
  // Past every window, chunk and NSA block, each layer's kept entries are a fixed part plus
  // floor-divisions of T by its strides: one period P (their lcm) later exactly P / stride more.
  int64_t period = 1, caps = 0;
  for (const GroupShard& g : f.groups) {
    caps = std::max(caps, g.tokens_cap);
    if (g.entry_bytes_per_gpu <= 0) continue;
    const AttentionSpan& sp = g.layer.span;
    caps = std::max({caps, sp.window, sp.block, sp.tokens});
    for (const int64_t stride : {sp.ratio, sp.block, tokens_per_cache_entry(g.layer.attention)}) {
      if (stride > 1) period = std::lcm(period, stride);
    }
  }
  KvGrowth k;
  k.period = period;
  k.from_context = checked_mul(caps / period + 1, period, "context");  // a multiple of P above every cap
  const double at = kv_bytes_per_sequence_per_gpu(f, k.from_context);
  const double later = kv_bytes_per_sequence_per_gpu(f, checked_add(k.from_context, period, "context"));
  k.per_token = (later - at) / static_cast<double>(period);
  k.fixed = at - k.per_token * static_cast<double>(k.from_context);
  return k;
}

std::optional<double> moe_sparsity(const ModelDesign& m) {
  for (const LayerGroup& g : m.groups()) {
    const FfnShape& f = g.spec.ffn;
    if (f.kind != FfnKind::kMoe) continue;
    return static_cast<double>(f.top_k + f.shared_experts) /
           static_cast<double>(f.routed_experts + f.shared_experts);
  }
  return std::nullopt;
}

}  // namespace gmha
