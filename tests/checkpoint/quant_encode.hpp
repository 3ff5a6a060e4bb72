#pragma once
// Test support: independent encoders for the quantized formats, written from the block layouts
// in docs/formats.md (not from the reader). Each quantises float data with plain round-to-nearest
// and returns the packed bytes together with its own dequantisation of the integers it chose
// (same float formula and order as the spec), so a reader round trip can be checked bit for bit.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace gmha::test {

struct Encoded {
  std::string bytes;          // the packed blocks
  std::vector<float> values;  // what a correct decoder yields for them
};

/// float -> IEEE binary16 bits, round to nearest even (normal and subnormal range; no overflow).
uint16_t to_f16(float v);
/// The float value of binary16 bits `h`.
float f16_value(uint16_t h);
/// n values drawn from a Student-like heavy-tailed distribution (deterministic for `seed`).
std::vector<float> random_weights(int64_t n, uint32_t seed, float scale = 0.02f);

/// GGUF block encoders by ggml type id (2 Q4_0, 3 Q4_1, 6 Q5_0, 7 Q5_1, 8 Q8_0, 9 Q8_1, 10 Q2_K,
/// 11 Q3_K, 12 Q4_K, 13 Q5_K, 14 Q6_K, 15 Q8_K, 20 IQ4_NL, 23 IQ4_XS, 39 MXFP4, 40 NVFP4).
/// x.size() must be a multiple of the type's block.
Encoded encode_gguf(uint32_t type, const std::vector<float>& x);
/// Values per block of a type encode_gguf knows.
int64_t gguf_block(uint32_t type);

/// E2M1 code (0..15, sign in bit 3) nearest to v (v already divided by the block scale).
uint8_t e2m1_code(float v);
/// The value of an E2M1 code.
float e2m1_value(uint8_t code);

}  // namespace gmha::test
