#pragma once
// Test support for the quantized-format tests that read ../shared/data: absent data SKIPs the test
// (a WARN, and the test returns without checking), except when GMHA_REQUIRE_DATA=1, where absence
// FAILs it, so a CI machine that is meant to hold the data cannot pass by not having it.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>
#include <string>

#include "support/test_paths.hpp"

namespace gmha::test {

inline std::optional<std::string> quant_data(const std::string& name) {
  auto p = shared_data(name);
  if (!p) {
    const char* req = std::getenv("GMHA_REQUIRE_DATA");
    if (req && std::string(req) == "1")
      FAIL("../shared/data/" << name << " is missing and GMHA_REQUIRE_DATA=1");
    WARN("SKIPPED: ../shared/data/" << name << " not found");
  }
  return p;
}

}  // namespace gmha::test
