#include "gmha/capacity/serving.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha {
namespace {

// Weight reads below this share of the step count as amortised (issue 15: "< 10 %").
constexpr double kAmortisedShare = 0.10;
// The largest batch the amortisation search tries (2^40): beyond it, "never".
constexpr int64_t kMaxBatch = int64_t{1} << 40;

// Query-key pairs of the causal mask over a prompt of T tokens for one layer: query t (1-based)
// sees min(t, cap) tokens under a window or top-k cap, its chunk so far under chunking, all t
// tokens otherwise (docs/capacity.md, prefill).
double causal_pairs(const AttentionSpan& span, double t) {
  auto triangle = [](double n) { return n * (n + 1) / 2; };
  switch (span.kind) {
    case SpanKind::kFull: return triangle(t);
    case SpanKind::kSlidingWindow:
    case SpanKind::kTopK: {
      const double w = static_cast<double>(span.tokens);
      return t <= w ? triangle(t) : triangle(w) + (t - w) * w;
    }
    case SpanKind::kChunked: {
      const double c = static_cast<double>(span.tokens);
      const double full = std::floor(t / c);
      return full * triangle(c) + triangle(t - full * c);
    }
    case SpanKind::kCompressed:
    case SpanKind::kNsa:
    case SpanKind::kMoba: {
      // Query t meets effective_tokens(span, t) entries (docs/designs.md, "Modifiers"): summed
      // over a prompt as the window's pairs plus the other branches' (capped) entries, here
      // integrated in closed form as caps on t / s (compressed), t / d, n l' (NSA), k B (MoBA).
      auto capped = [&](double rate, double cap) {  // sum over t of min(t * rate, cap)
        const double knee = cap / rate;
        return t <= knee ? rate * triangle(t) : rate * triangle(knee) + (t - knee) * cap;
      };
      auto window = [&](double w) { return w <= 0 ? 0.0 : t <= w ? triangle(t) : triangle(w) + (t - w) * w; };
      const double inf = 1e300;
      if (span.kind == SpanKind::kCompressed) {
        const double k = span.tokens > 0 ? static_cast<double>(span.tokens) : inf;
        return window(static_cast<double>(span.window)) + capped(1.0 / static_cast<double>(span.ratio), k);
      }
      if (span.kind == SpanKind::kNsa) {
        return window(static_cast<double>(span.window)) + capped(1.0 / static_cast<double>(span.ratio), inf) +
               capped(1.0, static_cast<double>(span.blocks * span.select_block));
      }
      return capped(1.0, static_cast<double>(span.blocks * span.block));
    }
  }
  return triangle(t);
}

struct StepTimes {
  double compute = 0;
  double weights = 0;  // weight reads alone, seconds
  double memory = 0;   // weights + caches, seconds
  double step() const { return std::max(compute, memory); }
};

StepTimes step_times(const ServingModel& s, const Hardware& card, int64_t batch) {
  const double tokens = static_cast<double>(batch) * static_cast<double>(s.decode_tokens);
  const double n = static_cast<double>(s.tp);
  StepTimes t;
  t.compute = tokens * s.flops_per_token / n / card.peak_flops(s.compute_dtype);
  t.weights = weight_bytes_read_per_device(s, tokens) / card.bandwidth;
  t.memory = t.weights +
             static_cast<double>(batch) * s.kv_read_bytes_per_sequence_per_device / card.bandwidth;
  return t;
}

bool amortised(const ServingModel& s, const Hardware& card, int64_t batch) {
  const StepTimes t = step_times(s, card, batch);
  return t.weights < kAmortisedShare * t.step();
}

// Weight time over step time falls as B grows (the weight read is concave in B, the cache read
// and compute linear), so the least amortised batch is found by doubling and bisection.
std::optional<int64_t> least_amortised_batch(const ServingModel& s, const Hardware& card) {
  if (amortised(s, card, 1)) return 1;
  int64_t hi = 2;
  while (hi < kMaxBatch && !amortised(s, card, hi)) hi *= 2;
  if (!amortised(s, card, hi)) return std::nullopt;
  int64_t lo = hi / 2;  // !amortised(lo), amortised(hi)
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (amortised(s, card, mid) ? hi : lo) = mid;
  }
  return hi;
}

}  // namespace

