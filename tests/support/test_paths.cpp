#include "support/test_paths.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gmha::test {
namespace fs = std::filesystem;

std::string source_dir() { return GMHA_SOURCE_DIR; }
std::string gmha_binary() { return GMHA_BINARY; }

std::optional<std::string> shared_data(const std::string& name) {
  fs::path p = fs::path(GMHA_SOURCE_DIR) / ".." / "shared" / "data" / name;
  if (fs::exists(p)) return fs::canonical(p).string();
  return std::nullopt;
}

namespace {
std::atomic<int> g_skipped{0};
}

void skip_missing(const std::string& why) {
  const char* require = std::getenv("GMHA_REQUIRE_DATA");
  if (require && std::string(require) == "1") {
    FAIL("missing input with GMHA_REQUIRE_DATA=1: " << why);
  }
  WARN("SKIPPED: " << why);
  ++g_skipped;
}

void skip_unavailable(const std::string& why) {
  WARN("SKIPPED: " << why);
  ++g_skipped;
}

int skipped_count() { return g_skipped.load(); }

std::string scratch_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  fs::path p = fs::temp_directory_path() /
               ("gmha-test-" + std::to_string(::getpid()) + "-" + tag + "-" +
                std::to_string(counter++));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

static std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RunResult run_gmha(const std::string& args) {
  std::string dir = scratch_dir("run");
  fs::path out = fs::path(dir) / "stdout", err = fs::path(dir) / "stderr";
  std::string cmd = "'" + gmha_binary() + "' " + args + " >'" + out.string() + "' 2>'" +
                    err.string() + "' </dev/null";
  int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove_all(dir);
  return r;
}

}  // namespace gmha::test
