#include "gmha/kernels/rope.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gmha/core/error.hpp"

namespace gmha {

double yarn_get_mscale(double scale, double mscale) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

namespace {

// HF find_correction_dim: the rotary index whose wavelength makes `rotations` turns over
// `max_pos` tokens.
double correction_dim(double rotations, double dim, double base, double max_pos) {
  return dim * std::log(max_pos / (rotations * 2.0 * std::numbers::pi)) / (2.0 * std::log(base));
}

void require(bool ok, const std::string& what) {
  if (!ok) throw InputError("rope: " + what);
}

}  // namespace

RopeTable resolve_rope(const RopeConfig& cfg, int64_t dim, int64_t seq_len) {
  RopeTable t;
  t.enabled = cfg.enabled && dim > 0;
  t.style = cfg.style;
  t.dim = dim;
  if (!t.enabled) return t;
  require(dim % 2 == 0, fmt::format("rotary width must be even (got {})", dim));
  require(std::isfinite(cfg.theta) && cfg.theta > 1.0,
          fmt::format("rope_theta must be > 1 (got {})", cfg.theta));
  const int64_t half = dim / 2;
  double base = cfg.theta;
  const double f = cfg.factor;
  if (cfg.scaling != RopeScalingKind::kNone) {
    require(std::isfinite(f) && f > 0, fmt::format("rope_scaling.factor must be > 0 (got {})", f));
  }
  if (cfg.scaling == RopeScalingKind::kDynamic) {
    // HF _compute_dynamic_ntk_parameters: the base grows once the sequence outgrows max_pos.
    require(cfg.max_position > 0, "dynamic scaling needs max_position_embeddings");
    require(dim > 2, "dynamic scaling needs a rotary width > 2");
    const double len = static_cast<double>(std::max<int64_t>(seq_len, cfg.max_position));
    const double mp = static_cast<double>(cfg.max_position);
    base *= std::pow(f * len / mp - (f - 1.0), static_cast<double>(dim) / (dim - 2));
  }
  t.inv_freq.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    t.inv_freq[static_cast<size_t>(i)] = 1.0 / std::pow(base, static_cast<double>(2 * i) / dim);
  }
  switch (cfg.scaling) {
    case RopeScalingKind::kNone:
    case RopeScalingKind::kDynamic:
      break;
    case RopeScalingKind::kLinear:
      for (double& v : t.inv_freq) v /= f;
      break;
    case RopeScalingKind::kLlama3: {
      // HF _compute_llama3_parameters: long wavelengths divided by factor, short ones kept,
      // a linear blend in between.
      require(cfg.original_max_position > 0, "llama3 scaling needs original_max_position_embeddings");
      require(cfg.high_freq_factor > cfg.low_freq_factor, "llama3 needs high_freq_factor > low_freq_factor");
      const double old_len = static_cast<double>(cfg.original_max_position);
      const double low_wl = old_len / cfg.low_freq_factor, high_wl = old_len / cfg.high_freq_factor;
      for (double& v : t.inv_freq) {
        const double wl = 2.0 * std::numbers::pi / v;
        if (wl > low_wl) {
          v /= f;
        } else if (wl >= high_wl) {
          const double smooth = (old_len / wl - cfg.low_freq_factor) /
                                (cfg.high_freq_factor - cfg.low_freq_factor);
          v = (1.0 - smooth) * v / f + smooth * v;
        }
      }
      break;
    }
    case RopeScalingKind::kYarn: {
      // HF _compute_yarn_parameters.
      const double omp = static_cast<double>(cfg.original_max_position > 0 ? cfg.original_max_position
                                                                           : cfg.max_position);
      require(omp > 0, "yarn scaling needs original_max_position_embeddings");
      double low = correction_dim(cfg.beta_fast, dim, base, omp);
      double high = correction_dim(cfg.beta_slow, dim, base, omp);
      if (cfg.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, static_cast<double>(dim - 1));
      if (low == high) high += 0.001;
      for (int64_t i = 0; i < half; ++i) {
        const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
        const double extrapolation_factor = 1.0 - ramp;
        double& v = t.inv_freq[static_cast<size_t>(i)];
        v = (v / f) * (1.0 - extrapolation_factor) + v * extrapolation_factor;
      }
      if (cfg.attention_factor > 0) {
        t.attention_factor = cfg.attention_factor;
      } else if (cfg.mscale > 0 && cfg.mscale_all_dim > 0) {
        t.attention_factor = yarn_get_mscale(f, cfg.mscale) / yarn_get_mscale(f, cfg.mscale_all_dim);
      } else {
        t.attention_factor = yarn_get_mscale(f, 1.0);
      }
      break;
    }
  }
  return t;
}

