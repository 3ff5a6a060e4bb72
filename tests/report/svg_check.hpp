#pragma once
// Checks that an SVG string is well-formed XML (xmllint) and renders (rsvg-convert, Debian's
// librsvg2-bin) to a non-empty PNG. When a tool is missing the check says so with WARN and only
// the checks that can run are made.
#include <string>

namespace gmha::test {

/// Writes `svg` to a scratch file named after `tag` and runs the checks (Catch2 CHECKs).
/// Returns the PNG path when it rendered, else an empty string.
std::string check_svg_renders(const std::string& svg, const std::string& tag);

/// True when `tool` is on PATH.
bool have_tool(const std::string& tool);

}  // namespace gmha::test
