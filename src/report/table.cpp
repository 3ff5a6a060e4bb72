#include "gmha/report/table.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <regex>
#include <string_view>
#include <stdexcept>

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha::report {

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() != columns.size()) {
    throw InternalError(fmt::format("table '{}': row has {} cells, expected {}", title,
                                       cells.size(), columns.size()));
  }
  rows.push_back(std::move(cells));
}

void Table::set_unit_column(size_t column, const std::vector<double>& values, Quantity q) {
  if (column >= columns.size() || values.size() != rows.size()) {
    throw InternalError(fmt::format("table '{}': unit column {} has {} values for {} rows", title,
                                    column, values.size(), rows.size()));
  }
  const UnitColumn u = unit_column(values, q);
  if (!u.unit.empty()) columns[column].header += " [" + u.unit + "]";
  for (size_t r = 0; r < rows.size(); ++r) rows[r][column] = u.cells[r];
}

namespace {
// Display width in terminal columns: UTF-8 continuation bytes take no column.
size_t display_width(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}
std::string pad(const std::string& s, size_t width, Align a) {
  const size_t w = display_width(s);
  if (w >= width) return s;
  std::string fill(width - w, ' ');
  return a == Align::kLeft ? s + fill : fill + s;
}
}  // namespace

namespace {

size_t g_text_width = 100;

// Splits a header into lines at spaces, none wider than `width` unless one word is.
std::vector<std::string> wrap_words(const std::string& text, size_t width) {
  std::vector<std::string> lines;
  std::string line;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    if (!line.empty() && display_width(line) + 1 + display_width(word) > width) {
      lines.push_back(line);
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    start = end + 1;
  }
  if (!line.empty() || lines.empty()) lines.push_back(line);
  return lines;
}

size_t longest_word(const std::string& text) {
  size_t best = 0;
  for (const auto& w : wrap_words(text, 0)) best = std::max(best, display_width(w));
  return best;
}

// One block of columns (indices into t.columns), headers as lines, padded and ruled.
std::string render_block(const Table& t, const std::vector<size_t>& cols, bool wrap_headers,
                         size_t last_width = 0) {
  std::vector<size_t> width(cols.size());
  std::vector<std::vector<std::string>> header(cols.size());
  size_t header_lines = 1;
  for (size_t i = 0; i < cols.size(); ++i) {
    const size_t c = cols[i];
    size_t cells = 0;
    for (const auto& r : t.rows) cells = std::max(cells, display_width(r[c]));
    if (last_width > 0 && i + 1 == cols.size() && t.columns[c].align == Align::kLeft) {
      cells = 0;
      for (const auto& r : t.rows)
        for (const auto& l : wrap_words(r[c], last_width)) cells = std::max(cells, display_width(l));
    }
    const std::string& h = t.columns[c].header;
    // Wrapped to the cells' width, but never to more than about two lines of words.
    const size_t half = (display_width(h) + 1) / 2;
    header[i] = wrap_headers ? wrap_words(h, std::max({cells, longest_word(h), half}))
                             : std::vector<std::string>{h};
    width[i] = cells;
    for (const auto& l : header[i]) width[i] = std::max(width[i], display_width(l));
    header_lines = std::max(header_lines, header[i].size());
  }
  auto line = [&](auto cell_of) {
    std::string l;
    for (size_t i = 0; i < cols.size(); ++i) {
      if (i) l += "  ";
      l += pad(cell_of(i), width[i], t.columns[cols[i]].align);
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    return l + "\n";
  };
  std::string out;
  for (size_t k = 0; k < header_lines; ++k) {
    // Headers sit on the rule: a short header's first lines are blank.
    out += line([&](size_t i) -> std::string {
      const size_t skip = header_lines - header[i].size();
      return k < skip ? std::string() : header[i][k - skip];
    });
  }
  size_t total = 0;
  for (size_t i = 0; i < width.size(); ++i) total += width[i] + (i ? 2 : 0);
  out += std::string(total, '-') + "\n";
  for (const auto& r : t.rows) {
    // A left-aligned last column (descriptions) may wrap onto continuation lines.
    std::vector<std::string> last{r[cols.back()]};
    if (last_width > 0 && t.columns[cols.back()].align == Align::kLeft)
      last = wrap_words(r[cols.back()], last_width);
    for (size_t k = 0; k < last.size(); ++k) {
      out += line([&](size_t i) -> std::string {
        if (i + 1 == cols.size()) return last[k];
        return k == 0 ? r[cols[i]] : std::string();
      });
    }
  }
  return out;
}

size_t widest_line(const std::string& text) {
  size_t best = 0, start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    best = std::max(best, display_width(text.substr(start, end - start)));
    start = end + 1;
  }
  return best;
}

}  // namespace

