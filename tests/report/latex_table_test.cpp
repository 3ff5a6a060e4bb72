#include <catch2/catch.hpp>

#include "gmha/report/table.hpp"

using gmha::report::Align;
using gmha::report::latex_escape;
using gmha::report::Table;
using gmha::report::to_latex;

TEST_CASE("latex_escape: specials escaped, Unicode as one math run", "[report]") {
  CHECK(latex_escape("a_b & 50% #1 $x") == "a\\_b \\& 50\\% \\#1 \\$x");
  CHECK(latex_escape("QK σ₁") == "QK $\\sigma_1$");
  CHECK(latex_escape("Σ entropy rank") == "$\\Sigma$ entropy rank");
  CHECK(latex_escape("τ = 2×3") == "$\\tau$ = 2$\\times$3");
  CHECK(latex_escape("στ") == "$\\sigma \\tau$");  // no \sigmatau
  CHECK(latex_escape("a–b") == "a--b");
  CHECK(latex_escape("日") == "?");  // unknown to pdflatex: never an error
}

TEST_CASE("to_latex: label, S columns with the unit in the header, fitted to the line",
          "[report]") {
  Table t;
  t.title = "KV per token";
  t.label = std::string(20, 'k');  // (a literal here trips GCC 12's -Wmaybe-uninitialized)
  t.columns = {{"model", Align::kLeft}, {"KV/token"}, {"TER"}, {"mixed"}};
  t.add_row({"a_1", "70.3 KB", "128", "1 KB"});
  t.add_row({"b", "-", "64", "2 MB"});
  const std::string tex = to_latex(t);
  CHECK_THAT(tex, Catch::Contains("\\label{tab:" + std::string(20, 'k') + "}"));
  CHECK_THAT(tex, Catch::Contains("\\begin{tabular}{lSSr}"));
  CHECK_THAT(tex, Catch::Contains("{KV/token (KB)} & {TER} & mixed"));
  CHECK_THAT(tex, Catch::Contains("a\\_1 & 70.3 & 128 & 1 KB"));
  CHECK_THAT(tex, Catch::Contains("b & {-} & 64 & 2 MB"));
  CHECK_THAT(
      tex, Catch::Contains("\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}"));
}
