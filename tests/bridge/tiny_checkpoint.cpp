#include "bridge/tiny_checkpoint.hpp"

#include <cmath>
#include <random>

#include <fmt/format.h>

#include "gmha/checkpoint/safetensors_writer.hpp"
#include "gmha/core/atomic_file.hpp"
#include "support/test_paths.hpp"

namespace gmha::test {

namespace {

// Values rounded to float so that writing them as F32 loses nothing.
std::vector<double> draw(size_t n, std::mt19937_64& rng, double mean, double sd, bool uniform) {
  std::vector<double> v(n);
  std::normal_distribution<double> normal(mean, sd);
  std::uniform_real_distribution<double> u(mean - sd, mean + sd);
  for (double& e : v) e = static_cast<float>(uniform ? u(rng) : normal(rng));
  return v;
}

}  // namespace

HfLlamaLayer random_hf_layer(int64_t d, int64_t heads, int64_t kv_heads, int64_t head_dim,
                             uint64_t seed, bool bias, bool o_bias, bool qk_norm) {
  std::mt19937_64 rng(seed);
  HfLlamaLayer m;
  m.d = d;
  m.heads = heads;
  m.kv_heads = kv_heads;
  m.head_dim = head_dim;
  const auto n = static_cast<size_t>(heads * head_dim),
             kv = static_cast<size_t>(kv_heads * head_dim);
  const auto ud = static_cast<size_t>(d);
  const double in_sd = 1.0 / std::sqrt(static_cast<double>(d));
  m.wq = draw(n * ud, rng, 0, in_sd, false);
  m.wk = draw(kv * ud, rng, 0, in_sd, false);
  m.wv = draw(kv * ud, rng, 0, in_sd, false);
  m.wo = draw(ud * n, rng, 0, 1.0 / std::sqrt(static_cast<double>(n)), false);
  if (bias) {
    m.bq = draw(n, rng, 0, 0.1, false);
    m.bk = draw(kv, rng, 0, 0.1, false);
    m.bv = draw(kv, rng, 0, 0.1, false);
  }
  if (o_bias) m.bo = draw(ud, rng, 0, 0.1, false);
  if (qk_norm) {
    m.q_norm = draw(static_cast<size_t>(head_dim), rng, 1.0, 0.25, true);
    m.k_norm = draw(static_cast<size_t>(head_dim), rng, 1.0, 0.25, true);
  }
  m.input_norm = draw(ud, rng, 1.0, 0.25, true);
  return m;
}

void write_hf_folder(const std::string& weights_dir, const std::string& config_dir,
                     const nlohmann::json& config, const std::vector<HfLlamaLayer>& layers) {
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<int64_t> shape,
                 const std::vector<double>* v) {
    tensors.push_back({name, "F32", std::move(shape), [v](std::span<float> out) {
                         for (size_t i = 0; i < v->size(); ++i)
                           out[i] = static_cast<float>((*v)[i]);
                       }});
  };
  for (size_t l = 0; l < layers.size(); ++l) {
    const HfLlamaLayer& m = layers[l];
    const std::string b = fmt::format("model.layers.{}.", l), a = b + "self_attn.";
    const int64_t q = m.heads * m.head_dim, kv = m.kv_heads * m.head_dim;
    add(b + "input_layernorm.weight", {m.d}, &m.input_norm);
    add(a + "q_proj.weight", {q, m.d}, &m.wq);
    add(a + "k_proj.weight", {kv, m.d}, &m.wk);
    add(a + "v_proj.weight", {kv, m.d}, &m.wv);
    add(a + "o_proj.weight", {m.d, q}, &m.wo);
    if (!m.bq.empty()) add(a + "q_proj.bias", {q}, &m.bq);
    if (!m.bk.empty()) add(a + "k_proj.bias", {kv}, &m.bk);
    if (!m.bv.empty()) add(a + "v_proj.bias", {kv}, &m.bv);
    if (!m.bo.empty()) add(a + "o_proj.bias", {m.d}, &m.bo);
    if (!m.q_norm.empty()) add(a + "q_norm.weight", {m.head_dim}, &m.q_norm);
    if (!m.k_norm.empty()) add(a + "k_norm.weight", {m.head_dim}, &m.k_norm);
  }
  write_safetensors(weights_dir, tensors);
  if (!config_dir.empty()) write_file_atomically(config_dir + "/config.json", config.dump(2));
}

std::vector<double> random_tokens(int64_t tokens, int64_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  return draw(static_cast<size_t>(tokens * d), rng, 0.0, 1.0, false);
}

void edit_config(const std::string& dir, const nlohmann::json& patch) {
  nlohmann::json c = nlohmann::json::parse(read_text_file(dir + "/config.json"));
  c.merge_patch(patch);
  write_file_atomically(dir + "/config.json", c.dump(2));
}

std::string synth_f32_folder(const std::string& tag, SynthLayout layout, const AttentionShape& shape,
                             int64_t layers, uint64_t seed) {
  const std::string dir = scratch_dir(tag);
  SynthOptions o;
  o.layout = layout;
  o.shape = shape;
  o.layers = layers;
  o.dtype = "F32";
  o.seed = seed;
  o.vocab_size = 64;
  write_synth_checkpoint(dir, o);
  return dir;
}

}  // namespace gmha::test
