#include "cli/output.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "gmha/core/atomic_file.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"

namespace gmha::cli {

void emit(std::string_view content, const std::string& out_path) {
  if (out_path.empty() || out_path == "-") {
    // A closed or full stdout is an error too: a report that was not delivered must not exit 0.
    const size_t n = std::fwrite(content.data(), 1, content.size(), stdout);
    if (n != content.size() || std::fflush(stdout) != 0) {
      throw InputError("stdout: write failed (closed pipe or full device)");
    }
  } else {
    write_file_atomically(out_path, content);
  }
}

void check_output(const std::string& out_path) {
  if (!out_path.empty() && out_path != "-") resolve_output_target(out_path);
}

std::vector<long long> parse_count_list(const std::string& text, const std::string& flag) {
  std::vector<long long> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.empty()) throw InputError(fmt::format("{}: empty value in '{}'", flag, text));
    int64_t mult = 1;
    char last = item.back();
    if (last == 'k' || last == 'K') mult = 1024;
    if (last == 'm' || last == 'M') mult = 1024 * 1024;
    if (mult != 1) item.pop_back();
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos ||
        item.size() > 18) {
      throw InputError(fmt::format("{}: '{}' is not a positive count (e.g. 8192, 32k)", flag, text));
    }
    int64_t v = checked_mul(std::stoll(item), mult, flag.c_str());
    if (v <= 0) throw errors::not_positive(flag, "value", v);
    out.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace gmha::cli
