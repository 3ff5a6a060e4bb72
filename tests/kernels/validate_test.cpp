// gmha validate's library side: every built-in case passes, presets run reduced, bad options
// are InputErrors.
#include <catch2/catch.hpp>

#include "gmha/core/error.hpp"
#include "gmha/kernels/validate.hpp"

using namespace gmha;

TEST_CASE("validate: every built-in variant and form passes on a fresh seed", "[kernels]") {
  ValidateOptions o;
  o.seed = 12345;
  o.tokens = 13;
  const auto rows = run_validation(o);
  // Every built-in design has its decode row; the MFA paper's variants also a bilinear row and
  // two per fast kernel path (fp32 and bf16 caches), the 2025 designs their reference rows only.
  for (const std::string& d : default_validation_designs()) {
    bool decode = false;
    for (const auto& r : rows) decode |= r.design == d && r.check == "decode (double) vs prefill";
    INFO(d);
    CHECK(decode);
  }
  REQUIRE(rows.size() >= (default_validation_designs().size() - 4) * 4 + 7);
  for (const auto& r : rows) {
    INFO(r.design << " " << r.check << ": " << r.worst);
    CHECK(r.passed);
    CHECK(r.rel_error > 0);  // the forms are computed separately, never the same numbers
  }
}

TEST_CASE("validate: presets keep their head widths at reduced d and heads", "[kernels]") {
  ValidateOptions o;
  o.designs = {"deepseek-v3"};
  o.seed = 3;
  o.tokens = 5;
  const auto rows = run_validation(o);
  REQUIRE_FALSE(rows.empty());
  CHECK(rows[0].design.find("deepseek-v3 (reduced: d=256, heads=4)") == 0);
  for (const auto& r : rows) CHECK(r.passed);
}

TEST_CASE("validate: bad device, token count or design are InputErrors", "[kernels]") {
  ValidateOptions o;
  o.device = "tpu";
  CHECK_THROWS_AS(run_validation(o), InputError);
  o.device = "cpu";
  o.tokens = 0;
  CHECK_THROWS_AS(run_validation(o), InputError);
  o.tokens = 4;
  o.designs = {"gqa:d=4096,heads=32,kv=8,hd=128"};
  CHECK_THROWS_WITH(run_validation(o), Catch::Contains("too large"));
}
