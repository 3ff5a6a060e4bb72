#pragma once
// Timing the decode kernel against what the machine can do, measured in the same run: the
// sgemm rate (OpenBLAS through dlopen when installed, else Eigen's float GEMM) and the memory
// read bandwidth. The floor of a decode step is the larger of FLOPs / sgemm rate and bytes /
// bandwidth (docs/kernels.md FLOP and byte counts).
#include <cstdint>
#include <string>

#include "gmha/attention/variant.hpp"
#include "gmha/kernels/decode.hpp"

namespace gmha {

struct MachineRates {
  double sgemm_gflops = 0;    // best of several 2048^3 (or smaller) float GEMMs, all threads
  std::string sgemm_source;   // "openblas" or "eigen"
  double read_gbps = 0;       // streaming read of a buffer far larger than the caches
  int threads = 1;
};

/// Measures sgemm and read bandwidth with `threads` threads (<= 0: all cores). ~1 s.
MachineRates measure_machine(int threads);

struct DecodeBenchOptions {
  int64_t context = 32768;  // T cached tokens
  int64_t batch = 1;        // independent sequences, each with its own cache
  CacheDType dtype = CacheDType::kF32;
  int threads = 0;          // <= 0: all cores
  int repeats = 0;          // timed steps; 0 = as many as fit in ~1 s (at least 5)
  KernelPath path = KernelPath::kAuto;
};

struct DecodeBenchResult {
  std::string kernel;     // e.g. "avx512+bf16"
  int threads = 1;
  int repeats = 0;
  double seconds = 0;     // median time of one decode step (all B sequences)
  double min_seconds = 0;
  double flops = 0;       // core attention FLOPs of one step (docs/kernels.md), all sequences
  double bytes = 0;       // cache bytes read by one step
  double gflops = 0;      // flops / seconds / 1e9
  double gbps = 0;        // bytes / seconds / 1e9
  MachineRates machine;
  double floor_seconds = 0;  // max(flops / sgemm rate, bytes / read bandwidth)
};

/// Times decode_attention for one layer of shape `s` (GQA family, MLA absorbed, MFA, MFA-KR)
/// over a random cache of T tokens; `machine` reuses rates measured earlier (nullptr: measure
/// now). Throws InputError on an unsupported variant or a cache above 8 GiB.
DecodeBenchResult bench_decode(const AttentionShape& s, const DecodeBenchOptions& o,
                               const MachineRates* machine = nullptr);

}  // namespace gmha
