# Sources of the checkpoint area: file formats only (read, and the safetensors writer); core only.
list(APPEND GMHA_LIB_SOURCES
  src/checkpoint/element_decode.cpp
  src/checkpoint/mapped_file.cpp
  src/checkpoint/tensor_source.cpp
  src/checkpoint/safetensors.cpp
  src/checkpoint/gguf.cpp
  src/checkpoint/llama2c.cpp
  src/checkpoint/checkpoint.cpp
  src/checkpoint/safetensors_writer.cpp
)
