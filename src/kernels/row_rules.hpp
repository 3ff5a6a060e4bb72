#pragma once
// Private to the reference (src/kernels/): the per-row rules every form of reference_forward
// applies to one head's scaled scores (sparse fill rules, sinks) and to its output (gates).
// Built once per forward from the weights, the options and x, so the three forms share the
// rules and differ only in how they compute scores and values.
#include <cstdint>
#include <vector>

#include "gmha/kernels/layer_weights.hpp"

namespace gmha::detail {

struct RowRules {
  SparseOptions sp;
  int64_t heads = 0;
  std::vector<double> sinks;        // one logit per head (gpt-oss); empty: none
  MatrixRM nsa_gates;               // [T, 3 * heads] sigmoid gate values; empty: all 1
  std::vector<double> cmp_alpha;    // [T] CSA/HCA pooling weight of each token in its block
  // Output gates before o_proj: [T, heads * width] (element-wise) or [T, heads] (head-wise).
  MatrixRM gate;
  int64_t gate_width = 0;           // width per head of `gate` (1: head-wise); 0: no gate

  /// In: s[0..i] the head's scaled scores of query i (-inf where LayerOptions::window masks).
  /// Out: the weights of values 0..i (they sum to 1, or less with a sink).
  void weights(int64_t head, int64_t i, std::vector<double>& s) const;
  /// Multiplies head `head`'s output at query i (width `n`) by its gate, in place.
  void apply_gate(int64_t head, int64_t i, double* out, int64_t n) const;
  bool element_gate() const { return gate_width > 1; }
};

/// The rules for this layer, input and options (checks the options; InputError naming the
/// field). `query_weights` receives the layer's weights with an element-wise gate's rows taken
/// out of q_proj (Qwen3-Next layout: per head h query rows, then h gate rows), so the forms read
/// q_proj as for an ungated layer.
RowRules make_row_rules(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, LayerWeights* query_weights);

/// Softmax over the finite entries of `s` and (when finite) one sink logit, in place; a row with
/// nothing to read stays all zero. The one softmax of every rule.
void softmax_with_sink(std::vector<double>& s, double sink);
/// Indices of the `k` largest of `score` (ties to the lower index), best first: every top-k
/// selection of the rules.
std::vector<int64_t> best_indices(const std::vector<double>& score, int64_t k);

}  // namespace gmha::detail
