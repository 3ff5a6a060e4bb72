// libFuzzer target: the text a user types into flags and --design specs, through the parsers
// that read it and on to the figures: gmha::parse_design_spec -> validate_model ->
// compute_figures (overflow-checked products), parse_hardware_def, and core/parse's token
// counts, amounts and integer ranges. The first byte picks the parser. Oracle: every bad text
// must end as InputError; any other exception, crash or sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/model.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/hardware.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 6) {
      case 0: {
        const gmha::ModelDesign m = gmha::parse_design_spec(text);
        gmha::validate_model(m, "fuzz");
        gmha::CapacityOptions o;
        o.context = 131072;
        o.batch = 64;
        (void)gmha::compute_figures(m, o);
        break;
      }
      case 1:
        (void)gmha::parse_hardware_def(text);
        break;
      case 2:
        (void)gmha::parse_token_counts(text, "--context");
        break;
      case 3:
        (void)gmha::parse_amount(text, "--memory", gmha::AmountKind::kBytes);
        break;
      case 4:
        (void)gmha::parse_amount(text, "--max-attn-params", gmha::AmountKind::kCount);
        break;
      case 5:
        (void)gmha::parse_int_ranges(text, "--heads", 0, INT32_MAX, 100000);
        break;
    }
  } catch (const gmha::InputError&) {
  }
  return 0;
}
