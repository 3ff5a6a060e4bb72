# Tests of the checkpoint area (formats, and the safetensors writer).
list(APPEND GMHA_TEST_SOURCES
  checkpoint/fixture_writer.cpp
  checkpoint/element_decode_test.cpp
  checkpoint/safetensors_test.cpp
  checkpoint/gguf_test.cpp
  checkpoint/llama2c_test.cpp
  checkpoint/malformed_test.cpp
  checkpoint/stories_test.cpp
  checkpoint/safetensors_writer_test.cpp
)
# Quantized formats (issue 12); the encoder must not fuse a * b - c either (see
# src/checkpoint/sources.cmake).
list(APPEND GMHA_TEST_SOURCES
  checkpoint/quant_encode.cpp
  checkpoint/gguf_quant_test.cpp
  checkpoint/safetensors_quant_test.cpp
  checkpoint/block_encode_test.cpp
  checkpoint/mx_ternary_test.cpp
)
set_source_files_properties(checkpoint/quant_encode.cpp PROPERTIES COMPILE_OPTIONS -ffp-contract=off)
