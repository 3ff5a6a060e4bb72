#include "gmha/report/svg_plot.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <string>

#include "gmha/core/error.hpp"
#include "report/svg_check.hpp"

using namespace gmha;
using namespace gmha::report;

TEST_CASE("svg ticks: linear ticks step by 1, 2 or 5 times a power of ten and cover the range",
          "[report][svg]") {
  CHECK(nice_linear_ticks(0, 97, 5) == std::vector<double>{0, 20, 40, 60, 80, 100});
  CHECK(nice_linear_ticks(0, 1, 5) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  auto t = nice_linear_ticks(-3, 7, 4);
  CHECK(t.front() <= -3);
  CHECK(t.back() >= 7);
  CHECK(std::abs((t[1] - t[0]) - 5) < 1e-12);
  // No "-0" tick.
  for (double v : nice_linear_ticks(-0.3, 0.3, 6)) CHECK(!std::signbit(v == 0 ? v : 1.0));
}

TEST_CASE("svg ticks: log ticks sit on powers of the base with a stride that bounds their count",
          "[report][svg]") {
  CHECK(log_ticks(1e3, 1e6, 10, 8) == std::vector<double>{1e3, 1e4, 1e5, 1e6});
  // 2^10 .. 2^20 is 11 powers of two; at most 6 ticks -> every second power, from 2^10.
  auto t = log_ticks(1024, 1048576, 2, 6);
  REQUIRE(t.size() == 6);
  CHECK(t.front() == 1024);
  CHECK(t[1] == 4096);
  CHECK(t.back() == 1048576);
  // Twelve decades with at most 7 ticks: every second decade.
  auto w = log_ticks(1, 1e12, 10, 7);
  CHECK(w.size() == 7);
  CHECK(w[1] == 100);
  // Under two decades: 1-2-5 ticks instead of one lonely power of ten.
  auto n = log_ticks(1, 50, 10, 8);
  CHECK(n == std::vector<double>{1, 2, 5, 10, 20, 50});
}

TEST_CASE("svg ticks: labels are compact and use the axis unit", "[report][svg]") {
  CHECK(format_tick(1024, TickFormat::kBytes) == "1 KiB");
  CHECK(format_tick(1.5 * 1024 * 1024 * 1024, TickFormat::kBytes) == "1.5 GiB");
  CHECK(format_tick(512, TickFormat::kBytes) == "512 B");
  CHECK(format_tick(0, TickFormat::kBytes) == "0 B");
  CHECK(format_tick(32768, TickFormat::kTokens) == "32K");
  CHECK(format_tick(1048576, TickFormat::kTokens) == "1M");
  CHECK(format_tick(1e6, TickFormat::kNumber) == "1M");
  CHECK(format_tick(2500, TickFormat::kNumber) == "2.5K");
  CHECK(format_tick(1e15, TickFormat::kNumber) == "1P");
  CHECK(format_tick(0.01, TickFormat::kUsd) == "$0.01");
  CHECK(format_tick(-20, TickFormat::kNumber) == "-20");
}

TEST_CASE("svg text: markup characters are escaped", "[report][svg]") {
  CHECK(xml_escape("a<b & \"c\" > 'd'") == "a&lt;b &amp; &quot;c&quot; &gt; &apos;d&apos;");
  CHECK(xml_escape(std::string("x\x01y")) == "x y");
}

TEST_CASE("svg colour scale: luminance rises monotonically so it reads in grey print",
          "[report][svg]") {
  double prev = -1;
  for (int i = 0; i <= 20; ++i) {
    std::string c = sequential_colour(i / 20.0);
    REQUIRE(c.size() == 7);
    int r = std::stoi(c.substr(1, 2), nullptr, 16), g = std::stoi(c.substr(3, 2), nullptr, 16),
        b = std::stoi(c.substr(5, 2), nullptr, 16);
    double lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    CHECK(lum > prev);
    prev = lum;
  }
  CHECK(sequential_colour(-5) == sequential_colour(0));
  CHECK(sequential_colour(std::numeric_limits<double>::quiet_NaN()) == sequential_colour(0));
}

namespace {

LinePlot sample_plot() {
  LinePlot p;
  p.title = "KV cache vs context <per sequence>";
  p.x = {"context length (tokens)", AxisScale::kLog, TickFormat::kTokens};
  p.y = {"KV cache (bytes)", AxisScale::kLog, TickFormat::kBytes};
  const char* names[] = {
      "DeepSeek-V3 (MLA)", "Step-3 (MFA)", "Qwen3-235B (GQA) & co", "MHA baseline", "MQA",
      "GQA g=4",           "MFA-KR",       "eighth series"};
  for (int s = 0; s < 8; ++s) {
    PlotSeries ser;
    ser.name = names[s];
    for (int e = 10; e <= 20; ++e) {
      ser.x.push_back(std::ldexp(1.0, e));
      ser.y.push_back(std::ldexp(1.0, e) * (s + 1) * 70000.0);
    }
    p.series.push_back(ser);
  }
  p.series[1].y[3] = std::numeric_limits<double>::quiet_NaN();  // breaks the line
  p.series[2].y[4] = -1;                                        // not on a log axis
  p.references.push_back({80e9, "H100 80 GB"});
  p.references.push_back({96e9, "H20 96 GB"});  // close to the first: labels must not collide
  return p;
}

}  // namespace

TEST_CASE("svg line plot: a log-log plot is well-formed XML and renders with rsvg-convert",
          "[report][svg]") {
  std::string svg = render_line_plot(sample_plot());
  CHECK(svg.find("&lt;per sequence&gt;") != std::string::npos);
  CHECK(svg.find("Qwen3-235B (GQA) &amp; co") != std::string::npos);
  CHECK(svg.find("1 GiB") != std::string::npos);  // a byte tick label on the y axis
  CHECK(svg.find(">1M<") != std::string::npos);   // a token tick label on the x axis
  CHECK(svg.find("H20 96 GB") != std::string::npos);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  gmha::test::check_svg_renders(svg, "lineplot");
}

TEST_CASE("svg line plot: tick labels along x never overlap, even on a narrow plot",
          "[report][svg]") {
  LinePlot p;
  p.x = {"tokens", AxisScale::kLinear, TickFormat::kNumber};
  p.y = {"y", AxisScale::kLinear, TickFormat::kNumber};
  p.plot_width = 150;
  PlotSeries s{"s", {0, 123456789}, {0, 1}};
  p.series.push_back(s);
  std::string svg = render_line_plot(p);
  // x tick labels are the middle-anchored texts on the row just under the plot.
  std::regex re(R"re(<text x="([0-9.]+)" y="([0-9.]+)" text-anchor="middle">([^<]*)</text>)re");
  std::map<std::string, std::vector<std::pair<double, std::string>>> rows;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator();
       ++it) {
    rows[(*it)[2].str()].push_back({std::stod((*it)[1].str()), (*it)[3].str()});
  }
  size_t checked = 0;
  for (auto& [y, labels] : rows) {
    if (labels.size() < 2) continue;
    for (size_t i = 1; i < labels.size(); ++i) {
      double gap = labels[i].first - labels[i - 1].first;
      // Half of each label's width (7 px per char is generous for 12 px DejaVu Sans).
      double need = 3.5 * (labels[i].second.size() + labels[i - 1].second.size());
      CHECK(gap > need);
      ++checked;
    }
  }
  CHECK(checked >= 1);
}

