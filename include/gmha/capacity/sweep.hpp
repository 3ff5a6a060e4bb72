#pragma once
// Design-space sweep (issue 6, `gmha sweep`): enumerate attention designs of one width d and depth
// L over variant families and shape grids, filter them by budgets, keep the Pareto frontier of
// (TER up, KV bytes per token down, attention FLOPs per token down) and the best design per
// family under an objective.
//
// Candidates are evaluated by a fast path (a few integer products per design, no allocation) that
// reproduces compute_figures/compute_cost formula for formula. Every design that is reported is
// re-evaluated with compute_figures on the ModelDesign its spec string parses to, and the two
// must agree exactly (a mismatch is an InternalError, exit 3, never a silently wrong row); tests also
// compare the two on samples of whole spaces.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gmha/attention/model.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/hardware.hpp"

namespace gmha {

/// What "best" means. kTer and kSlsd are maximised; kCost (attention $ per 1M decoded tokens on
/// `SweepSpace::card` at the context) is minimised. Ties: smaller KV, fewer FLOPs, fewer params.
enum class SweepObjective { kTer, kSlsd, kCost };

/// A fill-rule modifier applied to every candidate: its design-grammar text ("" = none), the
/// fill rule and the indexer it sets.
struct SweepModifier {
  std::string text;
  AttentionSpan span;
  int64_t index_heads = 0;
  int64_t index_dim = 0;
};
/// Parses "none" or a design-grammar fragment of fill-rule keys only (topk, index_heads,
/// index_dim, compress, window, nsa, moba); InputError (option "modifier") otherwise.
SweepModifier parse_sweep_modifier(const std::string& text);

/// The grids a sweep enumerates. Every list is a set of candidate values (sorted, unique).
struct SweepSpace {
  int64_t d_model = 0;
  int64_t layers = 0;
  std::vector<Variant> families;     // subset of mha, gqa, mqa, mla, mfa, mfa-kr, gta, gla, tpa
  std::vector<int64_t> heads;        // n (GQA family) and m (MLA, MFA)
  std::vector<int64_t> head_dims;    // h of MHA/GQA/MQA
  std::vector<int64_t> mla_latents;  // C = kv_lora_rank
  std::vector<int64_t> mla_nope;     // qk_nope_head_dim (v_head_dim = nope)
  std::vector<int64_t> mla_rope;     // qk_rope_head_dim (0 allowed)
  std::vector<int64_t> mla_q_lora;   // q_lora_rank (0 = plain q_proj)
  std::vector<int64_t> mfa_dims;     // C of MFA / MFA-KR (one K/V head of width C)
  std::vector<int64_t> mfa_q_share;  // C_q
  // The 2025 designs (docs/designs.md). GTA reuses heads and head_dims (d_R = h / 2, every
  // divisor h_kv of the heads); GLA reuses the MLA grids with h_c latent heads of C each;
  // TPA (contextual) reuses heads and head_dims with R_K, R_V from tpa_ranks and R_Q from
  // tpa_q_ranks.
  std::vector<int64_t> gla_latent_heads;  // h_c (each must divide the heads to be enumerated)
  std::vector<int64_t> tpa_ranks;         // R_K and R_V
  std::vector<int64_t> tpa_q_ranks;       // R_Q
  // Fill-rule modifiers (docs/designs.md, "Modifiers"; docs/sweep.md): every candidate is also
  // enumerated with each (top-k selection, CSA/HCA compression, NSA on the GQA family, MoBA).
  // Empty: plain full attention only. parse_sweep_modifier builds one.
  std::vector<SweepModifier> modifiers;
  DType kv_dtype = DType::kBF16;
};

/// The default grids for a width d (documented in docs/sweep.md): heads 1-256; h in
/// {64, 80, 96, 128, 160, 192, 256}; MLA C 64-1024 step 64, nope {64, 128, 192}, rope {0, 32, 64},
/// q_lora {0, 768, 1536, 3072}; MFA C 32-1024 step 32, C_q 256-8192 step 256 (C_q <= d kept).
SweepSpace default_sweep_space(int64_t d_model, int64_t layers);

struct SweepBudgets {
  std::optional<double> max_kv_bytes_per_token;  // all layers, at the space's KV dtype
  // All layers, what one device of the TP group caches per token (SweepOptions::tp; capacity/
  // fit.hpp's kv_split: GLA's latent heads shard, MLA's latent replicates).
  std::optional<double> max_kv_bytes_per_token_per_device;
  std::optional<int64_t> max_attn_params;        // all layers
  std::optional<int64_t> max_attn_flops;         // core + projections, per decoded token at T
  std::optional<int64_t> min_ter;                // capacity floor (makes cost objectives useful)
};

struct SweepOptions {
  SweepSpace space;
  SweepBudgets budgets;
  int64_t context = 8192;
  // Tensor-parallel degree N (docs/sweep.md, "Tensor parallelism"): candidates whose heads or
  // KV streams do not shard N ways (or with no TP model: TPA) are skipped, and the frontier's KV
  // axis is the KV per token per device. N = 1: the per-token frontier.
  int64_t tp = 1;
  Convention convention = Convention::kExact;
  SweepObjective objective = SweepObjective::kTer;
  std::optional<Hardware> card;  // required for kCost
  ComputeDType compute_dtype = ComputeDType::kBf16;  // the peak the cost charges (as compare)
  size_t top = 10;               // length of the overall ranking
  /// Called now and then with (designs evaluated, designs in the space); may be empty.
  std::function<void(int64_t, int64_t)> progress;
};

/// A reported design with its figures (from compute_figures on the parsed spec).
struct SweepDesign {
  std::string family;  // variant_name: mha, gqa, ...
  std::string spec;    // --design string that reproduces it
  ModelDesign model;
  ModelFigures figures;
  int64_t attn_total_flops = 0;  // figures.attn_flops + figures.linear_flops
  double kv_bytes_per_token_per_device = 0;  // at SweepOptions::tp, from shard_weights (= per token at 1)
  double attn_usd_per_mtok = 0;  // attention cost on the card (0 without a card)
  double objective = 0;          // the objective's value (TER, SLSD or $/1M tokens)
};

struct SweepResult {
  uint64_t evaluated = 0;             // designs enumerated and evaluated
  uint64_t feasible = 0;              // designs within every budget
  uint64_t unsharded = 0;             // designs skipped because they do not shard tp ways
  std::vector<SweepDesign> frontier;  // Pareto-optimal designs, by KV bytes per token (per device at tp) ascending
  std::vector<SweepDesign> best;      // best feasible design per family, in family order
  std::vector<SweepDesign> ranked;    // the `top` best feasible designs overall
};

/// Number of designs the space enumerates (checked; InputError when it overflows).
uint64_t sweep_space_size(const SweepSpace& space);

/// Runs the sweep. Throws InputError for an impossible space (d or layers not positive, an empty
/// grid, a grid value not positive, a cost objective without a card, a space over 10^9 designs;
/// the CLI caps it lower with --max-designs).
SweepResult run_sweep(const SweepOptions& options);

/// Parses "mha,gqa,mqa,mla,mfa,mfa-kr" (or "all"); InputError names the unknown family.
std::vector<Variant> parse_families(const std::string& text);

/// Parses "ter", "slsd" or "cost:CARD" (card is a built-in name); InputError otherwise.
SweepObjective parse_objective(const std::string& text, std::optional<Hardware>& card);

// --- exposed for tests and the benchmark -------------------------------------------------------

/// One enumerated candidate, as compact integers.
struct SweepCandidate {
  Variant variant = Variant::kGqa;
  int32_t heads = 0, kv_heads = 0, head_dim = 0;       // GQA family; MFA: head_dim = C
  int32_t latent = 0, nope = 0, rope = 0, q_lora = 0;  // MLA (v = nope)
  int32_t q_share = 0;                                 // MFA C_q
  int32_t tpa_rq = 0, tpa_rk = 0, tpa_rv = 0;          // TPA ranks (GLA: kv_heads = h_c)
  int32_t modifier = -1;                               // index into SweepSpace::modifiers, -1: none
};

/// Figures of a candidate by the fast path (what the sweep selects on).
struct FastFigures {
  int64_t ter = 0, slsd = 0, frh = 0;
  int64_t kv_bits_per_token = 0;  // all layers (exact; int4 is 4 bits)
  double kv_bytes_per_token = 0;  // all layers
  bool shards = true;             // heads and KV streams split SweepOptions::tp ways
  int64_t kv_bits_per_token_per_device = 0;  // all layers, one device at tp (exact when unmodified)
  double kv_bytes_per_token_per_device = 0;  // all layers, one device at tp
  int64_t attn_params = 0;        // all layers
  int64_t attn_flops = 0;         // core, all layers, at T
  int64_t linear_flops = 0;       // projections, all layers
  double attn_usd_per_mtok = 0;   // with a card
};
FastFigures fast_figures(const SweepCandidate& c, const SweepOptions& o);
/// The ModelDesign a candidate stands for (built through parse_design_spec of its spec string).
ModelDesign candidate_model(const SweepCandidate& c, const SweepSpace& s);
/// Calls `visit(candidate)` for every candidate of the space, in a fixed order.
template <class F>
void for_each_candidate(const SweepSpace& s, F&& visit);

template <class F>
void for_each_candidate(const SweepSpace& s, F&& visit) {
  SweepCandidate c;
  for (Variant v : s.families) {
    c = SweepCandidate{};
    c.variant = v;
    switch (v) {
      case Variant::kMha:
      case Variant::kMqa:
      case Variant::kGqa:
        for (int64_t n : s.heads) {
          for (int64_t h : s.head_dims) {
            c.heads = static_cast<int32_t>(n);
            c.head_dim = static_cast<int32_t>(h);
            if (v == Variant::kMha || v == Variant::kMqa) {
              c.kv_heads = v == Variant::kMha ? c.heads : 1;
              visit(c);
              continue;
            }
            // GQA proper: every divisor g of n with 1 < g < n (g = 1 is MQA, g = n is MHA).
            for (int64_t g = 2; g < n; ++g) {
              if (n % g != 0) continue;
              c.kv_heads = static_cast<int32_t>(g);
              visit(c);
            }
          }
        }
        break;
      case Variant::kMfa:
      case Variant::kMfaKr:
        for (int64_t m : s.heads)
          for (int64_t dim : s.mfa_dims)
            for (int64_t cq : s.mfa_q_share) {
              c.heads = static_cast<int32_t>(m);
              c.kv_heads = 1;
              c.head_dim = static_cast<int32_t>(dim);
              c.q_share = static_cast<int32_t>(cq);
              visit(c);
            }
        break;
      case Variant::kGta:
        // d_R as Zadouri et al. (half of each head); h_kv every divisor of n.
        for (int64_t n : s.heads)
          for (int64_t h : s.head_dims)
            for (int64_t g = 1; g <= n; ++g) {
              if (n % g != 0 || h < 2) continue;
              c.heads = static_cast<int32_t>(n);
              c.kv_heads = static_cast<int32_t>(g);
              c.head_dim = static_cast<int32_t>(h);
              c.rope = static_cast<int32_t>(gta_default_rope_dim(h));
              visit(c);
            }
        break;
      case Variant::kMla:
      case Variant::kGla: {
        // MLA is the one-latent case; GLA takes every h_c of its grid that divides the heads.
        static const std::vector<int64_t> kOneLatent{1};
        const std::vector<int64_t>& latent_heads = v == Variant::kMla ? kOneLatent : s.gla_latent_heads;
        for (int64_t n : s.heads)
          for (int64_t hc : latent_heads) {
            if (n % hc != 0) continue;
            for (int64_t lat : s.mla_latents)
              for (int64_t nope : s.mla_nope)
                for (int64_t rope : s.mla_rope)
                  for (int64_t ql : s.mla_q_lora) {
                    c.heads = static_cast<int32_t>(n);
                    c.kv_heads = static_cast<int32_t>(hc);
                    c.latent = static_cast<int32_t>(lat);
                    c.nope = static_cast<int32_t>(nope);
                    c.rope = static_cast<int32_t>(rope);
                    c.q_lora = static_cast<int32_t>(ql);
                    visit(c);
                  }
          }
        break;
      }
      case Variant::kTpa:
        for (int64_t n : s.heads)
          for (int64_t h : s.head_dims)
            for (int64_t rq : s.tpa_q_ranks)
              for (int64_t rk : s.tpa_ranks)
                for (int64_t rv : s.tpa_ranks) {
                  c.heads = c.kv_heads = static_cast<int32_t>(n);
                  c.head_dim = static_cast<int32_t>(h);
                  c.tpa_rq = static_cast<int32_t>(rq);
                  c.tpa_rk = static_cast<int32_t>(rk);
                  c.tpa_rv = static_cast<int32_t>(rv);
                  visit(c);
                }
        break;
      default:
        break;
    }
  }
}

}  // namespace gmha
