#include "cli/output.hpp"

#include <cstdio>

#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"

namespace gmha::cli {

void emit(std::string_view content, const std::string& out_path) {
  if (out_path.empty()) {
    std::fwrite(content.data(), 1, content.size(), stdout);
    std::fflush(stdout);
  } else {
    write_file_atomically(out_path, content);
  }
}

}  // namespace gmha::cli
