// The one thread rule and parallel_for (gmha/core/parallel.hpp): every index runs exactly once,
// the first exception reaches the caller, and no new index starts after a failure.
#include "gmha/core/parallel.hpp"

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <thread>
#include <stdexcept>
#include <vector>

using namespace gmha;

TEST_CASE("parallel: resolve_threads takes a positive request, else the hardware's", "[core]") {
  CHECK(resolve_threads(3) == 3);
  CHECK(resolve_threads(0) >= 1);
  CHECK(resolve_threads(-2) >= 1);
}

TEST_CASE("parallel: parallel_for runs every index once on any thread count", "[core]") {
  for (int threads : {0, 1, 2, 7}) {
    std::vector<std::atomic<int>> hits(1000);
    parallel_for(1000, threads, [&](int64_t i) { ++hits[static_cast<size_t>(i)]; });
    int wrong = 0;
    for (const auto& h : hits) wrong += h.load() != 1;
    CHECK(wrong == 0);
  }
  bool ran = false;
  parallel_for(0, 4, [&](int64_t) { ran = true; });
  CHECK_FALSE(ran);
}

TEST_CASE("parallel: the first exception reaches the caller and stops new work", "[core]") {
  std::atomic<int> started{0};
  std::atomic<bool> thrown{false};
  CHECK_THROWS_WITH(parallel_for(100000, 2,
                                 [&](int64_t i) {
                                   ++started;
                                   if (i == 10) {
                                     thrown = true;
                                     throw std::runtime_error("item 10 failed");
                                   }
                                   // Items past 10 wait for the failure (up to 5 s), then take
                                   // 10 us each, so a loaded machine that delays the failing
                                   // thread cannot finish the range first: the test checks the
                                   // stop, not the scheduler.
                                   if (i > 10) {
                                     const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
                                     while (!thrown && std::chrono::steady_clock::now() < until) {
                                       std::this_thread::yield();
                                     }
                                     std::this_thread::sleep_for(std::chrono::microseconds(10));
                                   }
                                 }),
                    "item 10 failed");
  CHECK(started.load() < 100000);
  CHECK_THROWS_WITH(run_on_threads(3, [](int t) {
                      if (t == 2) throw std::runtime_error("worker 2");
                    }),
                    "worker 2");
}
