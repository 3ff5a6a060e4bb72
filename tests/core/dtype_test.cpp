#include <catch2/catch.hpp>

#include "gmha/core/checked.hpp"
#include "gmha/core/dtype.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

TEST_CASE("dtype: KV dtype names parse to their byte sizes", "[core]") {
  CHECK(dtype_bits(read_kv_dtype("fp32", "t")) == 32);
  CHECK(dtype_bits(read_kv_dtype("bf16", "t")) == 16);
  CHECK(dtype_bits(read_kv_dtype("fp16", "t")) == 16);
  CHECK(dtype_bits(read_kv_dtype("fp8", "t")) == 8);
  CHECK(dtype_bits(read_kv_dtype("int8", "t")) == 8);
  CHECK(dtype_bits(read_kv_dtype("int4", "t")) == 4);
}

TEST_CASE("dtype: unknown dtype is an input error naming it", "[core]") {
  try {
    read_kv_dtype("fp7", "--kv-dtype");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("fp7") != std::string::npos);
    CHECK(e.exit_code() == 2);
  }
}

TEST_CASE("checked: products that overflow 64 bits throw instead of wrapping", "[core]") {
  CHECK(checked_mul(1LL << 31, 1LL << 31, "x") == (1LL << 62));
  CHECK_THROWS_AS(checked_mul(1LL << 32, 1LL << 32, "x"), InputError);
  CHECK_THROWS_AS(checked_add(INT64_MAX, 1, "x"), InputError);
  CHECK_THROWS_AS(checked_product({1 << 20, 1 << 20, 1 << 20, 1 << 20}, "x"), InputError);
}