WeightFormat weights_of(const ModelDesign& m, const std::string& requested) {
  if (!requested.empty()) return read_weight_format(requested, "--weight-dtype");
  return default_weight_format(m);
}

double expected_experts_touched(int64_t routed, int64_t top_k, double tokens) {
  if (routed <= 0) return 0;
  const double e = static_cast<double>(routed);
  const double miss = 1.0 - static_cast<double>(top_k) / e;  // one token does not pick a given expert
  return e * (1.0 - std::pow(miss, tokens));
}

namespace {

// E[max of the M group loads] when exactly t of E = M s experts are touched, the touched set a
// uniform t-subset: P(max <= j) = [x^t] (sum_{i <= j} C(s, i) x^i)^M / C(E, t), and
// E[max] = sum_{j >= 0} (1 - P(max <= j)). Long double holds C(E, t) for E up to ~4000.
double busiest_group_exact(int64_t groups, int64_t per_group, int64_t t) {
  if (t <= 0) return 0;
  if (groups == 1) return static_cast<double>(t);
  using LD = long double;
  std::vector<LD> binom(static_cast<size_t>(per_group) + 1);  // C(s, i)
  binom[0] = 1;
  for (int64_t i = 1; i <= per_group; ++i) {
    binom[static_cast<size_t>(i)] = binom[static_cast<size_t>(i - 1)] *
                                    static_cast<LD>(per_group - i + 1) / static_cast<LD>(i);
  }
  const int64_t e = groups * per_group;
  const LD all = std::exp(std::lgamma(static_cast<LD>(e + 1)) - std::lgamma(static_cast<LD>(t + 1)) -
                          std::lgamma(static_cast<LD>(e - t + 1)));  // C(E, t)
  // Some group holds at least ceil(t / M): P(max <= j) = 0 below it.
  const int64_t lowest = (t + groups - 1) / groups;
  double expected = static_cast<double>(lowest);
  std::vector<LD> power, next;
  for (int64_t j = lowest; j < per_group; ++j) {
    // (sum_{i <= j} C(s, i) x^i)^M truncated at degree t, one factor at a time.
    power.assign(static_cast<size_t>(t) + 1, 0);
    power[0] = 1;
    for (int64_t m = 0; m < groups; ++m) {
      next.assign(static_cast<size_t>(t) + 1, 0);
      for (int64_t a = 0; a <= t; ++a) {
        const LD pa = power[static_cast<size_t>(a)];
        if (pa == 0) continue;
        for (int64_t i = 0; i <= j && a + i <= t; ++i) {
          next[static_cast<size_t>(a + i)] += pa * binom[static_cast<size_t>(i)];
        }
      }
      power.swap(next);
    }
    const double below = static_cast<double>(power[static_cast<size_t>(t)] / all);
    const double above = 1.0 - std::min(1.0, below);
    expected += above;
    if (above < 1e-15) break;  // the rest add nothing a double holds
  }
  return expected;
}

}  // namespace

double expected_busiest_group_experts(int64_t routed, int64_t groups, double touched) {
  if (routed <= 0 || touched <= 0) return 0;
  if (groups <= 1) return touched;
  if (routed % groups != 0) {
    throw InternalError(fmt::format("{} experts do not form {} groups", routed, groups));
  }
  const int64_t per_group = routed / groups;
  const double t = std::min(touched, static_cast<double>(routed));
  const auto lo = static_cast<int64_t>(std::floor(t));
  const double frac = t - static_cast<double>(lo);
  const double at_lo = busiest_group_exact(groups, per_group, lo);
  if (frac == 0) return at_lo;
  return at_lo + frac * (busiest_group_exact(groups, per_group, lo + 1) - at_lo);
}

