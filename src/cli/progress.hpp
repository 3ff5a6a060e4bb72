#pragma once
// Progress of long work on stderr, only when stderr is a terminal (results go to stdout or --out,
// and a pipe or log file gets no carriage-return noise).
#include <cstdint>
#include <functional>
#include <string>

namespace gmha::cli {

/// A callback (done, total) that redraws one stderr line, "what [#####.....] 12/32 units  3.1 s
/// elapsed, 5.2 s left", and ends it when done == total; an empty function when stderr is not a
/// terminal, so callers can pass it on unconditionally.
std::function<void(int64_t, int64_t)> terminal_progress(std::string what, std::string units);

}  // namespace gmha::cli
