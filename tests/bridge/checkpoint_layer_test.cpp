// One checkpoint layer through the double reference (load_checkpoint_layer, checkpoint_attention):
// the three forms agree on real and synth checkpoints of every layout, every copy of stories260K
// gives the same y, the family options follow HF, Qwen3's q/k norms and a sliding window match
// independent loops, and what gmha cannot reproduce is refused.
#include <cmath>

#include <catch2/catch.hpp>

#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/core/error.hpp"
#include "gmha/bridge/checkpoint_layer.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/bridge/synth.hpp"
#include "bridge/tiny_checkpoint.hpp"
#include "support/test_paths.hpp"

using namespace gmha;

namespace {

constexpr AttentionForm kForms[] = {AttentionForm::kBilinear, AttentionForm::kPrefill,
                                    AttentionForm::kDecode};

CheckpointLayer load(const std::string& path, int64_t layer) {
  const Checkpoint ck = open_checkpoint(path);
  return load_checkpoint_layer(ck, detect_layout(ck), layer);
}

MatrixRM to_matrix(const std::vector<double>& v, int64_t rows, int64_t cols) {
  return Eigen::Map<const MatrixRM>(v.data(), rows, cols);
}

MatrixRM tokens(int64_t t, int64_t d, uint64_t seed) {
  return to_matrix(test::random_tokens(t, d, seed), t, d);
}

// Bilinear and decode against prefill (double: summation order only, docs/formats.md).
void check_forms_agree(const CheckpointLayer& l, const MatrixRM& x, bool input_norm = false) {
  const MatrixRM ref = checkpoint_attention(l, x, AttentionForm::kPrefill, input_norm);
  for (AttentionForm f : {AttentionForm::kBilinear, AttentionForm::kDecode}) {
    const Comparison c = compare(checkpoint_attention(l, x, f, input_norm), ref);
    INFO(form_name(f) << ": " << c.summary());
    CHECK(c.passed(1e-10));
  }
}

AttentionShape mla_shape(int64_t q_lora) {
  AttentionShape s;
  s.variant = Variant::kMla;
  s.d_model = 48, s.heads = 3, s.kv_heads = 1;
  s.q_lora_rank = q_lora, s.kv_lora_rank = 12, s.qk_nope_dim = 8, s.qk_rope_dim = 4,
  s.v_head_dim = 6;
  return s;
}

AttentionShape mfa_shape(Variant v) {
  AttentionShape s;
  s.variant = v;
  s.d_model = 32, s.heads = 3, s.kv_heads = 1, s.head_dim = 8, s.q_share_dim = 12;
  return s;
}

std::string synth(SynthLayout layout, const AttentionShape& shape) {
  return test::synth_f32_folder("ckl-synth", layout, shape, 2, 5);
}

// A tiny Qwen3 folder: layer 0 full attention, layer 1 a sliding window of 3 (HF Qwen3Config:
// sliding from max_window_layers on when use_sliding_window), head_dim 6 decoupled from d / n.
std::string tiny_qwen3(std::vector<test::HfLlamaLayer>& layers) {
  const std::string dir = test::scratch_dir("ckl-qwen3");
  layers = {test::random_hf_layer(16, 4, 2, 6, 11, false, false, true),
            test::random_hf_layer(16, 4, 2, 6, 12, false, false, true)};
  for (auto& l : layers) {
    l.theta = 100.0;
    l.eps = 0.05;  // large enough that a wrong eps shows
  }
  layers[1].window = 3;
  const nlohmann::json config = {{"model_type", "qwen3"},
                                 {"hidden_size", 16},
                                 {"intermediate_size", 32},
                                 {"num_hidden_layers", 2},
                                 {"num_attention_heads", 4},
                                 {"num_key_value_heads", 2},
                                 {"head_dim", 6},
                                 {"rms_norm_eps", 0.05},
                                 {"rope_theta", 100.0},
                                 {"max_position_embeddings", 64},
                                 {"use_sliding_window", true},
                                 {"sliding_window", 3},
                                 {"max_window_layers", 1},
                                 {"vocab_size", 32}};
  test::write_hf_folder(dir, dir, config, layers);
  return dir;
}

}  // namespace