std::string wrap_text(const std::string& text, size_t width) {
  std::string out;
  for (const auto& l : wrap_words(text, width)) out += (out.empty() ? "" : "\n") + l;
  return out;
}

size_t text_width() { return g_text_width; }
void set_text_width(size_t columns) { g_text_width = columns; }

std::string to_text(const Table& t) { return to_text(t, g_text_width); }

std::string to_text(const Table& t, size_t max_width) {
  std::vector<size_t> all(t.columns.size());
  for (size_t c = 0; c < all.size(); ++c) all[c] = c;
  std::string out;
  if (!t.title.empty()) out += (max_width > 0 ? wrap_text(t.title, max_width) : t.title) + "\n";
  const std::string full = render_block(t, all, false);
  if (max_width == 0 || widest_line(full) <= max_width) {
    out += full;
  } else {
    // 1. Wrap headers. 2. Split: each part holds the key columns and as many of the rest as fit
    // (at least one). 3. A part still too wide wraps its last column if that is text.
    std::vector<std::vector<size_t>> parts{all};
    const size_t keys = std::min(t.key_columns, t.columns.size());
    if (widest_line(render_block(t, all, true)) > max_width && t.columns.size() > keys + 1) {
      parts.clear();
      std::vector<size_t> part(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keys));
      for (size_t c = keys; c < t.columns.size(); ++c) {
        std::vector<size_t> trial = part;
        trial.push_back(c);
        if (part.size() > keys && widest_line(render_block(t, trial, true)) > max_width) {
          parts.push_back(part);
          part.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keys));
          part.push_back(c);
        } else {
          part = std::move(trial);
        }
      }
      parts.push_back(part);
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      std::string block = render_block(t, parts[i], true);
      if (widest_line(block) > max_width && parts[i].size() > 1 &&
          t.columns[parts[i].back()].align == Align::kLeft) {
        std::vector<size_t> rest(parts[i].begin(), parts[i].end() - 1);
        const size_t used = widest_line(render_block(t, rest, true)) + 2;
        block = render_block(t, parts[i], true, used + 20 < max_width ? max_width - used : 20);
      }
      if (i) out += fmt::format("\n(continued, part {} of {})\n", i + 1, parts.size());
      out += block;
    }
  }
  for (const auto& n : t.notes) out += (max_width > 0 ? wrap_text(n, max_width) : n) + "\n";
  return out;
}

std::string to_markdown(const Table& t) {
  auto esc = [](const std::string& s) {
    std::string o;
    for (char ch : s) {
      if (ch == '|') o += "\\|";
      else if (ch == '\n') o += "<br>";
      else o += ch;
    }
    return o;
  };
  std::string out;
  if (!t.title.empty()) out += "**" + esc(t.title) + "**\n\n";
  out += "|";
  for (const auto& c : t.columns) out += " " + esc(c.header) + " |";
  out += "\n|";
  for (const auto& c : t.columns) out += c.align == Align::kLeft ? ":---|" : "---:|";
  out += "\n";
  for (const auto& r : t.rows) {
    out += "|";
    for (const auto& cell : r) out += " " + esc(cell) + " |";
    out += "\n";
  }
  if (!t.notes.empty()) out += "\n";
  for (const auto& n : t.notes) out += esc(n) + "\n";
  return out;
}