double weight_bytes_read_per_device(const ServingModel& s, double tokens) {
  // Every rank stores E/N experts' worth (E/M experts at M/N each) and reads the share of the
  // touched ones it holds: all its E/M groups' touched experts; the busiest rank's count.
  double unread = 0;
  for (const GroupShard& g : s.shards) {
    if (g.routed_experts <= 0) continue;
    const double touched = expected_experts_touched(g.routed_experts, g.top_k, tokens);
    const double held = static_cast<double>(g.routed_experts) / static_cast<double>(g.expert_parallel);
    const double read = expected_busiest_group_experts(g.routed_experts, g.expert_parallel, touched);
    unread += static_cast<double>(g.layers) * (held - read) * g.expert_bytes_per_gpu;
  }
  return s.weight_bytes_per_device - s.input_embedding_bytes_per_device - unread;
}

double prefill_flops(const ModelDesign& m, const ModelFigures& f, int64_t prompt, Convention c) {
  if (prompt <= 0) throw errors::option_not_positive("context", prompt);
  const double t = static_cast<double>(prompt);
  const double head = m.vocab_size > 0 ? 2.0 * static_cast<double>(m.vocab_size) *
                                             static_cast<double>(m.d_model)
                                       : 0.0;
  double total = t * (static_cast<double>(f.linear_flops) + static_cast<double>(f.ffn_flops) + head);
  for (const GroupFigures& g : f.groups) {
    const AttentionShape& a = g.spec.attention;
    const double layers = static_cast<double>(g.layer_count);
    switch (mixer_kind(g.spec)) {
      case MixerKind::kNone: break;
      case MixerKind::kRecurrent:
        // A recurrent update costs the same per token whatever came before.
        total += layers * t * static_cast<double>(decode_attention_flops(a, 0, c));
        break;
      case MixerKind::kSoftmax: {
        // Decode FLOPs are linear in the tokens read: the cost of one query-key pair.
        const double pair = static_cast<double>(decode_attention_flops(a, 1, c));
        // The DSA indexer scores every earlier key: a full causal triangle.
        const double index_pair = static_cast<double>(indexer_flops(a, 1));
        total += layers * (pair * causal_pairs(g.spec.span, t) + index_pair * t * (t + 1) / 2);
        break;
      }
    }
  }
  return total;
}

ServingModel serving_model(const ModelDesign& m, const ModelFigures& f, const ServingOptions& o) {
  if (o.decode_tokens <= 0) throw errors::option_not_positive("decode-tokens", o.decode_tokens);
  const TensorParallelWeights w = shard_weights(m, o.tp, o.weights, "tp", o.ep);
  if (w.groups.size() != f.groups.size()) {
    throw InternalError(fmt::format("serving: {} layer groups in the figures, {} in the shard",
                                    f.groups.size(), w.groups.size()));
  }
  ServingModel s;
  s.tp = o.tp;
  s.ep = o.ep;
  s.decode_tokens = o.decode_tokens;
  s.context = f.context;
  s.compute_dtype = o.compute_dtype;
  s.weight_format = o.weights.name;
  s.weight_label = o.weights.label();
  s.head_flops_per_token =
      m.vocab_size > 0 ? 2.0 * static_cast<double>(m.vocab_size) * static_cast<double>(m.d_model) : 0.0;
  s.flops_per_token = static_cast<double>(f.attn_flops) + static_cast<double>(f.linear_flops) +
                      static_cast<double>(f.ffn_flops) + s.head_flops_per_token;
  s.weight_bytes_per_device = w.per_gpu;
  s.input_embedding_bytes_per_device = w.input_embedding_per_gpu;
  s.shards = w.groups;
  const double n = static_cast<double>(o.tp);
  for (size_t i = 0; i < f.groups.size(); ++i) {
    const GroupFigures& g = f.groups[i];
    // The share of each layer's cache a rank holds comes from the one sharding model
    // (fit.cpp: shard_weights): replication / N for GQA and MLA, and for GLA/GTA the split
    // latents or tied states plus the RoPE key every rank keeps (docs/capacity.md, parallelism).
    const GroupShard& shard = s.shards[i];
    const double share = g.kv_bytes_per_token_per_layer > 0
                             ? shard.kv_bytes_per_token_per_gpu / g.kv_bytes_per_token_per_layer
                             : static_cast<double>(shard.kv_replication) / n;
    const double state_share = g.state_bytes_per_layer > 0
                                   ? shard.state_bytes_per_gpu / g.state_bytes_per_layer
                                   : share;
    const double layers = static_cast<double>(g.layer_count);
    s.kv_bytes_per_token_per_device += layers * g.kv_bytes_per_token_per_layer * share;
    s.state_bytes_per_sequence_per_device += layers * g.state_bytes_per_layer * state_share;
    s.kv_read_bytes_per_sequence_per_device += g.decode_kv_bytes_read * share;
    s.kv_bytes_per_sequence_per_device += g.kv_bytes / static_cast<double>(f.batch) * share;
    if (mixer_kind(g.spec) == MixerKind::kSoftmax) {
      s.kv_replication = std::max(s.kv_replication, s.shards[i].kv_replication);
    }
  }
  if (s.kv_read_bytes_per_sequence_per_device > 0) {
    s.arithmetic_intensity_per_device = static_cast<double>(f.attn_flops) *
                                        static_cast<double>(o.decode_tokens) / n /
                                        s.kv_read_bytes_per_sequence_per_device;
  }
  s.prefill_flops = prefill_flops(m, f, f.context, Convention::kExact);
  return s;
}

