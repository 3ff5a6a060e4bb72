// llama2.c: the legacy layout and the 'ak42' version 1/2 exports, tensors at their documented
// places, Q8_0 groups dequantised, HF names with the q/k rotary rows in rotate_half order.
#include <cmath>

#include <catch2/catch.hpp>

#include "checkpoint/fixture_writer.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/checkpoint/llama2c.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using namespace gmha::test;

namespace {

// Checks every tensor of `s` against the writer's values (k = position in file order).
void check_values(const Llama2cSource& s, int version, int group) {
  int k = 0;
  for (const auto& t : s.tensors()) {
    MatrixD m = s.read_matrix_d(t.name);
    const double* got = m.data();
    const int64_t n = t.elements();
    for (int64_t g0 = 0; g0 < n; g0 += (t.dtype == "Q8_0" ? group : n)) {
      const int64_t g1 = t.dtype == "Q8_0" ? g0 + group : n;
      float mx = 0;
      for (int64_t i = g0; i < g1; ++i) mx = std::max(mx, std::abs(llama2c_value(k, i)));
      for (int64_t i = g0; i < g1; ++i) {
        const float want = llama2c_value(k, i);
        if (t.dtype == "F32") {
          REQUIRE(got[i] == want);
        } else {
          // Q8_0: q = round(w / s), s = max / 127; the error is at most s / 2.
          const float sc = mx / 127.0f;
          REQUIRE(std::abs(got[i] - want) <= 0.5 * sc + 1e-7);
          REQUIRE(got[i] == static_cast<double>(std::lround(want / sc)) * static_cast<double>(sc));
        }
      }
    }
    ++k;
  }
  CHECK(version == s.header().version);
}

}  // namespace

TEST_CASE("llama2c: legacy, version 1 and version 2 files decode to the values written",
          "[checkpoint]") {
  for (int version : {0, 1, 2}) {
    for (bool shared : {true, false}) {
      Llama2cSpec spec;
      spec.version = version;
      spec.shared_classifier = shared;
      const std::string dir = scratch_dir("l2c");
      write_bytes(dir + "/m.bin", llama2c_bytes(spec));
      auto s = Llama2cSource::open(dir + "/m.bin");
      INFO("version " << version << " shared " << shared);
      CHECK(s->header().dim == 16);
      CHECK(s->header().shared_classifier == shared);
      CHECK((s->find("wcls") == nullptr) == shared);
      CHECK(s->info("layers.1.wk").shape == std::vector<int64_t>{8, 16});
      CHECK(s->info("layers.0.w2").shape == std::vector<int64_t>{16, 24});
      check_values(*s, version, spec.group);
    }
  }
}

TEST_CASE("llama2c: HF view names the tensors and permutes q/k rows within each head",
          "[checkpoint]") {
  const std::string dir = scratch_dir("l2c-hf");
  Llama2cSpec spec;  // head size 4
  write_bytes(dir + "/m.bin", llama2c_bytes(spec));
  Checkpoint c = open_checkpoint(dir + "/m.bin");
  CHECK(c.format == "llama2c");
  CHECK(c.config["num_attention_heads"] == 4);
  CHECK(c.config["tie_word_embeddings"] == true);
  MatrixF hf = c.tensors->read_matrix_f("model.layers.1.self_attn.k_proj.weight");
  MatrixF raw = c.stored->read_matrix_f("layers.1.wk");
  const int perm[] = {0, 2, 1, 3};  // h = 4: HF row j*2 + i = stored row 2i + j
  for (int r = 0; r < 8; ++r) CHECK(hf.row(r) == raw.row((r / 4) * 4 + perm[r % 4]));
  CHECK(c.tensors->read_matrix_f("model.layers.0.mlp.down_proj.weight") ==
        c.stored->read_matrix_f("layers.0.w2"));
  CHECK(c.tensors->find("model.embed_tokens.weight") != nullptr);
  CHECK(c.tensors->find("model.norm.weight") != nullptr);
}
