#pragma once
// The one-line message a call's InputError carries: tests assert what a user reads.
#include <string>
#include <utility>

#include "gmha/core/error.hpp"

namespace gmha::test {

/// The what() of the InputError that `f()` throws, or "" when it throws none (any other
/// exception propagates, so the test fails on it).
template <typename F>
std::string input_error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace gmha::test
