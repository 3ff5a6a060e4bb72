#pragma once
// Where command results go: stdout, or a file written atomically with --out.
#include <string>
#include <string_view>
#include <vector>

namespace gmha::cli {

/// Writes `content` to stdout, or atomically to `out_path` when it is not empty.
void emit(std::string_view content, const std::string& out_path);

/// Expands "8192,32k,128K,1M" into token counts; throws InputError naming `flag`.
std::vector<long long> parse_count_list(const std::string& text, const std::string& flag);

}  // namespace gmha::cli
