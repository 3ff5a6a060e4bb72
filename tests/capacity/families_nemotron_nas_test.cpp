// Nemotron-NAS (DeciLM) as NVIDIA published it: the full 80- and 162-entry block_configs of
// Llama-3.3-Nemotron-Super-49B-v1 and Llama-3.1-Nemotron-Ultra-253B-v1 (tests/capacity/fixtures/,
// the configs of huggingface.co/nvidia/<model>/blob/main/config.json as Megatron-Bridge copies
// them in src/megatron/bridge/models/llama_nemotron/llama_nemotron_config.py at 2cec89e, one block
// per line, content unchanged). Figures worked by hand below; parameter totals against the cards.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/capacity/figures.hpp"
#include "support/hf_fixture.hpp"

using namespace gmha;
using gmha::test::exact_at;
using gmha::test::off_by;

namespace {
constexpr auto fixture = gmha::test::read_fixture;
// DeciLM's width: int(2 * mult * d / 3) rounded up to a multiple of 256.
int64_t width(const LayerSpec& l) { return l.ffn.intermediate; }
}  // namespace

TEST_CASE("Nemotron-NAS: Llama-3.3-Nemotron-Super-49B-v1's 80 published blocks") {
  const ModelDesign m = model_from_hf_config(fixture("llama-3_3-nemotron-super-49b-v1.config.json"), "config.json");
  REQUIRE(m.layers.size() == 80);
  int attention = 0;
  for (const LayerSpec& l : m.layers) attention += l.has_mixer ? 1 : 0;
  CHECK(attention == 49);  // 31 blocks have attention.no_op; every block keeps its FFN
  CHECK(width(m.layers[0]) == 14336);  // mult 2.625
  CHECK(width(m.layers[1]) == 28672);  // mult 5.25
  CHECK_FALSE(m.layers[6].has_mixer);  // block 6: no_op attention, FFN 2.625
  // KV per token: 49 layers x 2 (K, V) x 8 KV heads (64 / n_heads_in_group 8) x 128 x 2 B = 200,704.
  const ModelFigures f32 = exact_at(m, 32768);
  CHECK(f32.kv_bytes_per_token == 200704);
  CHECK(f32.kv_bytes == 200704.0 * 32768);               // 6,576,668,672
  CHECK(exact_at(m, 131072).kv_bytes == 200704.0 * 131072);  // 26,306,674,688
  // Parameters: attention 49 x (2 x 8192^2 + 2 x 1024 x 8192) = 7,398,752,256; FFNs 3 x 8192 x
  // (6 x 14336 + 49 x 28672 + 17920 + 10 x 7168 + 8 x 5632 + 6 x 2816) = 40,365,981,696;
  // embeddings 2 x 128256 x 8192; norms 8192 x 161 (gmha counts two per block; DeciLM drops the
  // 31 of no-op attention: 253,952 fewer). Card: "49B"; the Hub lists 49.9B.
  CHECK(f32.total_params == 49867399168LL);
  CHECK(off_by(static_cast<double>(f32.total_params), 49.9e9) < 0.001);
}

TEST_CASE("Nemotron-NAS: Llama-3.1-Nemotron-Ultra-253B-v1's 162 published blocks") {
  const ModelDesign m = model_from_hf_config(fixture("llama-3_1-nemotron-ultra-253b-v1.config.json"), "config.json");
  REQUIRE(m.layers.size() == 162);
  int attention = 0, ffn = 0;
  for (const LayerSpec& l : m.layers) {
    attention += l.has_mixer ? 1 : 0;
    ffn += l.ffn.kind == FfnKind::kNone ? 0 : 1;
  }
  CHECK(attention == 64);  // 98 no-op attention blocks
  CHECK(ffn == 81);        // 81 no-op FFN blocks
  CHECK(width(m.layers[0]) == 5376);  // mult 0.4875 at d 16384: int(5324.8) -> 5376
  // KV per token: 64 layers x 2 x 8 KV heads (128 / 16) x 128 x 2 B = 262,144.
  const ModelFigures f32 = exact_at(m, 32768);
  CHECK(f32.kv_bytes_per_token == 262144);
  CHECK(f32.kv_bytes == 262144.0 * 32768);                    // 8,589,934,592
  CHECK(exact_at(m, 131072).kv_bytes == 262144.0 * 131072);   // 34,359,738,368
  // Attention 64 x (2 x 16384^2 + 2 x 2048 x 16384) = 36,507,222,016; FFNs 212,688,961,536 (the
  // 81 widths, 5376 to 425,984); embeddings 2 x 128256 x 16384; norms 16384 x 325. Card: "253B".
  CHECK(f32.total_params == 253404200960LL);
  CHECK(off_by(static_cast<double>(f32.total_params), 253e9) < 0.002);
}
