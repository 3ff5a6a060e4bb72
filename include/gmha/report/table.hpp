#pragma once
// Tables as data, and the writers that format them: an aligned terminal table, Markdown, CSV and
// LaTeX (booktabs). JSON is written by each command from its own figures (exact values).
#include <string>
#include <vector>

namespace gmha::report {

enum class Align { kLeft, kRight };

struct Column {
  std::string header;
  Align align = Align::kRight;
};

struct Table {
  std::string title;                       // printed above the table (caption in LaTeX)
  std::vector<Column> columns;
  std::vector<std::vector<std::string>> rows;  // each row has columns.size() cells
  std::vector<std::string> notes;          // printed below (footnotes)
  std::string label;                       // LaTeX \label{tab:<label>} (letters, digits, -)

  /// Appends a row; throws InternalError when the cell count differs from the columns.
  void add_row(std::vector<std::string> cells);
};

/// Aligned plain text for a terminal: columns padded, a rule under the header.
std::string to_text(const Table& t);
/// GitHub-flavoured Markdown with alignment markers; pipes in cells escaped.
std::string to_markdown(const Table& t);
/// RFC 4180 CSV: header line, then rows; cells quoted when they hold , " or newlines.
std::string to_csv(const Table& t);
/// LaTeX table that pdflatex compiles with \usepackage{booktabs,siunitx,graphicx}: booktabs
/// rules, specials escaped, Unicode (Σ, σ₁, τ, ×, ...) as math, \label{tab:<label>}, numeric
/// columns sharing one unit as siunitx S columns with the unit in the header, and the tabular
/// shrunk to the line width when wider.
std::string to_latex(const Table& t);
/// Escapes text for LaTeX as to_latex does (specials, Unicode as math or '?').
std::string latex_escape(const std::string& s);

/// Output formats shared by commands.
enum class Format { kTable, kMarkdown, kCsv, kJson, kLatex };
/// Parses table|md|markdown|csv|json|latex or throws InputError naming --format.
Format read_format(const std::string& name);
/// Formats with the writer for `f` (not kJson).
std::string render(const Table& t, Format f);

}  // namespace gmha::report
