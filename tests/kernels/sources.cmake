# Tests of the kernels area.
list(APPEND GMHA_TEST_SOURCES
  kernels/reference_test.cpp
  kernels/designs_reference_test.cpp
  kernels/sparse_reference_test.cpp
  kernels/nsa_reference_test.cpp
  kernels/mtla_reference_test.cpp
  kernels/compress_reference_test.cpp
  kernels/decode_test.cpp
  kernels/cuda_test.cpp
  kernels/validate_test.cpp
)
