#pragma once
// Paths the tests use: the repository, the gmha binary, ../shared/data, and scratch folders.
#include <optional>
#include <string>

namespace gmha::test {

/// The repository root (compiled in).
std::string source_dir();
/// The built gmha executable (compiled in).
std::string gmha_binary();
/// `<repo>/../shared/data/<name>` when it exists, else nullopt (tests then WARN and return).
std::optional<std::string> shared_data(const std::string& name);
/// A fresh, empty scratch directory unique to this call, under the system temp dir.
std::string scratch_dir(const std::string& tag);

/// Result of running a command line through /bin/sh.
struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
/// Runs `gmha <args>` (args already shell-quoted as needed) and captures both streams.
RunResult run_gmha(const std::string& args);

}  // namespace gmha::test
