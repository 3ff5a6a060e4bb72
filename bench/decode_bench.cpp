// Decode attention kernel (issue 5): one decode step over a T-token cache for Step-3's MFA
// (64 heads, one K/V head of 256), Llama-3-8B's GQA (32 heads, 8 KV heads of 128), DeepSeek-V3's
// absorbed MLA (128 heads over a 512 latent + 64 RoPE key) and MFA-KR, fp32 and bf16 caches.
// Counters: FLOP/s with primer §3's count, cache bytes/s. `gmha bench decode` runs the same
// kernel with the machine's sgemm rate and bandwidth beside it.
//   cmake -S . -B build-bench -DGMHA_BUILD_BENCH=ON && cmake --build build-bench --target decode_bench
//   build-bench/bench/decode_bench --benchmark_filter=step3
#include <benchmark/benchmark.h>

#include "gmha/attention/design_spec.hpp"
#include "gmha/kernels/bench.hpp"

namespace {

void decode(benchmark::State& state, const char* spec, gmha::CacheDType dt) {
  const gmha::AttentionShape s = gmha::parse_design_spec(spec).layers.at(0).attention;
  gmha::DecodeBenchOptions o;
  o.context = state.range(0);
  o.dtype = dt;
  o.threads = static_cast<int>(state.range(1));
  o.repeats = 3;
  gmha::MachineRates none;  // the harness reports time; rates come from `gmha bench decode`
  none.sgemm_gflops = none.read_gbps = 1;
  for (auto _ : state) {
    const gmha::DecodeBenchResult r = gmha::bench_decode(s, o, &none);
    state.SetIterationTime(r.seconds);
    state.counters["GFLOP/s"] = r.gflops;
    state.counters["GB/s"] = r.gbps;
  }
}

constexpr const char* kStep3 = "mfa:d=7168,heads=64,c=256,cq=2048";
constexpr const char* kStep3Kr = "mfa-kr:d=7168,heads=64,c=256,cq=2048";
constexpr const char* kLlama = "gqa:d=4096,heads=32,kv=8,hd=128";
constexpr const char* kDeepSeek = "mla:d=7168,heads=128,c=512,qlora=1536,nope=128,rope=64,v=128";

void args(benchmark::internal::Benchmark* b) {
  for (int64_t t : {4096, 32768}) b->Args({t, 1})->Args({t, 2});
  b->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);
}

}  // namespace

BENCHMARK_CAPTURE(decode, step3_fp32, kStep3, gmha::CacheDType::kF32)->Apply(args);
BENCHMARK_CAPTURE(decode, step3_bf16, kStep3, gmha::CacheDType::kBF16)->Apply(args);
BENCHMARK_CAPTURE(decode, step3_kr_fp32, kStep3Kr, gmha::CacheDType::kF32)->Apply(args);
BENCHMARK_CAPTURE(decode, llama3_8b_fp32, kLlama, gmha::CacheDType::kF32)->Apply(args);
BENCHMARK_CAPTURE(decode, llama3_8b_bf16, kLlama, gmha::CacheDType::kBF16)->Apply(args);
BENCHMARK_CAPTURE(decode, deepseek_v3_fp32, kDeepSeek, gmha::CacheDType::kF32)->Apply(args);
BENCHMARK_CAPTURE(decode, deepseek_v3_bf16, kDeepSeek, gmha::CacheDType::kBF16)->Apply(args);

BENCHMARK_MAIN();
