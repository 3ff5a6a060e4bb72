// The one parser of numbers, lists and ranges (gmha/core/parse.hpp): known answers for every rule
// the README states, and an InputError naming the flag for each kind of bad text.
#include "gmha/core/parse.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "gmha/core/error.hpp"

using namespace gmha;
using V = std::vector<int64_t>;

TEST_CASE("parse: integers are whole decimal texts within their range", "[core]") {
  CHECK(parse_integer("42", "--x") == 42);
  CHECK(parse_integer("-7", "--x") == -7);
  CHECK(parse_integer("9223372036854775807", "--x") == INT64_MAX);
  CHECK_THROWS_WITH(parse_integer("9223372036854775808", "--seed"),
                    "--seed: '9223372036854775808' overflows 64 bits");
  CHECK_THROWS_WITH(parse_integer("12a", "--x"), "--x: '12a' is not an integer");
  CHECK_THROWS_WITH(parse_integer("", "--x"), "--x: '' is not an integer");
  CHECK_THROWS_WITH(parse_integer(" 1", "--x"), "--x: ' 1' is not an integer");
  CHECK_THROWS_WITH(parse_integer("5", "--top", 0, 4), "--top: 5 is out of range (0 to 4)");
}

TEST_CASE("parse: token counts take k = 1024 and M = 1024^2", "[core]") {
  CHECK(parse_token_count("8192", "--context") == 8192);
  CHECK(parse_token_count("32k", "--context") == 32768);
  CHECK(parse_token_count("128K", "--context") == 131072);
  CHECK(parse_token_count("1M", "--context") == 1048576);
  CHECK(parse_token_counts("8k,32k,1000", "--context") == V{8192, 32768, 1000});
  for (const char* bad : {"0", "-1", "+4", "1.5k", "k", "32kb", "nan", "inf", "1e3", ""}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_token_count(bad, "--context"), InputError);
  }
  CHECK_THROWS_WITH(parse_token_count("9007199254740993M", "--context"),
                    "--context: '9007199254740993M' overflows 64 bits");
  CHECK_THROWS_WITH(parse_token_counts("8k,,32k", "--context"),
                    "--context: empty item in '8k,,32k'");
}

TEST_CASE("parse: amounts are SI (K = 1000) or IEC (Ki = 1024), B for bytes or billions",
          "[core]") {
  CHECK(parse_amount("70272", "--b", AmountKind::kBytes) == 70272.0);
  CHECK(parse_amount("1.5e12", "--b", AmountKind::kBytes) == 1.5e12);
  CHECK(parse_amount("64K", "--b", AmountKind::kBytes) == 64000.0);
  CHECK(parse_amount("64Ki", "--b", AmountKind::kBytes) == 65536.0);
  CHECK(parse_amount("64KiB", "--b", AmountKind::kBytes) == 65536.0);
  CHECK(parse_amount("80GB", "--b", AmountKind::kBytes) == 80e9);
  CHECK(parse_amount("141GiB", "--b", AmountKind::kBytes) == 141.0 * 1024 * 1024 * 1024);
  CHECK(parse_amount("100B", "--b", AmountKind::kBytes) == 100.0);
  CHECK(parse_amount("37B", "--p", AmountKind::kCount) == 37e9);
  CHECK(parse_amount("2T", "--p", AmountKind::kCount) == 2e12);
  for (const char* bad : {"-1", "nan", "inf", "1e999", "12X", "1KiX", "", "K", "1.2.3"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_amount(bad, "--b", AmountKind::kBytes), InputError);
  }
  CHECK_THROWS_WITH(
      parse_amount("lots", "--max-kv-bytes-per-token", AmountKind::kBytes),
      Catch::StartsWith("--max-kv-bytes-per-token: 'lots' is not a non-negative amount"));
}

TEST_CASE("parse: integer ranges are sorted, unique and bounded", "[core]") {
  CHECK(parse_int_ranges("64,128", "--x", 1, INT32_MAX) == V{64, 128});
  CHECK(parse_int_ranges("64-256:64", "--x", 1, INT32_MAX) == V{64, 128, 192, 256});
  CHECK(parse_int_ranges("8,1-3,2", "--x", 1, INT32_MAX) == V{1, 2, 3, 8});
  CHECK(parse_int_ranges("0,64", "--rope", 0, INT32_MAX) == V{0, 64});
  CHECK(parse_int_ranges("1-10:4", "--x", 1, 100) == V{1, 5, 9});
  CHECK(parse_int_ranges("0-2147483647:2147483647", "--x", 0, INT32_MAX) == V{0, 2147483647});
  CHECK_THROWS_WITH(parse_int_ranges("0,64", "--heads", 1, INT32_MAX),
                    "--heads: 0 is out of range (1 to 2147483647)");
  CHECK_THROWS_WITH(parse_int_ranges("64-32", "--x", 1, 100), "--x: range '64-32' runs backwards");
  CHECK_THROWS_AS(parse_int_ranges("1-9:0", "--x", 1, 100), InputError);
  CHECK_THROWS_AS(parse_int_ranges("a", "--x", 1, 100), InputError);
  CHECK_THROWS_AS(parse_int_ranges("", "--x", 1, 100), InputError);
  CHECK_THROWS_AS(parse_int_ranges("1,,2", "--x", 1, 100), InputError);
  CHECK_THROWS_AS(parse_int_ranges("99999999999", "--x", 1, INT32_MAX), InputError);
  CHECK_THROWS_WITH(parse_int_ranges("1-100000000", "--heads", 1, INT32_MAX, 10'000'000),
                    "--heads: range '1-100000000' has over 10000000 values");
  CHECK(split_list("a,b", "--x").size() == 2);
}

TEST_CASE("parse: format_int_ranges writes runs that parse_int_ranges reads back", "[core]") {
  std::vector<int64_t> alt;  // gpt-oss's sliding layers: 0, 2, ..., 34
  for (int64_t i = 0; i <= 34; i += 2) alt.push_back(i);
  CHECK(format_int_ranges(alt) == "0-34:2");
  CHECK(format_int_ranges({0, 1, 2, 3}) == "0-3");
  CHECK(format_int_ranges({5}) == "5");
  CHECK(format_int_ranges({1, 2}) == "1-2");
  CHECK(format_int_ranges({1, 3}) == "1,3");  // two values with a gap: no step run
  CHECK(format_int_ranges({3, 7, 11, 15, 16}) == "3-15:4,16");
  CHECK(format_int_ranges({}).empty());
  for (const auto& v : {alt, std::vector<int64_t>{3, 7, 11, 15, 16}, std::vector<int64_t>{0, 5, 6, 9, 12, 15}}) {
    CHECK(parse_int_ranges(format_int_ranges(v), "layers", 0, 100) == v);
  }
}
