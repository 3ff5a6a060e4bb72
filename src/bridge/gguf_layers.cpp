#include "gguf_layers.hpp"

#include <fmt/format.h>

#include <set>

#include "gmha/core/error.hpp"

namespace gmha::gguf_layers {

namespace {

// The keys llama.cpp reads per layer with get_key_or_arr (one value, or one per layer).
constexpr const char* kPerLayerInts[] = {"attention.head_count", "attention.head_count_kv",
                                         "feed_forward_length"};

int64_t as_int(const nlohmann::json& v, const std::string& what) {
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(v.get<uint64_t>());
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  throw InputError(fmt::format("{} is not an integer", what));
}

std::string arch_of(const nlohmann::json& m) {
  if (!m.contains("general.architecture") || !m["general.architecture"].is_string()) return "";
  return m["general.architecture"].get<std::string>();
}

// The per-layer values of `key` when it is an array: its length checked against the layers.
std::optional<std::vector<int64_t>> per_layer(const nlohmann::json& m, const std::string& key, size_t layers,
                                              const std::string& where) {
  if (!m.contains(key) || !m[key].is_array()) return std::nullopt;
  const nlohmann::json& a = m[key];
  if (a.size() != layers) {
    throw InputError(fmt::format("{}: {} has {} entries for {} layers", where, key, a.size(), layers));
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < a.size(); ++i) {
    out.push_back(as_int(a[i], fmt::format("{}: {}[{}]", where, key, i)));
    if (out.back() < 0) throw errors::not_positive(where, fmt::format("{}[{}]", key, i), out.back());
  }
  return out;
}

}  // namespace

nlohmann::json with_scalar_layers(const nlohmann::json& metadata) {
  nlohmann::json m = metadata;
  const std::string p = arch_of(m) + ".";
  for (const char* k : kPerLayerInts) {
    const std::string key = p + k;
    if (!m.contains(key) || !m[key].is_array()) continue;
    // The first layer with the value set stands for all in the Hugging Face config; apply()
    // then sets every layer's own value.
    int64_t first = 0;
    for (const auto& v : m[key]) {
      if (v.is_number_integer() && v.get<int64_t>() > 0) { first = v.get<int64_t>(); break; }
    }
    if (first == 0) {
      // No layer has one (every layer without attention or FFN): any positive stand-in, replaced.
      first = std::string(k) == "attention.head_count_kv" && m.contains(p + "attention.head_count") &&
                      m[p + "attention.head_count"].is_number_integer()
                  ? m[p + "attention.head_count"].get<int64_t>()
                  : 1;
    }
    m[key] = first;
  }
  return m;
}

bool has_per_layer_metadata(const nlohmann::json& metadata) {
  const std::string p = arch_of(metadata) + ".";
  for (const char* k : kPerLayerInts) {
    if (metadata.contains(p + k) && metadata[p + k].is_array()) return true;
  }
  return metadata.contains(p + "attention.sliding_window_pattern") ||
         metadata.contains(p + "attention.shared_kv_layers");
}

void apply(const nlohmann::json& m, ModelDesign& model, const std::string& where) {
  const std::string p = arch_of(m) + ".";
  const size_t n = model.layers.size();
  const auto heads = per_layer(m, p + "attention.head_count", n, where);
  const auto kv = per_layer(m, p + "attention.head_count_kv", n, where);
  const auto ffn = per_layer(m, p + "feed_forward_length", n, where);
  for (size_t i = 0; i < n; ++i) {
    LayerSpec& l = model.layers[i];
    AttentionShape& a = l.attention;
    if (ffn) {
      if ((*ffn)[i] == 0) l.ffn = {};
      else l.ffn.intermediate = (*ffn)[i];
    }
    if (heads) a.heads = (*heads)[i];
    if (kv) a.kv_heads = (*kv)[i];
    if ((heads && (*heads)[i] == 0) || (kv && (*kv)[i] == 0)) {
      // DeciLM-style blocks without attention (llama.cpp: n_head_kv(il) = 0).
      l.has_mixer = false;
      continue;
    }
    if (heads || kv) {
      if (a.heads % a.kv_heads != 0) {
        throw InputError(fmt::format("{}: layer {}: head_count {} is not divisible by head_count_kv {}",
                                     where, i, a.heads, a.kv_heads));
      }
      a.variant = a.kv_heads == a.heads ? Variant::kMha : a.kv_heads == 1 ? Variant::kMqa : Variant::kGqa;
    }
  }
  // Sliding layers: sliding_window_pattern as one flag per layer (true = sliding), or as a period
  // p (llama.cpp's set_swa_pattern: layer i slides unless (i + 1) % p == 0); the window is
  // <arch>.attention.sliding_window.
  const std::string swp = p + "attention.sliding_window_pattern";
  if (m.contains(swp)) {
    if (!m.contains(p + "attention.sliding_window")) throw errors::missing_field(where, p + "attention.sliding_window");
    const int64_t window = as_int(m[p + "attention.sliding_window"], where + ": " + p + "attention.sliding_window");
    if (window <= 0) throw errors::not_positive(where, p + "attention.sliding_window", window);
    std::vector<int64_t> sliding;
    if (m[swp].is_array()) {
      sliding = *per_layer(m, swp, n, where);
    } else {
      const int64_t period = as_int(m[swp], where + ": " + swp);
      if (period <= 0) throw errors::not_positive(where, swp, period);
      for (size_t i = 0; i < n; ++i) sliding.push_back((static_cast<int64_t>(i) + 1) % period != 0);
    }
    for (size_t i = 0; i < n; ++i) {
      model.layers[i].span = sliding[i] ? AttentionSpan{SpanKind::kSlidingWindow, window} : AttentionSpan{};
    }
  }
  // shared_kv_layers = N: the last N layers store no cache and read the nearest earlier layer
  // with its own cache and the same fill rule (llama.cpp's Gemma 3n: the last sliding and the
  // last full layer before them).
  const std::string shared_key = p + "attention.shared_kv_layers";
  if (m.contains(shared_key)) {
    const int64_t shared = as_int(m[shared_key], where + ": " + shared_key);
    if (shared < 0 || static_cast<size_t>(shared) >= n) {
      throw InputError(fmt::format("{}: {} = {} must leave at least one of {} layers its own cache",
                                   where, shared_key, shared, n));
    }
    const size_t first_shared = n - static_cast<size_t>(shared);
    for (size_t i = first_shared; i < n; ++i) {
      LayerSpec& l = model.layers[i];
      if (mixer_kind(l) != MixerKind::kSoftmax) continue;
      int source = -1;
      for (size_t j = first_shared; j-- > 0;) {
        if (owns_cache(model.layers[j]) && model.layers[j].span == l.span &&
            model.layers[j].attention == l.attention) {
          source = static_cast<int>(j);
          break;
        }
      }
      if (source < 0) {
        throw InputError(fmt::format("{}: {}: layer {} has no earlier layer with the same attention to "
                                     "share a cache with", where, shared_key, i));
      }
      l.kv_source = source;
    }
  }
  validate_model(model, where);
}

}  // namespace gmha::gguf_layers
