// Floors for `gmha audit` (bench/audit_run.sh reads them): this machine's memory read bandwidth
// and the double-precision rates of the kernels the audit spends its time in, measured with the
// same Eigen build and flags as the library.
//   BM_ReadBandwidth   sum of a 1 GiB float array          -> bytes_per_second
//   BM_Gemm            1024×1024×1024 double GEMM          -> FLOP/s
//   BM_GramHead        XᵀX of a 4096×128 factor (lower)    -> FLOP/s (the per-head reduction)
//   BM_HeadFactor      triangular_factor of 4096×128       -> FLOP/s, Gram path incl. checks
//   BM_BlasGramHead    the same Gram through OpenBLAS dsyrk (1 thread), when it is installed
//   BM_BlasGramKeys    XᵀX of 4096×1024 (a stacked key) through OpenBLAS: the machine's best
//                      double rate, which bench/audit_run.sh takes for the FLOP floor
// Build: cmake -DGMHA_BUILD_BENCH=ON ... && cmake --build . --target audit_bench
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include <Eigen/Core>

#include "gmha/core/blas.hpp"
#include "gmha/rank/spectrum.hpp"

namespace {

void BM_ReadBandwidth(benchmark::State& state) {
  std::vector<float> buf(size_t{1} << 28, 1.0f);  // 1 GiB
  for (auto _ : state) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < buf.size(); i += 4) {
      s0 += buf[i], s1 += buf[i + 1], s2 += buf[i + 2], s3 += buf[i + 3];
    }
    benchmark::DoNotOptimize(s0 + s1 + s2 + s3);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(buf.size() * sizeof(float)));
}
BENCHMARK(BM_ReadBandwidth)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Gemm(benchmark::State& state) {
  const Eigen::Index n = 1024;
  const Eigen::MatrixXd a = Eigen::MatrixXd::Random(n, n), b = Eigen::MatrixXd::Random(n, n);
  Eigen::MatrixXd c(n, n);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * n * n * n * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Gemm)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_GramHead(benchmark::State& state) {
  const Eigen::MatrixXd x = Eigen::MatrixXd::Random(4096, 128);
  Eigen::MatrixXd g(128, 128);
  for (auto _ : state) {
    g.setZero();
    g.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
    benchmark::DoNotOptimize(g.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(4096.0 * 128 * 129 * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_GramHead)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_HeadFactor(benchmark::State& state) {
  const Eigen::MatrixXd x = Eigen::MatrixXd::Random(4096, 128);
  for (auto _ : state) benchmark::DoNotOptimize(gmha::triangular_factor(x).data());
  state.counters["FLOP/s"] = benchmark::Counter(4096.0 * 128 * 129 * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_HeadFactor)->Unit(benchmark::kMillisecond)->UseRealTime();

void blas_gram(benchmark::State& state, Eigen::Index m, Eigen::Index r) {
  if (!gmha::blas::available()) {
    state.SkipWithError("OpenBLAS (libopenblas.so.0) not found");
    return;
  }
  const Eigen::MatrixXd x = Eigen::MatrixXd::Random(m, r);
  Eigen::MatrixXd g(r, r);
  for (auto _ : state) {
    gmha::blas::gram_lower(m, r, x.data(), m, g.data(), r);
    benchmark::DoNotOptimize(g.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(double(m) * r * (r + 1) * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
void BM_BlasGramHead(benchmark::State& state) { blas_gram(state, 4096, 128); }
BENCHMARK(BM_BlasGramHead)->Unit(benchmark::kMillisecond)->UseRealTime();
void BM_BlasGramKeys(benchmark::State& state) { blas_gram(state, 4096, 1024); }
BENCHMARK(BM_BlasGramKeys)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
