// `gmha attention` end to end: its output file against independent plain-loop HF formulas
// (hf_attention_loops.hpp, no reference code), the bf16 option, and bad input (exit 2, one line
// naming the file or field).
#include <algorithm>
#include <cmath>
#include <filesystem>

#include <catch2/catch.hpp>

#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/bridge/checkpoint_layer.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/bridge/synth.hpp"
#include "bridge/tiny_checkpoint.hpp"
#include "support/test_paths.hpp"

using namespace gmha;

namespace {

MatrixRM to_matrix(const std::vector<double>& v, int64_t rows, int64_t cols) {
  return Eigen::Map<const MatrixRM>(v.data(), rows, cols);
}

std::vector<double> flat(const MatrixRM& m) { return {m.data(), m.data() + m.size()}; }

// The stories260K layer `layer` as the independent loops' input, read straight from the F32 file.
test::HfLlamaLayer stories_layer(const std::string& dir, int64_t layer) {
  const auto src = SafetensorsSource::open(dir);
  const std::string b = "model.layers." + std::to_string(layer) + ".";
  test::HfLlamaLayer m;
  m.d = 64, m.heads = 8, m.kv_heads = 4, m.head_dim = 8;  // README / config.json
  m.theta = 10000.0;
  m.eps = 1e-5;
  m.wq = flat(src->read_matrix_d(b + "self_attn.q_proj.weight"));
  m.wk = flat(src->read_matrix_d(b + "self_attn.k_proj.weight"));
  m.wv = flat(src->read_matrix_d(b + "self_attn.v_proj.weight"));
  m.wo = flat(src->read_matrix_d(b + "self_attn.o_proj.weight"));
  m.input_norm = flat(src->read_matrix_d(b + "input_layernorm.weight"));
  return m;
}

// A synth folder (F32, 1 layer) with rope_theta 50 and rms_norm_eps 1e-3, so both show.
std::string synth_folder(SynthLayout layout, const AttentionShape& shape) {
  const std::string dir = test::synth_f32_folder("att-synth", layout, shape, 1, 77);
  test::edit_config(dir, {{"rope_theta", 50.0}, {"rms_norm_eps", 1e-3}});
  return dir;
}

// Runs gmha attention and reads its y back (F32 output: compare to ~1e-7 relative).
MatrixRM run_attention(const std::string& args, const std::string& out, int64_t d) {
  const test::RunResult r = test::run_gmha("attention " + args + " --out " + out);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("gmha attention: ") != std::string::npos);
  return read_hidden_states(out, "y", d);
}

// Writes x [t, d] as tensor `name` of <dir>/<file>.safetensors (file defaults to the name).
std::string write_x(const std::string& dir, const std::vector<double>& x, int64_t t, int64_t d,
                    const std::string& name = "x", const std::string& file = "") {
  const std::string path = dir + "/" + (file.empty() ? name : file) + ".safetensors";
  write_hidden_states(path, name, to_matrix(x, t, d), "F32", {});
  return path;
}

}  // namespace

TEST_CASE("gmha attention: a stories260K layer equals plain HF loops (and with --input-norm)",
          "[kernels][cli][data]") {
  const auto dir = test::shared_data("stories260K-hf-f32");
  if (!dir) {
    gmha::test::skip_missing("../shared/data/stories260K-hf-f32 not found; skipping the real-model known answer");
    return;
  }
  const std::string tmp = test::scratch_dir("att-stories");
  const int64_t T = 10;
  const std::vector<double> x = test::random_tokens(T, 64, 9);
  const std::string xin = write_x(tmp, x, T, 64);
  for (int64_t layer : {1, 3}) {
    const test::HfLlamaLayer m = stories_layer(*dir, layer);
    for (bool norm : {false, true}) {
      INFO("layer " << layer << " input_norm " << norm);
      const MatrixRM expect = to_matrix(test::hf_llama_attention(m, x, T, norm), T, 64);
      const MatrixRM y = run_attention("--weights " + *dir + " --layer " + std::to_string(layer) +
                                           " --input " + xin + (norm ? " --input-norm" : ""),
                                       tmp + "/y.safetensors", 64);
      const Comparison c = compare(y, expect);
      INFO(c.summary());
      CHECK(c.passed(1e-6));
    }
  }
}

