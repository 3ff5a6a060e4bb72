#pragma once
// Internal: dequantisation of ggml's quantized block types, one row (a whole number of blocks) at
// a time, straight from the mapped bytes. Every decoder follows ggml's reference dequantize_row_*
// (ggml-org/ggml src/ggml-quants.c at d99724f2) operation for operation in float, so the floats
// are bit-identical to llama.cpp's CPU reference; docs/formats.md spells out each block layout.
#include <cstddef>
#include <cstdint>

namespace gmha::detail {

/// Decodes `blocks` consecutive blocks at `src` into `out` (blocks * block values).
using BlockDecoder = void (*)(const std::byte* src, int64_t blocks, float* out);

/// A ggml quantized type that gmha dequantises.
struct GgufQuant {
  uint32_t type;        // ggml type id
  const char* name;     // "Q4_K", ...
  int64_t block;        // values per block
  int64_t block_bytes;  // bytes per block
  BlockDecoder decode;
};

/// The quantized type with ggml id `type`, or nullptr when gmha does not dequantise it (F32/F16/
/// BF16/F64 are plain encodings; IQ1/IQ2/IQ3 and Q1_0/Q2_0 are refused).
const GgufQuant* gguf_quant(uint32_t type);

}  // namespace gmha::detail