TEST_CASE("checkpoint layer: the three forms agree on every stories260K layer", "[kernels][data]") {
  const auto dir = test::shared_data("stories260K-hf-f32");
  if (!dir) {
    gmha::test::skip_missing("../shared/data/stories260K-hf-f32 not found; skipping the real-model forms check");
    return;
  }
  const Checkpoint ck = open_checkpoint(*dir);
  const Layout layout = detect_layout(ck);
  REQUIRE(layout.layers.size() == 5);
  for (int64_t i = 0; i < 5; ++i) {
    INFO("layer " << i);
    const CheckpointLayer l = load_checkpoint_layer(ck, layout, i);
    CHECK(l.weights.shape.heads == 8);
    CHECK(l.weights.shape.kv_heads == 4);
    CHECK(l.options.rope.theta == 10000.0);
    CHECK(l.options.scale == Approx(1.0 / std::sqrt(8.0)).epsilon(1e-15));
    check_forms_agree(l, tokens(13, 64, 100 + static_cast<uint64_t>(i)), i % 2 == 1);
  }
}

TEST_CASE("checkpoint layer: the three forms agree on synth MLA, MFA and MFA-KR folders",
          "[kernels]") {
  struct Case {
    const char* label;
    SynthLayout layout;
    AttentionShape shape;
  };
  const Case cases[] = {{"deepseek_v3 MLA", SynthLayout::kDeepseekV3, mla_shape(16)},
                        {"deepseek_v3 MLA without q_lora", SynthLayout::kDeepseekV3, mla_shape(0)},
                        {"step3 MFA", SynthLayout::kStep3, mfa_shape(Variant::kMfa)},
                        {"mfa-kr", SynthLayout::kMfaKr, mfa_shape(Variant::kMfaKr)}};
  for (const Case& c : cases) {
    INFO(c.label);
    const std::string dir = synth(c.layout, c.shape);
    // A small theta so every pair rotates visibly; DeepSeek also gets YaRN (mscale², factor).
    nlohmann::json patch = {{"rope_theta", 50.0}, {"max_position_embeddings", 64}};
    if (c.layout == SynthLayout::kDeepseekV3)
      patch["rope_scaling"] = {{"type", "yarn"},
                               {"factor", 4.0},
                               {"mscale", 1.0},
                               {"mscale_all_dim", 1.0},
                               {"original_max_position_embeddings", 16}};
    test::edit_config(dir, patch);
    for (int64_t layer = 0; layer < 2; ++layer) {
      const CheckpointLayer l = load(dir, layer);
      CHECK(l.weights.shape.variant == c.shape.variant);
      check_forms_agree(l, tokens(11, c.shape.d_model, 7 + static_cast<uint64_t>(layer)),
                        layer == 1);
    }
  }
}

TEST_CASE("checkpoint layer: options follow each family's HF code", "[kernels]") {
  SECTION("DeepSeek: interleaved RoPE, q_a/kv_a eps 1e-6 whatever rms_norm_eps, mscale² scale") {
    const std::string dir = synth(SynthLayout::kDeepseekV3, mla_shape(16));
    test::edit_config(dir, {{"rms_norm_eps", 1e-3},
                            {"max_position_embeddings", 160},
                            {"rope_scaling",
                             {{"type", "yarn"},
                              {"factor", 40.0},
                              {"mscale", 1.0},
                              {"mscale_all_dim", 1.0},
                              {"original_max_position_embeddings", 4}}}});
    const CheckpointLayer l = load(dir, 0);
    CHECK(l.options.rope.style == RopeStyle::kInterleaved);
    CHECK(l.options.norm_eps == 1e-6);
    CHECK(l.input_norm_eps == 1e-3);
    const double m = 0.1 * std::log(40.0) + 1.0;  // yarn_get_mscale(40, 1)
    CHECK(l.options.scale == Approx(m * m / std::sqrt(12.0)).epsilon(1e-14));
  }
  SECTION("DeepSeek with rope_interleave false rotates halves") {
    const std::string dir = synth(SynthLayout::kDeepseekV3, mla_shape(0));
    test::edit_config(dir, {{"rope_interleave", false}});
    const CheckpointLayer l = load(dir, 1);
    CHECK(l.options.rope.style == RopeStyle::kHalves);
    CHECK(l.options.scale == Approx(1.0 / std::sqrt(12.0)).epsilon(1e-15));
  }
  SECTION("Step-3: inter_norm takes rms_norm_eps, halves, 1/sqrt(C)") {
    const std::string dir = synth(SynthLayout::kStep3, mfa_shape(Variant::kMfa));
    test::edit_config(dir, {{"rms_norm_eps", 1e-3}});
    const CheckpointLayer l = load(dir, 0);
    CHECK(l.options.norm_eps == 1e-3);
    CHECK(l.options.rope.style == RopeStyle::kHalves);
    CHECK(l.options.scale == Approx(1.0 / std::sqrt(8.0)).epsilon(1e-15));
    CHECK(l.options.window == 0);
  }
  SECTION("Mistral: sliding_window applies to every layer") {
    const std::string dir = synth(SynthLayout::kLlama, [] {
      AttentionShape s;
      s.variant = Variant::kGqa;
      s.d_model = 16, s.heads = 4, s.kv_heads = 2, s.head_dim = 4;
      return s;
    }());
    test::edit_config(dir, {{"model_type", "mistral"}, {"sliding_window", 5}});
    CHECK(load(dir, 0).options.window == 5);
    CHECK(load(dir, 1).options.window == 5);
  }
}

