#pragma once
// Reports are written atomically: to a temporary file in the same directory, flushed, then
// renamed over the target, so a reader never sees half a report and a failure leaves no debris.
#include <string>
#include <string_view>

namespace gmha {

/// Writes `content` to `path` atomically. Throws InputError naming the path when it cannot.
void write_file_atomically(const std::string& path, std::string_view content);

/// Reads a whole (small) text file. Throws InputError naming the path when it cannot.
std::string read_text_file(const std::string& path);

}  // namespace gmha
