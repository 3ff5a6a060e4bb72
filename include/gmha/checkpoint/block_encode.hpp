#pragma once
// Quantization of float weights into the block formats gmha writes (`gmha synth --dtype`): the
// ggml types Q8_0, Q4_K, Q5_K and Q6_K (GGUF), MXFP4 (OCP MX, gpt-oss), NVFP4 (ModelOpt) and FP8
// E4M3 with 128x128 block scales (DeepSeek). Every layout is the one the readers decode
// (docs/formats.md); the choice of scales is gmha's own: K-quant sub-block scales are refined by
// least squares before they are rounded to 6 bits, so the error is at most that of plain
// round-to-nearest with the block's range. The test encoders in tests/checkpoint are a separate
// implementation, and the tests check these against them and against the readers.
#include <cstddef>
#include <cstdint>

namespace gmha {

/// Whether encode_ggml knows ggml type `type` (8 Q8_0, 12 Q4_K, 13 Q5_K, 14 Q6_K).
bool ggml_encodable(uint32_t type);
/// Values per block (32 or 256) and bytes per block of an encodable type; 0 otherwise.
int64_t ggml_encode_block(uint32_t type);
int64_t ggml_encode_block_bytes(uint32_t type);
/// Encodes `n` values (a multiple of the block) as n / block blocks at `out`.
void encode_ggml(uint32_t type, const float* x, int64_t n, std::byte* out);

/// MXFP4 as gpt-oss stores it: per 32 values one E8M0 scale byte 2^(e - 127), the smallest
/// power of two with absmax / scale ≤ 6 (no value clips), and 16 bytes of E2M1 codes rounded to
/// nearest even, the even element in the low nibble. `n` is a multiple of 32; `codes` gets n / 2
/// bytes, `scales` n / 32.
void encode_mxfp4(const float* x, int64_t n, uint8_t* codes, uint8_t* scales);

/// NVFP4's per-tensor scale (ModelOpt weight_scale_2): absmax / (6 · 448), so that the largest
/// block scale is E4M3's largest value; 1 for an all-zero tensor.
float nvfp4_global_scale(float absmax);
/// NVFP4 as ModelOpt stores it: per 16 values an E4M3 scale s ≈ absmax / 6 / global, values
/// E2M1(x / (s · global)), the even element in the low nibble; x ≈ e2m1 · s · global. `n` is a
/// multiple of 16; `codes` gets n / 2 bytes, `scales` n / 16.
void encode_nvfp4(const float* x, int64_t n, float global, uint8_t* codes, uint8_t* scales);

/// FP8 E4M3 with one float per block_rows x block_cols block (DeepSeek's weight_scale_inv:
/// weight = fp8 · scale_inv, scale_inv = block absmax / 448; edge blocks are partial). `x` is
/// row-major rows x cols; `codes` gets rows · cols bytes, `scale_inv` ceil(rows / br) · ceil(cols
/// / bc) floats, row-major.
void encode_fp8_blocks(const float* x, int64_t rows, int64_t cols, int64_t block_rows,
                       int64_t block_cols, uint8_t* codes, float* scale_inv);

/// float -> OCP E4M3FN bits, round to nearest even, saturating at ±448 (NaN -> 0x7f).
uint8_t encode_f8_e4m3(float v);
/// float -> E2M1 code (sign in bit 3), round to nearest even, saturating at ±6.
uint8_t encode_e2m1(float v);

}  // namespace gmha
