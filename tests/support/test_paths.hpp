#pragma once
// Paths the tests use: the repository, the gmha binary, ../shared/data, and scratch folders.
#include <optional>
#include <string>

namespace gmha::test {

/// The repository root (compiled in).
std::string source_dir();
/// The built gmha executable (compiled in).
std::string gmha_binary();
/// `<repo>/../shared/data/<name>` when it exists, else nullopt (tests then call skip_missing
/// and return).
std::optional<std::string> shared_data(const std::string& name);

/// The running test case cannot check something because its input is missing (../shared/data,
/// OpenBLAS, an SVG renderer): with GMHA_REQUIRE_DATA=1 in the environment (CI) the test fails
/// here; otherwise the reason is printed and the test binary exits 77 at the end of the run,
/// which CTest reports as skipped. A test with a missing input is never reported as passed.
void skip_missing(const std::string& why);
/// As skip_missing, for what no CI machine has (a CUDA device): always a skip, never a failure.
void skip_unavailable(const std::string& why);
/// How many skip_missing / skip_unavailable calls this run made.
int skipped_count();
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