TEST_CASE("gmha attention: a hand-built Llama with biases (lone file + --config) equals HF loops",
          "[kernels][cli]") {
  // MQA, head_dim 4, attention_bias: q/k/v and o_proj biases; the config lives elsewhere.
  const std::string wdir = test::scratch_dir("att-llama-w"),
                    cdir = test::scratch_dir("att-llama-c");
  test::HfLlamaLayer m = test::random_hf_layer(12, 3, 1, 4, 31, true, true, false);
  m.theta = 50.0;
  const nlohmann::json config = {
      {"model_type", "llama"},  {"hidden_size", 12},        {"intermediate_size", 24},
      {"num_hidden_layers", 1}, {"num_attention_heads", 3}, {"num_key_value_heads", 1},
      {"head_dim", 4},          {"rms_norm_eps", 1e-5},     {"rope_theta", 50.0},
      {"attention_bias", true}, {"vocab_size", 32}};
  test::write_hf_folder(wdir, cdir, config, {m});
  const int64_t T = 8;
  const std::vector<double> x = test::random_tokens(T, 12, 5);
  const std::string tmp = test::scratch_dir("att-llama");
  const std::string xin = write_x(tmp, x, T, 12);
  const MatrixRM expect = to_matrix(test::hf_llama_attention(m, x, T, false), T, 12);
  for (const char* form : {"bilinear", "prefill", "decode"}) {
    INFO(form);
    const MatrixRM y =
        run_attention("--weights " + wdir + "/model.safetensors --config " + cdir +
                          "/config.json --layer 0 --input " + xin + " --form " + form,
                      tmp + "/y.safetensors", 12);
    const Comparison c = compare(y, expect);
    INFO(c.summary());
    CHECK(c.passed(1e-6));
  }
  // Without --config the lone file has no config: one line that says what to pass.
  const test::RunResult r =
      test::run_gmha("attention --weights " + wdir + "/model.safetensors --layer 0 --input " + xin +
                     " --out " + tmp + "/y2.safetensors");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("pass --config") != std::string::npos);
}

TEST_CASE("gmha attention: a hand-built Qwen3 (q/k norms, sliding window) equals HF loops",
          "[kernels][cli]") {
  const std::string dir = test::scratch_dir("att-qwen3");
  std::vector<test::HfLlamaLayer> layers = {
      test::random_hf_layer(16, 4, 2, 6, 41, false, false, true),
      test::random_hf_layer(16, 4, 2, 6, 42, false, false, true)};
  for (auto& l : layers) l.theta = 1000.0, l.eps = 1e-6;
  layers[1].window = 4;
  const nlohmann::json config = {{"model_type", "qwen3"},
                                 {"hidden_size", 16},
                                 {"intermediate_size", 32},
                                 {"num_hidden_layers", 2},
                                 {"num_attention_heads", 4},
                                 {"num_key_value_heads", 2},
                                 {"head_dim", 6},
                                 {"rms_norm_eps", 1e-6},
                                 {"rope_theta", 1000.0},
                                 {"layer_types", {"full_attention", "sliding_attention"}},
                                 {"sliding_window", 4},
                                 {"vocab_size", 32}};
  test::write_hf_folder(dir, dir, config, layers);
  const std::string tmp = test::scratch_dir("att-qwen3-io");
  const int64_t T = 11;
  const std::vector<double> x = test::random_tokens(T, 16, 8);
  const std::string xin = write_x(tmp, x, T, 16);
  for (int64_t layer : {0, 1}) {
    INFO("layer " << layer);
    const MatrixRM expect =
        to_matrix(test::hf_llama_attention(layers[static_cast<size_t>(layer)], x, T, false), T, 16);
    const MatrixRM y = run_attention("--weights " + dir + " --layer " + std::to_string(layer) +
                                         " --input " + xin + " --form decode",
                                     tmp + "/y.safetensors", 16);
    const Comparison c = compare(y, expect);
    INFO(c.summary());
    CHECK(c.passed(1e-6));
  }
}