TEST_CASE(
    "checkpoint layer: GGUF, llama2.c and HF F32 copies give the same y, BF16 within rounding",
    "[kernels][data]") {
  const auto f32 = test::shared_data("stories260K-hf-f32");
  const auto bf16 = test::shared_data("stories260K-hf-bf16");
  const auto gguf = test::shared_data("stories260K-gguf");
  const auto l2c = test::shared_data("stories260K-llama2c");
  if (!f32 || !bf16 || !gguf || !l2c) {
    gmha::test::skip_missing("../shared/data/stories260K-* not found; skipping the cross-format check");
    return;
  }
  const MatrixRM x = tokens(17, 64, 3);
  for (int64_t layer : {0, 4}) {
    INFO("layer " << layer);
    const MatrixRM ref = checkpoint_attention(load(*f32, layer), x, AttentionForm::kPrefill, true);
    // The readers undo GGUF's and llama2.c's q/k row permutation, so the weights are the same
    // floats and y agrees to rounding of the same double operations.
    for (const std::string& other : {*gguf + "/stories260K.gguf", *l2c + "/stories260K.bin"}) {
      INFO(other);
      const Comparison c =
          compare(checkpoint_attention(load(other, layer), x, AttentionForm::kPrefill, true), ref);
      CHECK(c.passed(1e-12));
    }
    // The BF16 copy holds the F32 weights rounded to nearest even: rounding the F32 copy (and x)
    // to bf16 reproduces it exactly; unrounded, it differs by about bf16's unit roundoff.
    CheckpointLayer rounded = load(*f32, layer);
    round_layer_to_bf16(rounded);
    MatrixRM xb = x;
    round_to_bf16(xb);
    const CheckpointLayer from_bf16 = load(*bf16, layer);
    const Comparison same =
        compare(checkpoint_attention(from_bf16, xb, AttentionForm::kPrefill, true),
                checkpoint_attention(rounded, xb, AttentionForm::kPrefill, true));
    INFO(same.summary());
    CHECK(same.passed(1e-14));
    const Comparison near =
        compare(checkpoint_attention(from_bf16, x, AttentionForm::kPrefill, true), ref);
    INFO(near.summary());
    CHECK(near.passed(2e-2));
    CHECK(near.rel_error > 1e-5);  // the rounding did happen
  }
}

TEST_CASE("checkpoint layer: Qwen3 q/k norms and a sliding window match independent HF loops",
          "[kernels]") {
  std::vector<test::HfLlamaLayer> layers;
  const std::string dir = tiny_qwen3(layers);
  const int64_t T = 9;
  const std::vector<double> xv = test::random_tokens(T, 16, 21);
  for (int64_t i = 0; i < 2; ++i) {
    INFO("layer " << i);
    const CheckpointLayer l = load(dir, i);
    CHECK(l.weights.has("q_norm"));
    CHECK(l.options.norm_eps == 0.05);
    CHECK(l.options.window == (i == 1 ? 3 : 0));
    for (bool input_norm : {false, true}) {
      const MatrixRM expect = to_matrix(
          test::hf_llama_attention(layers[static_cast<size_t>(i)], xv, T, input_norm), T, 16);
      for (AttentionForm f : kForms) {
        const Comparison c =
            compare(checkpoint_attention(l, to_matrix(xv, T, 16), f, input_norm), expect);
        INFO(form_name(f) << " input_norm " << input_norm << ": " << c.summary());
        CHECK(c.passed(1e-12));
      }
    }
  }
  // A sliding-window decode cache holds the last W tokens: 2 g h elements each (K and V).
  DecodeCacheStats stats;
  reference_forward(load(dir, 1).weights, to_matrix(xv, T, 16), load(dir, 1).options,
                    AttentionForm::kDecode, &stats);
  CHECK(stats.elements == 2 * 2 * 6 * 3);
  // Without the norms (or the window) the answer is clearly different: the test can fail.
  CheckpointLayer l = load(dir, 1);
  l.weights.tensors.erase("q_norm");
  l.weights.tensors.erase("k_norm");
  l.weights.shape.qk_norm = false;  // the shape no longer asks for them
  l.options.window = 0;
  const MatrixRM expect = to_matrix(test::hf_llama_attention(layers[1], xv, T, false), T, 16);
  CHECK(
      compare(checkpoint_attention(l, to_matrix(xv, T, 16), AttentionForm::kPrefill, false), expect)
          .rel_error > 1e-3);
}

