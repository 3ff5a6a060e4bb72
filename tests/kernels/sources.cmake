# Tests of the kernels area.
list(APPEND GMHA_TEST_SOURCES
  kernels/reference_test.cpp
  kernels/decode_test.cpp
  kernels/cuda_test.cpp
  kernels/validate_test.cpp
  kernels/checkpoint_layer_test.cpp
  kernels/attention_cli_test.cpp
  kernels/hf_attention_loops.cpp
  kernels/tiny_checkpoint.cpp
)
