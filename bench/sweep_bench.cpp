// Speed of `gmha sweep` (issue 6: "a million designs in about a second").
//   cmake -S . -B build-bench -DGMHA_BUILD_BENCH=ON && cmake --build build-bench --target
//   sweep_bench build-bench/bench/sweep_bench
// Each run enumerates, evaluates (fast path), filters and Pareto-filters the whole space, then
// re-evaluates every reported design with compute_figures. Counter designs/s is over all designs.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "gmha/capacity/sweep.hpp"
#include "gmha/core/parse.hpp"

namespace {

using gmha::SweepOptions;

// The default space for DeepSeek-V3's width and depth (all six families).
SweepOptions default_space() {
  SweepOptions o;
  o.space = gmha::default_sweep_space(7168, 61);
  o.context = 32768;
  return o;
}

// Just over a million designs: MFA and MFA-KR over heads 1-256, C 32-1024:32, C_q 128-8192:128.
SweepOptions million_space() {
  SweepOptions o = default_space();
  o.space.families = {gmha::Variant::kMfa, gmha::Variant::kMfaKr};
  o.space.mfa_q_share = gmha::parse_int_ranges("128-8192:128", "--mfa-cq", 1, INT32_MAX);
  return o;
}

void run(benchmark::State& state, const SweepOptions& o) {
  uint64_t designs = 0;
  for (auto _ : state) {
    auto r = gmha::run_sweep(o);
    designs += r.evaluated;
    benchmark::DoNotOptimize(r.frontier.data());
    state.counters["frontier"] = static_cast<double>(r.frontier.size());
    state.counters["evaluated"] = static_cast<double>(r.evaluated);
  }
  state.counters["designs/s"] =
      benchmark::Counter(static_cast<double>(designs), benchmark::Counter::kIsRate);
}

void BM_SweepDefaultSpace(benchmark::State& state) { run(state, default_space()); }
void BM_SweepMillionDesigns(benchmark::State& state) { run(state, million_space()); }
void BM_SweepMillionWithBudget(benchmark::State& state) {
  SweepOptions o = million_space();
  o.budgets.max_kv_bytes_per_token = 70272;  // DeepSeek-V3's deployed MLA cache in BF16
  run(state, o);
}

}  // namespace

BENCHMARK(BM_SweepDefaultSpace)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SweepMillionDesigns)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SweepMillionWithBudget)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
