// kv_bytes CONFIG.json [CONTEXT]: the KV cache a Hugging Face config implies, per token and at a
// context length (batch 1), as gmha compare computes it.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gmha/gmha.hpp"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: kv_bytes CONFIG.json [CONTEXT]\n");
    return 2;
  }
  try {
    const gmha::ModelDesign model = gmha::read_hf_config(argv[1]);
    gmha::CapacityOptions options;
    if (argc == 3) options.context = std::stoll(argv[2]);
    const gmha::ModelFigures f = gmha::compute_figures(model, options);
    std::printf("model %s: %lld layers, KV dtype %s\n", f.model.c_str(),
                static_cast<long long>(f.layers), f.kv_dtype.c_str());
    std::printf("kv_bytes_per_token %.0f\n", f.kv_bytes_per_token);
    std::printf("kv_bytes at %lld tokens %.0f\n", static_cast<long long>(f.context), f.kv_bytes);
  } catch (const gmha::Error& e) {
    std::fprintf(stderr, "kv_bytes: %s\n", e.what());
    return 2;
  }
  return 0;
}
