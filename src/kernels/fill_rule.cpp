#include "gmha/kernels/fill_rule.hpp"

#include <random>

#include <fmt/format.h>

#include "gmha/core/error.hpp"
#include "gmha/kernels/sparse.hpp"

namespace gmha {
namespace {
MatrixRM seeded_matrix(int64_t rows, int64_t cols, std::mt19937_64& rng) {
  std::normal_distribution<double> n(0.0, 1.0);
  MatrixRM m(rows, cols);
  for (auto& v : m.reshaped()) v = n(rng);
  return m;
}
}  // namespace

void apply_fill_rule(const AttentionSpan& span, const LayerWeights& w, const MatrixRM& x, LayerOptions& o,
                     uint64_t seed) {
  std::mt19937_64 rng(seed);
  const AttentionShape& s = w.shape;
  const int64_t T = x.rows();
  switch (span.kind) {
    case SpanKind::kFull: return;
    case SpanKind::kSlidingWindow: o.window = span.tokens; return;
    case SpanKind::kChunked:
      throw InputError(fmt::format("reference attention: chunked attention (chunk {}) is not modelled",
                                   span.tokens));
    case SpanKind::kTopK: {
      if (s.index_heads > 0 && s.variant == Variant::kMla) {
        o.sparse.topk = top_k_selection(dsa_index_scores(w, x, o), span.tokens);
      } else {
        // No DSA indexer reference here (it is MLA's): the selection is an input of the rule,
        // a seeded one.
        MatrixRM scores = seeded_matrix(T, T, rng);
        o.sparse.topk = top_k_selection(scores, span.tokens);
      }
      return;
    }
    case SpanKind::kMoba: o.sparse.moba = {span.block, span.blocks}; return;
    case SpanKind::kNsa: {
      // With the branch weights (random_layer_weights over the LayerSpec, a checkpoint) the
      // reference runs the paper's NSA and the gate is the layer's nsa.gate; without them, the
      // pooled frame with the mean and a seeded gate.
      const bool branches = w.has("nsa.gate");
      o.sparse.nsa = {span.block, span.ratio, span.blocks, span.select_block, span.window, {},
                      branches ? w.at("nsa.gate") : seeded_matrix(3 * s.heads, s.d_model, rng), 7u};
      return;
    }
    case SpanKind::kCompressed:
      // A layer holding V4's compressor (has_v4_compressor) computes its entries from it; other
      // layers pool their own keys with a seeded gate. The selection of CSA's entries is the
      // head's own entry scores either way (the indexer's compressor is not run).
      o.sparse.compress = {span.ratio, span.window,
                           has_v4_compressor(w) ? MatrixRM() : seeded_matrix(1, s.d_model, rng),
                           {}, span.tokens, {}};
      return;
  }
}

}  // namespace gmha
