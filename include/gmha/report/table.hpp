#pragma once
// Tables as data, and the writers that format them: an aligned terminal table, Markdown, CSV and
// LaTeX (booktabs). JSON is written by each command from its own figures (exact values).
#include <string>
#include <vector>

#include "gmha/report/units.hpp"

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
  /// Leading columns that name a row (model, context, ...): repeated in every part when a
  /// terminal table is split to fit text_width().
  size_t key_columns = 1;

  /// Appends a row; throws InternalError when the cell count differs from the columns.
  void add_row(std::vector<std::string> cells);
  /// Fills column `column` of every row (one value per row, in order) from unit_column: the
  /// unit goes into the header as "header [unit]", the cells get aligned decimals.
  void set_unit_column(size_t column, const std::vector<double>& values, Quantity q);
};

/// Aligned plain text for a terminal: columns padded, a rule under the header. A table wider
/// than `max_width` display columns first wraps its headers at spaces, then, if still too wide,
/// is split into parts that each repeat the key columns. 0: never narrowed.
std::string to_text(const Table& t, size_t max_width);
/// The same at text_width().
std::string to_text(const Table& t);
/// Text wrapped at spaces into lines of at most `width` display columns (a longer word stays whole).
std::string wrap_text(const std::string& text, size_t width);
/// The width terminal tables are narrowed to: 100 columns unless set (0 = no limit, `--wide`).
size_t text_width();
void set_text_width(size_t columns);
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
