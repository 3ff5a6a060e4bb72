#pragma once
// What the published-config tests of the capacity area share: a config.json text read as a
// user's file, the exact-convention figures at a context, and the relative distance to a
// published figure.
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/capacity/figures.hpp"
#include "support/test_paths.hpp"

namespace gmha::test {

/// `text` parsed as a config.json named "config.json".
inline ModelDesign parse_config(const char* text) {
  return model_from_hf_config(nlohmann::json::parse(text), "config.json");
}

/// A published config kept in tests/capacity/fixtures/ (each test names its source).
inline nlohmann::json read_fixture(const std::string& name) {
  const std::string path = source_dir() + "/tests/capacity/fixtures/" + name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing test fixture " + path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

/// Figures at `context` tokens, batch 1, the exact (vLLM-allocation) convention.
inline ModelFigures exact_at(const ModelDesign& m, int64_t context) {
  return compute_figures(m, {context, 1, Convention::kExact});
}

/// |got - published| / published.
inline double off_by(double got, double published) { return std::abs(got - published) / published; }

}  // namespace gmha::test
