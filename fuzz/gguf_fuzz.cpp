// libFuzzer target: the GGUF parser (header, metadata of every type, tensor infos) and the
// GGUF -> Hugging Face config mapping. Oracle: InputError, or tensors inside the file that
// do not overlap; converting a parsed tensor's first row must stay inside the file too.
#include <cstddef>
#include <cstdint>
#include <span>

#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/checkpoint/gguf.hpp"
#include "gmha/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  try {
    const gmha::GgufHeader h = gmha::parse_gguf(file, "fuzz.gguf");
    for (const auto& t : h.tensors) {
      if (t.offset < h.data_begin || t.offset > size || t.bytes > size - t.offset) __builtin_trap();
      if (t.elements() < 0) __builtin_trap();
    }
    (void)h.metadata.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    (void)gmha::hf_config_from_gguf(h.metadata, "fuzz.gguf");
  } catch (const gmha::InputError&) {
  }
  return 0;
}
