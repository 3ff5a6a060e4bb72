// libFuzzer target: the safetensors header parser on arbitrary bytes (the whole file). Oracle:
// it either throws InputError or returns tensors whose spans lie inside the data and do not
// overlap; anything else (crash, other exception, sanitizer report) is a finding.
#include <cstddef>
#include <cstdint>
#include <span>

#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  try {
    const gmha::SafetensorsHeader h = gmha::parse_safetensors_header(file, "fuzz.safetensors");
    uint64_t end = h.data_begin;
    for (const auto& t : h.tensors) {
      if (t.offset < h.data_begin || t.offset > size || t.bytes > size - t.offset) __builtin_trap();
      if (t.bytes > 0 && t.offset < end) __builtin_trap();  // sorted, non-overlapping
      if (t.bytes > 0) end = t.offset + t.bytes;
      (void)t.elements();
    }
  } catch (const gmha::InputError&) {
  }
  return 0;
}