TEST_CASE("gmha attention: synth DeepSeek-V3 (MLA) and Step-3 (MFA) layers equal HF loops",
          "[kernels][cli]") {
  const std::string tmp = test::scratch_dir("att-synth-io");
  const int64_t T = 9;
  for (int64_t q_lora : {16, 0}) {
    INFO("q_lora " << q_lora);
    AttentionShape s;
    s.variant = Variant::kMla;
    s.d_model = 48, s.heads = 3, s.kv_heads = 1;
    s.q_lora_rank = q_lora, s.kv_lora_rank = 12, s.qk_nope_dim = 8, s.qk_rope_dim = 4,
    s.v_head_dim = 6;
    const std::string dir = synth_folder(SynthLayout::kDeepseekV3, s);
    const auto src = SafetensorsSource::open(dir);
    auto t = [&](const std::string& n) {
      return flat(src->read_matrix_d("model.layers.0.self_attn." + n + ".weight"));
    };
    test::HfMlaLayer m;
    m.d = 48, m.heads = 3, m.q_lora = q_lora, m.kv_lora = 12, m.nope = 8, m.rope = 4, m.v_head = 6;
    m.theta = 50.0;
    if (q_lora > 0) {
      m.wq_a = t("q_a_proj"), m.q_a_norm = t("q_a_layernorm"), m.wq_b = t("q_b_proj");
    } else {
      m.wq = t("q_proj");
    }
    m.wkv_a = t("kv_a_proj_with_mqa"), m.kv_a_norm = t("kv_a_layernorm"), m.wkv_b = t("kv_b_proj");
    m.wo = t("o_proj");
    const std::vector<double> x = test::random_tokens(T, 48, 12);
    const std::string xin = write_x(tmp, x, T, 48);
    const MatrixRM expect = to_matrix(test::hf_deepseek_attention(m, x, T), T, 48);
    const MatrixRM y =
        run_attention("--weights " + dir + " --layer 0 --input " + xin, tmp + "/y.safetensors", 48);
    const Comparison c = compare(y, expect);
    INFO(c.summary());
    CHECK(c.passed(1e-6));
  }
  AttentionShape s;
  s.variant = Variant::kMfa;
  s.d_model = 32, s.heads = 3, s.kv_heads = 1, s.head_dim = 8, s.q_share_dim = 12;
  const std::string dir = synth_folder(SynthLayout::kStep3, s);
  const auto src = SafetensorsSource::open(dir);
  auto t = [&](const std::string& n) {
    return flat(src->read_matrix_d("model.layers.0.self_attn." + n + ".weight"));
  };
  test::HfMfaLayer m;
  m.d = 32, m.heads = 3, m.head_dim = 8, m.q_share = 12, m.theta = 50.0, m.eps = 1e-3;
  m.wq_share = t("q_proj"), m.inter_norm = t("inter_norm"), m.wq = t("wq");
  m.wk = t("k_proj"), m.wv = t("v_proj"), m.wo = t("o_proj");
  const std::vector<double> x = test::random_tokens(T, 32, 13);
  const std::string xin = write_x(tmp, x, T, 32);
  const MatrixRM expect = to_matrix(test::hf_step3_attention(m, x, T), T, 32);
  const MatrixRM y =
      run_attention("--weights " + dir + " --layer 0 --input " + xin + " --form decode",
                    tmp + "/y.safetensors", 32);
  const Comparison c = compare(y, expect);
  INFO(c.summary());
  CHECK(c.passed(1e-6));
}