std::string to_csv(const Table& t) {
  auto q = [](const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string o = "\"";
    for (char ch : s) o += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return o + "\"";
  };
  std::string out;
  for (size_t c = 0; c < t.columns.size(); ++c) out += (c ? "," : "") + q(t.columns[c].header);
  out += "\n";
  for (const auto& r : t.rows) {
    for (size_t c = 0; c < r.size(); ++c) out += (c ? "," : "") + q(r[c]);
    out += "\n";
  }
  return out;
}

namespace {

// pdflatex (with its default inputenc) stops at Unicode it has no definition for, so the
// characters gmha's tables use are written as LaTeX; anything else becomes '?' rather than an
// error. Math-mode replacements are merged into one $...$ run ("σ₁" -> "$\sigma_1$").
struct LatexChar {
  const char* utf8;
  const char* latex;
  bool math;
};
constexpr LatexChar kLatexChars[] = {
    {"Σ", "\\Sigma", true},   {"σ", "\\sigma", true},    {"τ", "\\tau", true},
    {"α", "\\alpha", true},   {"γ", "\\gamma", true},    {"μ", "\\mu", true},
    {"µ", "\\mu", true},      {"×", "\\times", true},    {"·", "\\cdot", true},
    {"≤", "\\leq", true},     {"≥", "\\geq", true},      {"≈", "\\approx", true},
    {"→", "\\to", true},      {"−", "-", true},          {"±", "\\pm", true},
    {"∞", "\\infty", true},   {"²", "^2", true},         {"³", "^3", true},
    {"₀", "_0", true},        {"₁", "_1", true},         {"₂", "_2", true},
    {"₃", "_3", true},        {"₄", "_4", true},         {"₅", "_5", true},
    {"₆", "_6", true},        {"₇", "_7", true},         {"₈", "_8", true},
    {"₉", "_9", true},        {"ᵀ", "^{\\top}", true},   {"–", "--", false},
    {"—", "---", false},      {"…", "\\ldots{}", false}, {"§", "\\S{}", false},
    {"é", "\\'e", false},     {"ö", "\\\"o", false},     {"ü", "\\\"u", false},
};

// Length of the UTF-8 sequence that starts with byte `c`.
size_t utf8_length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 1;
}

}  // namespace

std::string latex_escape(const std::string& s) {
  std::string o;
  bool in_math = false;
  auto text = [&](std::string_view t) {
    if (in_math) o += '$', in_math = false;
    o += t;
  };
  for (size_t i = 0; i < s.size();) {
    const unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x80) {
      const size_t n = std::min(utf8_length(ch), s.size() - i);
      const std::string_view seq(s.data() + i, n);
      i += n;
      const LatexChar* hit = nullptr;
      for (const auto& lc : kLatexChars)
        if (seq == lc.utf8) hit = &lc;
      if (hit == nullptr) {
        text("?");
      } else if (hit->math) {
        // A letter after a macro name would run into it ("\sigma x" is fine, "\sigmax" is not).
        if (!in_math) o += '$', in_math = true;
        else if (hit->latex[0] == '\\' && !o.empty() && std::isalpha(static_cast<unsigned char>(o.back())))
          o += ' ';
        o += hit->latex;
      } else {
        text(hit->latex);
      }
      continue;
    }
    ++i;
    switch (ch) {
      case '&': case '%': case '$': case '#': case '_': case '{': case '}':
        text(std::string{'\\', static_cast<char>(ch)});
        break;
      case '~': text("\\textasciitilde{}"); break;
      case '^': text("\\textasciicircum{}"); break;
      case '\\': text("\\textbackslash{}"); break;
      case '<': text("\\textless{}"); break;
      case '>': text("\\textgreater{}"); break;
      case '|': text("\\textbar{}"); break;
      default: text(std::string(1, static_cast<char>(ch)));
    }
  }
  if (in_math) o += '$';
  return o;
}

