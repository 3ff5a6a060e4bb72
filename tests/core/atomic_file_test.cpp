#include "gmha/core/atomic_file.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "gmha/core/error.hpp"
#include "support/test_paths.hpp"

namespace fs = std::filesystem;

TEST_CASE("write_file_atomically: regular files, symlinks, and what it refuses", "[core]") {
  const std::string dir = gmha::test::scratch_dir("atomic");
  const std::string f = dir + "/a.txt";
  gmha::write_file_atomically(f, "one\n");
  CHECK(gmha::read_text_file(f) == "one\n");
  fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  gmha::write_file_atomically(f, "two\n");
  CHECK(gmha::read_text_file(f) == "two\n");
  CHECK(fs::status(f).permissions() ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));

  // A chain of two links: written through to the file, both links stay links.
  fs::create_symlink("a.txt", dir + "/l1");
  fs::create_symlink(dir + "/l1", dir + "/l2");
  CHECK(gmha::resolve_output_target(dir + "/l2").path == dir + "/a.txt");
  gmha::write_file_atomically(dir + "/l2", "three\n");
  CHECK(fs::is_symlink(dir + "/l1"));
  CHECK(fs::is_symlink(dir + "/l2"));
  CHECK(gmha::read_text_file(f) == "three\n");

  REQUIRE(::mkfifo((dir + "/p").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(gmha::write_file_atomically(dir + "/p", "x"), Catch::Contains("is a FIFO"));
  CHECK_THROWS_WITH(gmha::write_file_atomically(dir, "x"), Catch::Contains("is a folder"));
  CHECK_THROWS_WITH(gmha::write_file_atomically("/dev/null", "x"),
                    Catch::Contains("is a character device"));
  fs::create_symlink("loop", dir + "/loop");
  CHECK_THROWS_WITH(gmha::write_file_atomically(dir + "/loop", "x"),
                    Catch::Contains("too many levels of symlinks"));
  CHECK_THROWS_AS(gmha::write_file_atomically(dir + "/none/x", "x"), gmha::InputError);
  // Nothing but the files above: no temporaries left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  CHECK(entries == 5);  // a.txt l1 l2 p loop
}

TEST_CASE("StagedFolder: replaces a folder as a whole, or leaves it untouched", "[core]") {
  const std::string dir = gmha::test::scratch_dir("staged");
  const std::string t = dir + "/out";
  auto never = [](const std::string&) { return false; };
  {
    gmha::StagedFolder s("--out", t, false, never);
    std::ofstream(s.path() + "/x") << "1";
    CHECK_FALSE(fs::exists(t));  // nothing at the target until commit
    s.commit();
  }
  CHECK(gmha::read_text_file(t + "/x") == "1");
  // Not ours and not empty: refused without force, before anything is created.
  CHECK_THROWS_WITH(gmha::StagedFolder("--out", t, false, never),
                    Catch::Contains("is not an earlier output"));
  {
    gmha::StagedFolder s("--out", t, false, [](const std::string&) { return true; });
    std::ofstream(s.path() + "/y") << "2";
    // No commit (as when an exception unwinds): the staging folder goes, the target stays.
  }
  CHECK(fs::exists(t + "/x"));
  CHECK_FALSE(fs::exists(t + "/y"));
  {
    gmha::StagedFolder s("--out", t, true, never);
    std::ofstream(s.path() + "/y") << "2";
    s.commit();
  }
  CHECK_FALSE(fs::exists(t + "/x"));
  CHECK(fs::exists(t + "/y"));
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  CHECK(entries == 1);
  std::ofstream(dir + "/file") << "f";
  CHECK_THROWS_WITH(gmha::StagedFolder("--out", dir + "/file", true, never),
                    Catch::Contains("exists and is not a folder"));
}

TEST_CASE("require_free_space refuses what cannot fit", "[core]") {
  const std::string dir = gmha::test::scratch_dir("space");
  CHECK(gmha::free_bytes_at(dir) > 0);
  // A path not made yet is measured on its nearest existing ancestor (the same file system;
  // other tests write meanwhile, so equal within a margin, not to the byte).
  const double here = static_cast<double>(gmha::free_bytes_at(dir));
  const double below = static_cast<double>(gmha::free_bytes_at(dir + "/not/yet/made"));
  CHECK(below > 0);
  CHECK(std::abs(below - here) < 1e9);
  CHECK_NOTHROW(gmha::require_free_space("--out", dir, 1000));
  CHECK_THROWS_WITH(gmha::require_free_space("synth", dir, uint64_t{1} << 62),
                    Catch::Contains("GB are free"));
}
