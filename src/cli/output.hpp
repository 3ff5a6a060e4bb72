#pragma once
// Where command results go: stdout, or a file written atomically with --out.
#include <string>
#include <string_view>

namespace gmha::cli {

/// Writes `content` to stdout (`out_path` empty or "-"), or else to `out_path` through
/// write_file_atomically: a regular file is replaced keeping its mode, a symlink is written
/// through, a device, FIFO or folder is refused with InputError naming it.
void emit(std::string_view content, const std::string& out_path);

/// Refuses, before a long computation, an `out_path` that emit would refuse at the end.
void check_output(const std::string& out_path);

}  // namespace gmha::cli
