// libFuzzer target: config.json text -> parse_json_text -> gmha::model_from_hf_config (the
// capacity code's parser, which the layout detector trusts for shapes) and the model validation:
// the path `gmha compare CONFIG.json` takes. Oracle: malformed JSON or an impossible config must
// end as InputError; any other exception, crash or sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/model.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/json_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const nlohmann::json j =
        gmha::parse_json_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
    gmha::ModelDesign m = gmha::model_from_hf_config(j, "fuzz/config.json");
    gmha::validate_model(m, "fuzz/config.json");
  } catch (const gmha::InputError&) {
  }
  return 0;
}