TEST_CASE("svg line plot: mismatched series and empty fixed ranges are input errors",
          "[report][svg]") {
  LinePlot p;
  p.series.push_back({"bad", {1, 2, 3}, {1, 2}});
  CHECK_THROWS_AS(render_line_plot(p), InputError);
  LinePlot q;
  q.x.min = 5;
  q.x.max = 5;
  CHECK_THROWS_AS(render_line_plot(q), InputError);
  LinePlot r;
  r.y.scale = AxisScale::kLog;
  r.y.min = -1;
  CHECK_THROWS_AS(render_line_plot(r), InputError);
}

TEST_CASE("svg line plot: no data still gives a valid, labelled plot", "[report][svg]") {
  LinePlot p;
  p.title = "empty";
  p.x.label = "x";
  p.y = {"y", AxisScale::kLog, TickFormat::kNumber};
  p.series.push_back({"only NaN", {1, 2}, {std::nan(""), std::nan("")}});
  std::string svg = render_line_plot(p);
  CHECK(svg.find("no data") != std::string::npos);
  gmha::test::check_svg_renders(svg, "empty");
}

TEST_CASE("svg heat map: cells take colours of the scale, NaN cells are marked, it renders",
          "[report][svg]") {
  HeatMap h;
  h.title = "Entropy effective rank per head";
  h.x_label = "head";
  h.y_label = "layer";
  h.value_label = "entropy rank";
  for (int r = 0; r < 5; ++r) {
    std::vector<double> row;
    for (int c = 0; c < 8; ++c) row.push_back(r * 8 + c);
    h.values.push_back(row);
  }
  h.values[2][3] = std::numeric_limits<double>::quiet_NaN();
  std::string svg = render_heat_map(h);
  // The smallest value takes the dark end of the scale, the largest the bright end.
  CHECK(svg.find("fill=\"" + sequential_colour(0) + "\"><title>layer 0, head 0: 0</title>") !=
        std::string::npos);
  CHECK(svg.find("fill=\"" + sequential_colour(1) + "\"><title>layer 4, head 7: 39</title>") !=
        std::string::npos);
  CHECK(svg.find("layer 2, head 3: no value") != std::string::npos);
  gmha::test::check_svg_renders(svg, "heatmap");

  HeatMap ragged = h;
  ragged.values[1].pop_back();
  CHECK_THROWS_AS(render_heat_map(ragged), InputError);
  HeatMap empty;
  CHECK_THROWS_AS(render_heat_map(empty), InputError);
}

TEST_CASE("svg heat map: a 61 x 128 map (DeepSeek-V3 sized) fits its box and renders",
          "[report][svg]") {
  HeatMap h;
  h.x_label = "head";
  h.y_label = "layer";
  h.value_label = "entropy rank";
  for (int r = 0; r < 61; ++r) h.values.push_back(std::vector<double>(128, r));
  std::string svg = render_heat_map(h);
  CHECK(svg.find("<title>layer") == std::string::npos);  // no per-cell tooltips at this size
  gmha::test::check_svg_renders(svg, "bigheat");
}
