#pragma once
// Where command results go: stdout, or a file written atomically with --out.
#include <string>
#include <string_view>

namespace gmha::cli {

/// Writes `content` to stdout, or atomically to `out_path` when it is not empty.
void emit(std::string_view content, const std::string& out_path);

}  // namespace gmha::cli
