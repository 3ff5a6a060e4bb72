#include "gmha/report/table.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha::report {

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() != columns.size()) {
    throw std::logic_error(fmt::format("table '{}': row has {} cells, expected {}", title,
                                       cells.size(), columns.size()));
  }
  rows.push_back(std::move(cells));
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

std::string to_text(const Table& t) {
  std::vector<size_t> width(t.columns.size());
  for (size_t c = 0; c < t.columns.size(); ++c) {
    width[c] = display_width(t.columns[c].header);
    for (const auto& r : t.rows) width[c] = std::max(width[c], display_width(r[c]));
  }
  std::string out;
  if (!t.title.empty()) out += t.title + "\n";
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string l;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c) l += "  ";
      l += pad(cells[c], width[c], header ? t.columns[c].align : t.columns[c].align);
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    return l + "\n";
  };
  std::vector<std::string> hdr;
  for (const auto& c : t.columns) hdr.push_back(c.header);
  out += line(hdr, true);
  size_t total = 0;
  for (size_t c = 0; c < width.size(); ++c) total += width[c] + (c ? 2 : 0);
  out += std::string(total, '-') + "\n";
  for (const auto& r : t.rows) out += line(r, false);
  for (const auto& n : t.notes) out += n + "\n";
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

std::string latex_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    switch (ch) {
      case '&': case '%': case '$': case '#': case '_': case '{': case '}':
        o += '\\';
        o += ch;
        break;
      case '~': o += "\\textasciitilde{}"; break;
      case '^': o += "\\textasciicircum{}"; break;
      case '\\': o += "\\textbackslash{}"; break;
      default: o += ch;
    }
  }
  return o;
}

std::string to_latex(const Table& t) {
  std::string spec;
  for (const auto& c : t.columns) spec += c.align == Align::kLeft ? "l" : "r";
  std::string out = "% requires \\usepackage{booktabs}\n\\begin{table}[t]\n\\centering\n";
  if (!t.title.empty()) out += "\\caption{" + latex_escape(t.title) + "}\n";
  out += "\\begin{tabular}{" + spec + "}\n\\toprule\n";
  for (size_t c = 0; c < t.columns.size(); ++c) {
    out += (c ? " & " : "") + latex_escape(t.columns[c].header);
  }
  out += " \\\\\n\\midrule\n";
  for (const auto& r : t.rows) {
    for (size_t c = 0; c < r.size(); ++c) out += (c ? " & " : "") + latex_escape(r[c]);
    out += " \\\\\n";
  }
  out += "\\bottomrule\n\\end{tabular}\n";
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
  throw std::logic_error("render: JSON is written by the command, not from a table");
}

}  // namespace gmha::report