namespace {
template <class T>
void rotate(const RopeTable& t, int64_t pos, T* v, double sign) {
  if (!t.enabled) return;
  const int64_t half = t.dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(pos) * t.inv_freq[static_cast<size_t>(i)];
    const double c = std::cos(angle) * t.attention_factor;
    const double s = sign * std::sin(angle) * t.attention_factor;
    // Halves: i pairs with i + dim/2 (rotate_half); interleaved: 2i pairs with 2i + 1.
    const int64_t a = t.style == RopeStyle::kHalves ? i : 2 * i;
    const int64_t b = t.style == RopeStyle::kHalves ? i + half : 2 * i + 1;
    const double x = static_cast<double>(v[a]), y = static_cast<double>(v[b]);
    v[a] = static_cast<T>(x * c - y * s);
    v[b] = static_cast<T>(y * c + x * s);
  }
}
}  // namespace

void apply_rope(const RopeTable& t, int64_t pos, double* v) { rotate(t, pos, v, 1.0); }
void apply_rope(const RopeTable& t, int64_t pos, float* v) { rotate(t, pos, v, 1.0); }
void apply_rope_inverse(const RopeTable& t, int64_t pos, double* v) {
  // The inverse of a rotation scaled by a is the reverse rotation scaled by 1/a.
  RopeTable inv = t;
  inv.attention_factor = 1.0 / t.attention_factor;
  rotate(inv, pos, v, -1.0);
}

RopeConfig rope_from_hf_config(const nlohmann::json& config, const std::string& where) {
  const nlohmann::json& c =
      config.contains("text_config") && config["text_config"].is_object() ? config["text_config"] : config;
  RopeConfig r;
  auto number = [&](const nlohmann::json& obj, const char* key, double fallback) {
    if (!obj.contains(key) || obj[key].is_null()) return fallback;
    if (!obj[key].is_number()) {
      throw InputError(fmt::format("{}: field '{}' must be a number", where, key));
    }
    return obj[key].get<double>();
  };
  const std::string model_type = c.value("model_type", config.value("model_type", std::string()));
  r.theta = number(c, "rope_theta", 10000.0);
  r.max_position = static_cast<int64_t>(number(c, "max_position_embeddings", 0.0));
  const bool deepseek_family = model_type == "deepseek_v2" || model_type == "deepseek_v3" ||
                               model_type == "kimi_k2";
  r.style = deepseek_family ? RopeStyle::kInterleaved : RopeStyle::kHalves;
  if (c.contains("rope_interleave") && c["rope_interleave"].is_boolean()) {
    r.style = c["rope_interleave"].get<bool>() ? RopeStyle::kInterleaved : RopeStyle::kHalves;
  }
  if (!c.contains("rope_scaling") || c["rope_scaling"].is_null()) return r;
  const nlohmann::json& s = c["rope_scaling"];
  if (!s.is_object()) throw InputError(fmt::format("{}: field 'rope_scaling' must be an object", where));
  std::string type = s.value("rope_type", s.value("type", std::string("default")));
  if (type == "default") return r;
  if (type == "linear") r.scaling = RopeScalingKind::kLinear;
  else if (type == "dynamic") r.scaling = RopeScalingKind::kDynamic;
  else if (type == "llama3") r.scaling = RopeScalingKind::kLlama3;
  else if (type == "yarn") r.scaling = RopeScalingKind::kYarn;
  else {
    throw errors::unknown_name(where, "rope_scaling type", type, "default, linear, dynamic, llama3, yarn");
  }
  r.factor = number(s, "factor", 1.0);
  r.original_max_position = static_cast<int64_t>(number(s, "original_max_position_embeddings", 0.0));
  r.low_freq_factor = number(s, "low_freq_factor", 1.0);
  r.high_freq_factor = number(s, "high_freq_factor", 4.0);
  r.beta_fast = number(s, "beta_fast", 32.0);
  r.beta_slow = number(s, "beta_slow", 1.0);
  r.mscale = number(s, "mscale", 0.0);
  r.mscale_all_dim = number(s, "mscale_all_dim", 0.0);
  r.attention_factor = number(s, "attention_factor", 0.0);
  if (s.contains("truncate") && s["truncate"].is_boolean()) r.truncate = s["truncate"].get<bool>();
  return r;
}

}  // namespace gmha
