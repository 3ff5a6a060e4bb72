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
