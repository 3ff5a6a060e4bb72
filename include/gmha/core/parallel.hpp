#pragma once
// The one thread pool rule and the one way gmha runs work on threads (kernels, audit, spectra,
// synth). Plain std::threads started per call: every caller's work items are milliseconds or
// more, so a persistent pool would save nothing measurable.
#include <cstdint>
#include <functional>

namespace gmha {

/// Threads to use when asked for `requested`: that many when positive, else one per hardware
/// thread (at least 1). `--threads 0` (the default of every command) means all cores.
int resolve_threads(int requested);

/// Runs worker(t) for t in [0, threads) on `threads` threads; the calling thread runs t = 0. The
/// first exception a worker throws is rethrown after all have joined.
void run_on_threads(int threads, const std::function<void(int)>& worker);

/// Runs body(i) for every i in [0, n) on up to `threads` threads (0: resolve_threads), handing
/// out indices from a shared counter, so a thread slowed by another process leaves its share to
/// the others. After a failure no new index starts; the first exception is rethrown.
void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& body);

}  // namespace gmha
