#include "cli/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace gmha::cli {

std::function<void(int64_t, int64_t)> terminal_progress(std::string what, std::string units) {
  if (!::isatty(STDERR_FILENO)) return {};
  const auto start = std::chrono::steady_clock::now();
  return [what = std::move(what), units = std::move(units), start](int64_t done, int64_t total) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double left =
        done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total - done) : 0;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * std::clamp<int64_t>(done, 0, total) /
                                        std::max<int64_t>(total, 1));
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld %s  %.1f s elapsed, %.1f s left ", what.c_str(),
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(kWidth - filled), '.').c_str(),
                 static_cast<long long>(done), static_cast<long long>(total), units.c_str(),
                 elapsed, left);
    if (done >= total) std::fprintf(stderr, "\n");
  };
}

}  // namespace gmha::cli