TEST_CASE("gmha attention: --dtype bf16 writes BF16 and the F32 copy then gives the BF16 copy's y",
          "[kernels][cli][data]") {
  const auto f32 = test::shared_data("stories260K-hf-f32");
  const auto bf16 = test::shared_data("stories260K-hf-bf16");
  if (!f32 || !bf16) {
    gmha::test::skip_missing("../shared/data/stories260K-hf-* not found; skipping the bf16 check");
    return;
  }
  const std::string tmp = test::scratch_dir("att-bf16");
  const std::string xin = write_x(tmp, test::random_tokens(6, 64, 2), 6, 64);
  const std::string args = " --layer 2 --input " + xin + " --dtype bf16";
  const MatrixRM a = run_attention("--weights " + *f32 + args, tmp + "/a.safetensors", 64);
  const MatrixRM b = run_attention("--weights " + *bf16 + args, tmp + "/b.safetensors", 64);
  CHECK(compare(a, b).max_abs_error == 0.0);
  CHECK(SafetensorsSource::open(tmp + "/a.safetensors")->info("y").dtype == "BF16");
  const MatrixRM f =
      run_attention("--weights " + *f32 + " --layer 2 --input " + xin, tmp + "/f.safetensors", 64);
  CHECK(SafetensorsSource::open(tmp + "/f.safetensors")->info("y").dtype == "F32");
  CHECK(compare(a, f).passed(2e-2));
}

TEST_CASE("gmha attention: bad input exits 2 with one line naming the file or field",
          "[kernels][cli]") {
  const std::string dir = test::scratch_dir("att-err");
  const test::HfLlamaLayer m = test::random_hf_layer(8, 2, 2, 4, 3, false, false, false);
  nlohmann::json config = {{"model_type", "llama"},    {"hidden_size", 8},
                           {"intermediate_size", 16},  {"num_hidden_layers", 1},
                           {"num_attention_heads", 2}, {"vocab_size", 16}};
  test::write_hf_folder(dir, dir, config, {m});
  const std::string tmp = test::scratch_dir("att-err-io");
  const std::string good = write_x(tmp, test::random_tokens(3, 8, 1), 3, 8);
  const std::string wide = write_x(tmp, test::random_tokens(3, 9, 1), 3, 9, "x", "wide");
  const std::string named_h = write_x(tmp, test::random_tokens(3, 8, 1), 3, 8, "h");
  std::vector<double> nan = test::random_tokens(3, 8, 1);
  nan[13] = std::nan("");
  const std::string with_nan = write_x(tmp, nan, 3, 8, "nan");
  const std::string base = "attention --weights " + dir + " --out " + tmp + "/y.safetensors ";
  struct Case {
    std::string args, message;
  };
  const Case cases[] = {
      {"--layer 1 --input " + good, "layer 1 is out of range (num_hidden_layers 1: layers 0..0)"},
      {"--layer 0 --input " + wide,
       "wide.safetensors: tensor 'x' has shape [3, 9], expected [T, 8]"},
      {"--layer 0 --input " + named_h, "h.safetensors: no tensor 'x' (the file holds: h)"},
      {"--layer 0 --input " + with_nan + " --input-tensor nan",
       "nan.safetensors: tensor 'nan' has a non-finite value (nan) at [1, 5]"},
      {"--layer 0 --input " + good + " --form sideways", "--form: unknown form 'sideways'"},
      {"--layer 0 --input " + good + " --dtype fp8", "--dtype: unknown dtype 'fp8'"},
      {"--layer 0 --input " + tmp + "/missing.safetensors", "missing.safetensors: no such file"},
  };
  for (const Case& c : cases) {
    INFO(c.args);
    const test::RunResult r = test::run_gmha(base + c.args);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  CHECK_FALSE(std::filesystem::exists(tmp + "/y.safetensors"));
  // --out onto the input, or into the checkpoint folder, is refused before anything is written.
  const test::RunResult same = test::run_gmha("attention --weights " + dir + " --layer 0 --input " +
                                              good + " --out " + good);
  CHECK(same.exit_code == 2);
  CHECK(same.err.find("would overwrite an input") != std::string::npos);
  const test::RunResult inside =
      test::run_gmha("attention --weights " + dir + " --layer 0 --input " + good + " --out " + dir +
                     "/y.safetensors");
  CHECK(inside.exit_code == 2);
  CHECK(inside.err.find("inside the checkpoint folder") != std::string::npos);
  // An unsupported layer kind: chunked attention (Llama 4 style layer_types).
  test::edit_config(dir, {{"layer_types", {"chunked_attention"}}, {"attention_chunk_size", 2}});
  const test::RunResult r = test::run_gmha(base + "--layer 0 --input " + good);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("layer 0: chunked attention") != std::string::npos);
}