namespace {

// A cell as siunitx reads it: a plain number with an optional unit after one space
// ("70.3 KB") or a leading "$" (USD). Empty or "-" cells are placeholders.
struct NumericCell {
  bool placeholder = false;
  std::string number, unit;
};

bool plain_number(const std::string& s) {
  static const std::regex re(R"(^[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$)");
  return std::regex_match(s, re);
}

std::optional<NumericCell> numeric_cell(const std::string& cell) {
  if (cell.empty() || cell == "-" || cell == "n/a" || cell == "unknown") return NumericCell{true};
  if (cell[0] == '$' && plain_number(cell.substr(1))) return NumericCell{false, cell.substr(1), "USD"};
  const size_t sp = cell.find(' ');
  const std::string num = cell.substr(0, sp);
  if (!plain_number(num)) return std::nullopt;
  const std::string unit = sp == std::string::npos ? "" : cell.substr(sp + 1);
  if (unit.find(' ') != std::string::npos) return std::nullopt;
  return NumericCell{false, num, unit};
}

// An S column when every cell of a right-aligned column is a number with the same unit; the
// unit then moves to the header. Otherwise nullopt (a plain r column).
std::optional<std::string> column_unit(const Table& t, size_t c) {
  if (t.columns[c].align != Align::kRight) return std::nullopt;
  std::optional<std::string> unit;
  for (const auto& r : t.rows) {
    const auto n = numeric_cell(r[c]);
    if (!n) return std::nullopt;
    if (n->placeholder) continue;
    if (unit && *unit != n->unit) return std::nullopt;
    unit = n->unit;
  }
  return unit;
}

}  // namespace

std::string to_latex(const Table& t) {
  std::vector<std::optional<std::string>> units(t.columns.size());
  std::string spec;
  for (size_t c = 0; c < t.columns.size(); ++c) {
    units[c] = column_unit(t, c);
    spec += units[c] ? "S" : t.columns[c].align == Align::kLeft ? "l" : "r";
  }
  std::string out =
      "% requires \\usepackage{booktabs,siunitx,graphicx}\n\\begin{table}[t]\n\\centering\n";
  if (!t.title.empty()) out += "\\caption{" + latex_escape(t.title) + "}\n";
  if (!t.label.empty()) out += "\\label{tab:" + t.label + "}\n";
  // Shrink a table wider than the column to fit; never enlarge a narrow one.
  out += "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{%\n";
  out += "\\begin{tabular}{" + spec + "}\n\\toprule\n";
  for (size_t c = 0; c < t.columns.size(); ++c) {
    std::string h = latex_escape(t.columns[c].header);
    if (units[c] && !units[c]->empty()) h += " (" + latex_escape(*units[c]) + ")";
    out += (c ? " & " : "") + (units[c] ? "{" + h + "}" : h);  // S headers are braced text
  }
  out += " \\\\\n\\midrule\n";
  for (const auto& r : t.rows) {
    for (size_t c = 0; c < r.size(); ++c) {
      std::string cell;
      if (!units[c]) {
        cell = latex_escape(r[c]);
      } else {
        const auto n = numeric_cell(r[c]);
        cell = n->placeholder ? "{" + latex_escape(r[c]) + "}" : n->number;
      }
      out += (c ? " & " : "") + cell;
    }
    out += " \\\\\n";
  }
  out += "\\bottomrule\n\\end{tabular}}\n";
  for (const auto& n : t.notes) out += "\\par\\footnotesize " + latex_escape(n) + "\n";
  out += "\\end{table}\n";
  return out;
}

Format read_format(const std::string& name) {
  if (name == "table" || name == "text") return Format::kTable;
  if (name == "md" || name == "markdown") return Format::kMarkdown;
  if (name == "csv") return Format::kCsv;
  if (name == "json") return Format::kJson;
  if (name == "latex" || name == "tex") return Format::kLatex;
  throw InputError(fmt::format("format: unknown format '{}' (known: table, md, csv, json, latex)", name), "format");
}

std::string render(const Table& t, Format f) {
  switch (f) {
    case Format::kTable: return to_text(t);
    case Format::kMarkdown: return to_markdown(t);
    case Format::kCsv: return to_csv(t);
    case Format::kLatex: return to_latex(t);
    case Format::kJson: break;
  }
  throw InternalError("render: JSON is written by the command, not from a table");
}

}  // namespace gmha::report
