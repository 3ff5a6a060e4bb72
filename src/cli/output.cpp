#include "cli/output.hpp"

#include <cstdio>

#include "gmha/core/atomic_file.hpp"
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

}  // namespace gmha::cli
