# Sources of the kernels area (explicit list, no globs).
list(APPEND GMHA_LIB_SOURCES
  src/kernels/rope.cpp
  src/kernels/layer_weights.cpp
  src/kernels/reference.cpp
  src/kernels/sparse.cpp
  src/kernels/mtla_reference.cpp
  src/kernels/nsa_reference.cpp
  src/kernels/nsa_bilinear.cpp
  src/kernels/gqa_projection.cpp
  src/kernels/compress_reference.cpp
  src/kernels/shared_reference.cpp
  src/kernels/fill_rule.cpp
  src/kernels/compare.cpp
  src/kernels/decode.cpp
  src/kernels/decode_portable.cpp
  src/kernels/decode_avx2.cpp
  src/kernels/decode_avx512.cpp
  src/kernels/fast_decoder.cpp
  src/kernels/bench.cpp
  src/kernels/validate.cpp
  src/kernels/cuda_dispatch.cpp
)
