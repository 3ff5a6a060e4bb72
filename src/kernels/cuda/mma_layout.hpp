#pragma once
// Register fragments of the warp-wide tensor-core instruction the v2 decode kernel uses,
//   mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32  D[16x8] = A[16x16] * B[16x8] + C,
// as the PTX ISA documents them ("Matrix Fragments for mma.m16n8k16 with floating point type").
// With groupID = lane / 4 and tig (threadID_in_group) = lane % 4:
//   A (row-major, 8 bf16 per lane in 4 .b32 registers a0..a7, lower index in the low half):
//     row = groupID      for a0 a1 a4 a5,  groupID + 8 for a2 a3 a6 a7
//     col = tig * 2 + (i & 1)  for a0..a3,  tig * 2 + (i & 1) + 8 for a4..a7
//   B (column-major, 4 bf16 per lane in 2 .b32 registers b0..b3):
//     row (k) = tig * 2 + (i & 1) for b0 b1,  tig * 2 + (i & 1) + 8 for b2 b3;  col (n) = groupID
//   C, D (4 f32 per lane c0..c3):
//     row = groupID for c0 c1,  groupID + 8 for c2 c3;  col = tig * 2 + (i & 1)
// The kernel takes A from a row-major [m][k] tile (the query, the probabilities) and B from a
// [n][k] tile (key rows: token n, channel k) or a [k][n] tile (value rows: token k, column n).
// These functions are plain host+device code so tests/kernels/cuda_layout_test.cpp can run the
// same index mapping on the CPU against an emulated mma (no GPU needed).
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define GMHA_HD __host__ __device__ __forceinline__
#else
#define GMHA_HD inline
#endif

namespace gmha::cuda::mma {

struct Coord {
  int row, col;
};

/// Element e (0..7) of lane's A fragment: its (row, col) in the 16x16 A tile.
GMHA_HD Coord a_coord(int lane, int e) {
  return {(lane >> 2) + ((e >> 1) & 1) * 8, (lane & 3) * 2 + (e & 1) + (e >> 2) * 8};
}
/// Element e (0..3) of lane's B fragment: its (k, n) in the 16x8 B tile.
GMHA_HD Coord b_coord(int lane, int e) {
  return {(lane & 3) * 2 + (e & 1) + (e >> 1) * 8, lane >> 2};
}
/// Element e (0..3) of lane's C/D fragment: its (row, col) in the 16x8 C tile.
GMHA_HD Coord c_coord(int lane, int e) {
  return {(lane >> 2) + (e >> 1) * 8, (lane & 3) * 2 + (e & 1)};
}

GMHA_HD uint32_t pack(uint16_t lo, uint16_t hi) {
  return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
}

/// A register r (0..3) from a row-major bf16 tile (`ld` elements per row, tile origin at
/// `tile`): elements 2r and 2r+1 are adjacent columns of one row, so on the device this is one
/// 32-bit shared-memory load (the tile's row stride and origin are even).
GMHA_HD uint32_t load_a(const uint16_t* tile, int ld, int lane, int r) {
  const Coord c = a_coord(lane, 2 * r);
  const uint16_t* p = tile + c.row * ld + c.col;
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const uint32_t*>(p);
#else
  return pack(p[0], p[1]);
#endif
}
/// B register r (0..1) from a [n][k] tile (key rows): elements 2r, 2r+1 are adjacent k of one n.
GMHA_HD uint32_t load_b_nk(const uint16_t* tile, int ld, int lane, int r) {
  const Coord c = b_coord(lane, 2 * r);
  const uint16_t* p = tile + c.col * ld + c.row;
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const uint32_t*>(p);
#else
  return pack(p[0], p[1]);
#endif
}
/// B register r (0..1) from a [k][n] tile (value rows): elements 2r, 2r+1 are in adjacent rows,
/// two 16-bit loads.
GMHA_HD uint32_t load_b_kn(const uint16_t* tile, int ld, int lane, int r) {
  const Coord c0 = b_coord(lane, 2 * r), c1 = b_coord(lane, 2 * r + 1);
  return pack(tile[c0.row * ld + c0.col], tile[c1.row * ld + c1.col]);
}

}  // namespace gmha::cuda::mma
