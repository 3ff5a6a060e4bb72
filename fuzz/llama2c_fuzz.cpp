// libFuzzer target: the llama2.c header parser (legacy and 'ak42' versions). Oracle: InputError,
// or a tensor list that tiles the file exactly.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "gmha/checkpoint/llama2c.hpp"
#include "gmha/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  try {
    std::vector<gmha::TensorInfo> tensors;
    gmha::parse_llama2c(file, "fuzz.bin", &tensors);
    uint64_t pos = tensors.empty() ? size : tensors.front().offset;
    for (const auto& t : tensors) {
      if (t.offset != pos) __builtin_trap();
      pos += t.bytes;
    }
    if (pos != size) __builtin_trap();
  } catch (const gmha::InputError&) {
  }
  return 0;
}
