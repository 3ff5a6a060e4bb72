#pragma once
// gmha validate: every variant at several shapes (odd sizes too), every form against the double
// prefill reference, on fresh random weights and inputs each run (the seed is reported).
#include <cstdint>
#include <string>
#include <vector>

namespace gmha {

struct ValidateOptions {
  std::vector<std::string> designs;  // specs or presets; empty = the built-in set (every variant)
  std::string device = "cpu";        // cpu or cuda
  uint64_t seed = 0;
  int64_t tokens = 70;               // T per case (crosses a 64-token kernel block)
  int threads = 2;
  // Sparse rules, sinks, gates and shared caches (validate_rules()) run on every design as extra
  // reference rows; empty with the built-in designs = the built-in rule cases, otherwise none.
  std::vector<std::string> rules;
};

struct ValidationRow {
  std::string design;     // the spec that was run (presets reduced, see validate.cpp)
  std::string variant;    // "MLA"
  std::string check;      // e.g. "decode fp32 avx512+bf16 vs prefill"
  int64_t tokens = 0;
  double rel_error = 0;   // ||out - ref|| / ||ref||
  double tolerance = 0;
  bool passed = false;
  std::string worst;      // Comparison::summary()
};

/// Runs every check. Throws InputError for a bad design or device ("cuda" in a build without
/// CUDA, or no device found).
std::vector<ValidationRow> run_validation(const ValidateOptions& o);

/// The built-in designs run when none is given.
std::vector<std::string> default_validation_designs();

/// The rules `ValidateOptions::rules` takes: topk (DSA: the indexer's top-k when the layer has
/// index heads, else a seeded half of the tokens), moba, nsa, compress (HCA), csa (compression
/// with top-k entries), sinks, gate=head, gate=elem, share (a reader over another layer's cache).
/// sinks, gate=* and share apply to MHA/MQA/GQA layers only.
std::vector<std::string> validate_rules();

}  // namespace gmha
