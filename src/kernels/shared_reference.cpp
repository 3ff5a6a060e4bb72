// Shared-cache layers in the reference (docs/kernels.md, "Shared caches"): the reader's queries
// meet the owner's keys and values. The three forms run unchanged on one layer over the stacked
// input [x | x_owner] (width 2d): the reader's query-side weights read the first d columns, the
// owner's k_proj and v_proj the last d, every other block is zero. A zero block adds exact zeros,
// so the stacked layer computes exactly the reader over the owner's cache.
#include <string_view>

#include <fmt/format.h>

#include "gmha/core/error.hpp"
#include "gmha/kernels/reference.hpp"

namespace gmha {

MatrixRM reference_forward_shared(const LayerWeights& reader, const LayerWeights& owner, const MatrixRM& x,
                                  const MatrixRM& x_owner, const LayerOptions& o, AttentionForm form,
                                  DecodeCacheStats* stats) {
  check_layer_weights(reader, "shared-cache reader weights");
  check_layer_weights(owner, "shared-cache owner weights");
  const AttentionShape& r = reader.shape;
  const AttentionShape& w = owner.shape;
  auto gqa = [](const AttentionShape& s) {
    return s.variant == Variant::kMha || s.variant == Variant::kMqa || s.variant == Variant::kGqa;
  };
  if (!gqa(r) || !gqa(w)) throw InputError("shared cache: the reference shares MHA/MQA/GQA caches only");
  if (r.d_model != w.d_model || r.head_dim != w.head_dim || r.qkv_bias != w.qkv_bias || r.v_head_dim != w.v_head_dim || r.heads % w.kv_heads != 0) {
    throw InputError(fmt::format("shared cache: reader (d {}, h {}, {} heads) cannot read an owner's cache of "
                                 "(d {}, h {}, {} KV heads){}",
                                 r.d_model, r.head_dim, r.heads, w.d_model, w.head_dim, w.kv_heads,
                                 r.qkv_bias != w.qkv_bias ? ", bias flags differ" : ""));
  }
  if (x.rows() != x_owner.rows() || x_owner.cols() != w.d_model) {
    throw InputError(fmt::format("shared cache: owner input is [{}, {}], expected [{}, {}]", x_owner.rows(),
                                 x_owner.cols(), x.rows(), w.d_model));
  }
  const int64_t d = r.d_model;
  LayerWeights s;
  s.shape = r;
  s.shape.d_model = 2 * d;
  s.shape.kv_heads = w.kv_heads;
  s.shape.variant = w.kv_heads == r.heads ? Variant::kMha : (w.kv_heads == 1 ? Variant::kMqa : Variant::kGqa);
  auto left = [&](const MatrixRM& m) {  // reads x: [m | 0]
    MatrixRM out = MatrixRM::Zero(m.rows(), 2 * d);
    out.leftCols(d) = m;
    return out;
  };
  auto right = [&](const MatrixRM& m) {  // reads x_owner: [0 | m]
    MatrixRM out = MatrixRM::Zero(m.rows(), 2 * d);
    out.rightCols(d) = m;
    return out;
  };
  for (const auto& [name, t] : reader.tensors) {
    if (name == "k_proj" || name == "v_proj" || name == "k_proj.bias" || name == "v_proj.bias" || name == "k_norm") continue;
    // The cache's compressors and the indexer's keys are the owner's (below); the indexer's
    // query side reads x.
    if (name.rfind("compressor.", 0) == 0 || name.rfind("indexer.compressor.", 0) == 0 ||
        name.rfind("indexer.k", 0) == 0 || name == "indexer.wk") {
      continue;
    }
    const bool indexer_query = (name == "indexer.wq_b" || name == "indexer.weights_proj") && t.cols() == d;
    if (name == "q_proj" || name == "g_proj" || indexer_query) {
      s.tensors[name] = left(t);
    } else if (name == "o_proj") {
      MatrixRM out = MatrixRM::Zero(2 * d, t.cols());  // writes the first d outputs
      out.topRows(d) = t;
      s.tensors[name] = out;
    } else if (name == "o_proj.bias") {
      MatrixRM out = MatrixRM::Zero(2 * d, 1);
      out.topRows(d) = t.reshaped(t.size(), 1);
      s.tensors[name] = out;
    } else {
      s.tensors[name] = t;  // q_proj.bias, q_norm, sinks
    }
  }
  s.tensors["k_proj"] = right(owner.at("k_proj"));
  s.shape.kv_tied = w.kv_tied;  // the cache's values are the owner's: its own v_proj, or its keys
  if (!w.kv_tied) s.tensors["v_proj"] = right(owner.at("v_proj"));
  for (const char* n : {"k_proj.bias", "v_proj.bias", "k_norm", "compressor.ape", "compressor.norm"}) {
    if (w.kv_tied && std::string_view(n) == "v_proj.bias") continue;
    if (owner.has(n)) s.tensors[n] = owner.at(n);
  }
  // DeepSeek-V4's compressor writes the owner's compressed entries from the owner's x'.
  for (const char* n : {"indexer.compressor.ape", "indexer.compressor.norm", "indexer.k_norm", "indexer.k_norm.bias"}) {
    if (owner.has(n)) s.tensors[n] = owner.at(n);
  }
  for (const char* n : {"compressor.wkv", "compressor.wgate", "indexer.compressor.wkv", "indexer.compressor.wgate", "indexer.wk"}) {
    if (owner.has(n)) s.tensors[n] = right(owner.at(n));
  }
  if (reader.has("q_norm") != owner.has("k_norm")) {
    throw InputError("shared cache: reader and owner disagree on per-head q/k norms");
  }
  MatrixRM xs(x.rows(), 2 * d);
  xs << x, x_owner;
  // Gates of the rules read the stacked input too: NSA's (per query) the reader's x, the
  // compressor's (per cached token) the owner's x'.
  LayerOptions so = o;
  if (o.sparse.nsa.gate.size() > 0 && o.sparse.nsa.gate.cols() == d) so.sparse.nsa.gate = left(o.sparse.nsa.gate);
  if (o.sparse.compress.gate.size() > 0 && o.sparse.compress.gate.cols() == d) {
    so.sparse.compress.gate = right(o.sparse.compress.gate);
  }
  const MatrixRM y = reference_forward(s, xs, so, form, stats);
  if (stats) *stats = DecodeCacheStats{stats->tokens, 0, 0};  // the reader stores nothing
  return y.leftCols(d);
}

}  // namespace gmha
