#include "report/svg_check.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/test_paths.hpp"

namespace gmha::test {
namespace fs = std::filesystem;

bool have_tool(const std::string& tool) {
  std::string cmd = "command -v " + tool + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

std::string check_svg_renders(const std::string& svg, const std::string& tag) {
  fs::path dir = scratch_dir("svg-" + tag);
  fs::path svg_path = dir / (tag + ".svg"), png_path = dir / (tag + ".png");
  {
    std::ofstream out(svg_path, std::ios::binary);
    out << svg;
  }
  REQUIRE(svg.rfind("<svg ", 0) == 0);
  if (have_tool("xmllint")) {
    std::string cmd = "xmllint --noout '" + svg_path.string() + "' 2>&1";
    INFO("xmllint rejected " << svg_path);
    CHECK(std::system(cmd.c_str()) == 0);
  } else {
    gmha::test::skip_missing("xmllint not found (Debian: libxml2-utils); XML well-formedness not checked");
  }
  if (!have_tool("rsvg-convert")) {
    gmha::test::skip_missing("rsvg-convert not found (Debian: librsvg2-bin); SVG rendering not checked");
    return {};
  }
  std::string cmd = "rsvg-convert -o '" + png_path.string() + "' '" + svg_path.string() + "' 2>&1";
  INFO("rsvg-convert failed on " << svg_path);
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream png(png_path, std::ios::binary);
  std::string magic(8, '\0');
  png.read(magic.data(), 8);
  CHECK(magic == std::string("\x89PNG\r\n\x1a\n", 8));
  CHECK(fs::file_size(png_path) > 1000);
  return png_path.string();
}

}  // namespace gmha::test
