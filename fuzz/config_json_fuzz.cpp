// libFuzzer target: config.json text -> JSON -> gmha::model_from_hf_config (the capacity
// code's parser, which the layout detector trusts for shapes) and the model validation. Oracle:
// malformed JSON or an impossible config must end as InputError (or nlohmann's parse_error for
// text that is not JSON); any other exception, crash or sanitizer report is a finding.
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/model.hpp"
#include "gmha/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  nlohmann::json j = nlohmann::json::parse(text, text + size, nullptr, false);
  if (j.is_discarded()) return 0;
  try {
    gmha::ModelDesign m = gmha::model_from_hf_config(j, "fuzz/config.json");
    gmha::validate_model(m, "fuzz/config.json");
  } catch (const gmha::InputError&) {
  }
  return 0;
}