ServingPoint serving_point(const ServingModel& s, const Hardware& card, int64_t batch) {
  if (batch <= 0) throw errors::option_not_positive("batch", batch);
  const double tokens = static_cast<double>(batch) * static_cast<double>(s.decode_tokens);
  const double n = static_cast<double>(s.tp);
  const double usd_per_second = card.usd_per_hour * n / 3600.0;  // the whole card group
  const StepTimes t = step_times(s, card, batch);
  ServingPoint p;
  p.card = card.name;
  p.batch = batch;
  p.tp = s.tp;
  p.ep = s.ep;
  p.compute_dtype = card.charged_dtype(s.compute_dtype);
  p.peak_flops_charged = card.peak_flops(s.compute_dtype);
  p.flops_per_step_per_device = tokens * s.flops_per_token / n;
  p.weight_bytes_per_device = s.weight_bytes_per_device;
  p.weight_bytes_read_per_step_per_device = weight_bytes_read_per_device(s, tokens);
  p.kv_bytes_read_per_step_per_device = static_cast<double>(batch) * s.kv_read_bytes_per_sequence_per_device;
  p.bytes_read_per_step_per_device = p.weight_bytes_read_per_step_per_device + p.kv_bytes_read_per_step_per_device;
  p.compute_seconds = t.compute;
  p.memory_seconds = t.memory;
  p.step_seconds = t.step();
  p.bound = t.memory > t.compute ? "memory" : "compute";
  p.tokens_per_second_per_device = tokens / p.step_seconds / n;
  p.usd_per_mtok = usd_per_second * p.step_seconds / tokens * 1e6;
  p.batch_weights_amortised = least_amortised_batch(s, card);
  // Prefill of one prompt of the context's length: compute at the charged peak plus one read of
  // the weights the prompt's tokens touch (docs/capacity.md, prefill).
  const double prompt = static_cast<double>(s.context);
  p.ttft_seconds = s.prefill_flops / n / p.peak_flops_charged +
                   weight_bytes_read_per_device(s, prompt) / card.bandwidth;
  p.prefill_usd_per_mtok = usd_per_second * p.ttft_seconds / prompt * 1e6;
  return p;
}

double memory_per_device(const ServingModel& s, int64_t batch) {
  return s.weight_bytes_per_device + static_cast<double>(batch) * s.kv_bytes_per_sequence_per_device;
}

int64_t largest_batch(const ServingModel& s, double usable_bytes) {
  const double room = usable_bytes - s.weight_bytes_per_device;
  if (room < 0) return 0;
  if (s.kv_bytes_per_sequence_per_device <= 0) return kMaxBatch;  // nothing grows with the batch
  return static_cast<int64_t>(std::min(std::floor(room / s.kv_bytes_per_sequence_per_device),
                                       static_cast<double>(kMaxBatch)));
}

}  // namespace gmha
