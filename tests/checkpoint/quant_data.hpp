#pragma once
// Test support for the quantized-format tests that read ../shared/data: absent data skips the
// test (skip_missing: CTest reports it skipped; the test returns without checking), except when
// GMHA_REQUIRE_DATA=1, where absence fails it.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>
#include <string>

#include "support/test_paths.hpp"

namespace gmha::test {

inline std::optional<std::string> quant_data(const std::string& name) {
  auto p = shared_data(name);
  if (!p) skip_missing("../shared/data/" + name + " not found");
  return p;
}

}  // namespace gmha::test
