#include <catch2/catch.hpp>

#include <sstream>

#include "gmha/report/table.hpp"
#include "gmha/report/units.hpp"

using namespace gmha::report;

namespace {

size_t widest(const std::string& text) {
  std::istringstream in(text);
  size_t best = 0;
  for (std::string line; std::getline(in, line);) {
    size_t w = 0;
    for (unsigned char c : line) w += (c & 0xC0) != 0x80;  // display columns (UTF-8)
    best = std::max(best, w);
  }
  return best;
}

Table wide_table() {
  Table t;
  t.title = "wide";
  t.columns = {{"model", Align::kLeft}};
  for (int c = 0; c < 12; ++c) t.columns.push_back({"a long header number " + std::to_string(c)});
  for (const char* m : {"llama3-8b", "deepseek-v3"}) {
    std::vector<std::string> row{m};
    for (int c = 0; c < 12; ++c) row.push_back("12345.67");
    t.add_row(row);
  }
  return t;
}

}  // namespace

TEST_CASE("to_text: a table that fits is unchanged by the width limit", "[report]") {
  Table t;
  t.columns = {{"model", Align::kLeft}, {"KV/token [KiB]"}};
  t.add_row({"llama3-8b", "128.00"});
  CHECK(to_text(t, 100) == to_text(t, 0));
  CHECK(to_text(t, 100) == "model      KV/token [KiB]\n-------------------------\nllama3-8b          128.00\n");
}

TEST_CASE("to_text: a wide table wraps headers, then splits with the key column repeated",
          "[report]") {
  const Table t = wide_table();
  const std::string unlimited = to_text(t, 0);
  CHECK(widest(unlimited) > 200);
  const std::string narrow = to_text(t, 100);
  CHECK(widest(narrow) <= 100);
  // Every value and the model names are still there, the names once per part.
  size_t parts = 1, pos = 0;
  while ((pos = narrow.find("(continued, part", pos)) != std::string::npos) ++parts, ++pos;
  CHECK(parts >= 2);
  size_t names = 0;
  pos = 0;
  while ((pos = narrow.find("deepseek-v3", pos)) != std::string::npos) ++names, ++pos;
  CHECK(names == parts);
  size_t values = 0;
  pos = 0;
  while ((pos = narrow.find("12345.67", pos)) != std::string::npos) ++values, ++pos;
  CHECK(values == 24);
  // Headers wrap at spaces to the cell width: "a long header number 3" spans lines.
  CHECK(narrow.find("a long header number 3") == std::string::npos);
  CHECK(narrow.find("number 3") != std::string::npos);
}

TEST_CASE("unit_column: one unit per column, decimals aligned, small values keep 2 digits",
          "[report]") {
  // 4.5 MiB would read 0.0044 GiB: the column steps down to MiB, where 1.125 GiB is 1152.
  const UnitColumn kv = unit_column({4.5 * 1048576, 1.125 * 1073741824.0, 288.0 * 1048576}, Quantity::kBytes);
  CHECK(kv.unit == "MiB");
  CHECK(kv.cells == std::vector<std::string>{"4.50", "1152.00", "288.00"});
  // Values far apart keep the large unit with more decimals (the small one would pass 100000).
  const UnitColumn far = unit_column({0.2 * 1073741824.0, 400.0 * 1073741824.0}, Quantity::kBytes);
  CHECK(far.unit == "GiB");
  CHECK(far.cells == std::vector<std::string>{"0.20", "400.00"});
  const UnitColumn wide = unit_column({1048576.0, 200.0 * 1073741824.0}, Quantity::kBytes);
  CHECK(wide.unit == "GiB");
  CHECK(wide.cells == std::vector<std::string>{"0.0010", "200.0000"});
  const UnitColumn p = unit_column({8.03e9, 671.03e9, 5.71e9}, Quantity::kCount);
  CHECK(p.unit == "B");
  CHECK(p.cells == std::vector<std::string>{"8.03", "671.03", "5.71"});
  const UnitColumn f = unit_column({4.3e9, 139.2e9}, Quantity::kFlops);
  CHECK(f.unit == "GFLOP");
  CHECK(f.cells == std::vector<std::string>{"4.30", "139.20"});
  const UnitColumn exact = unit_column({512, 64}, Quantity::kBytes);
  CHECK(exact.unit == "B");
  CHECK(exact.cells == std::vector<std::string>{"512", "64"});
  const UnitColumn usd = unit_column({0.1834, 2.8, std::nan("")}, Quantity::kUsd);
  CHECK(usd.unit == "USD");
  CHECK(usd.cells == std::vector<std::string>{"0.18", "2.80", "-"});
}