TEST_CASE("checkpoint layer: refuses layers it cannot reproduce, naming the layer", "[kernels]") {
  std::vector<test::HfLlamaLayer> layers;
  const std::string dir = tiny_qwen3(layers);
  CHECK_THROWS_WITH(load(dir, 2),
                    Catch::Contains("layer 2 is out of range") && Catch::Contains("0..1"));
  CHECK_THROWS_WITH(load(dir, -1), Catch::Contains("layer -1 is out of range"));
  SECTION("a norm the family does not have") {
    test::edit_config(dir, {{"model_type", "llama"}});  // Llama has no q/k norm
    CHECK_THROWS_WITH(load(dir, 0), Catch::Contains("layer 0") &&
                                        Catch::Contains("q_norm.weight") &&
                                        Catch::Contains("not part of llama's attention"));
  }
  SECTION("Gemma's conventions") {
    test::edit_config(dir, {{"model_type", "gemma"}});
    CHECK_THROWS_WITH(load(dir, 1),
                      Catch::Contains("layer 1") && Catch::Contains("'gemma' is not supported"));
  }
  SECTION("chunked attention") {
    test::edit_config(dir, {{"model_type", "llama"},
                            {"layer_types", {"full_attention", "chunked_attention"}},
                            {"attention_chunk_size", 4}});
    CHECK_THROWS_WITH(load(dir, 1), Catch::Contains("layer 1: chunked attention"));
  }
  SECTION("partial RoPE") {
    test::edit_config(dir, {{"partial_rotary_factor", 0.5}});
    CHECK_THROWS_WITH(load(dir, 0), Catch::Contains("partial_rotary_factor"));
  }
  SECTION("input norm requested where the file has none") {
    const std::string d2 = synth(SynthLayout::kStep3, mfa_shape(Variant::kMfa));
    CheckpointLayer l = load(d2, 0);
    l.input_norm.resize(0, 0);
    CHECK_THROWS_WITH(checkpoint_attention(l, tokens(3, 32, 1), AttentionForm::kPrefill, true),
                      Catch::Contains("no input_layernorm"));
  }
}

TEST_CASE("hidden states: x is read as [T, d] finite floats, y written as F32 or BF16",
          "[kernels]") {
  const std::string dir = test::scratch_dir("ckl-io");
  const MatrixRM x = tokens(5, 8, 4);
  write_hidden_states(dir + "/x.safetensors", "x", x, "F32", {});
  CHECK(compare(read_hidden_states(dir + "/x.safetensors", "x", 8), x).max_abs_error == 0.0);
  write_hidden_states(dir + "/xb.safetensors", "h", x, "BF16", {{"note", "bf16"}});
  MatrixRM xb = x;
  round_to_bf16(xb);
  CHECK(compare(read_hidden_states(dir + "/xb.safetensors", "h", 8), xb).max_abs_error == 0.0);
  CHECK_THROWS_WITH(read_hidden_states(dir + "/x.safetensors", "x", 9),
                    Catch::Contains("x.safetensors: tensor 'x' has shape [5, 8], expected [T, 9]"));
  CHECK_THROWS_WITH(read_hidden_states(dir + "/xb.safetensors", "x", 8),
                    Catch::Contains("no tensor 'x' (the file holds: h)"));
  CHECK_THROWS_WITH(read_hidden_states(dir + "/none.safetensors", "x", 8),
                    Catch::Contains("no such file"));
  MatrixRM bad = x;
  bad(3, 2) = std::nan("");
  write_hidden_states(dir + "/nan.safetensors", "x", bad, "F32", {});
  CHECK_THROWS_WITH(read_hidden_states(dir + "/nan.safetensors", "x", 8),
                    Catch::Contains("non-finite value (nan) at [3, 2]"));
}
