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
# Quantized formats (issue 12). -ffp-contract=off: ggml's a * b - c must not become an FMA, or
# the dequantised floats would differ from the reference in the last bit on FMA targets.
list(APPEND GMHA_LIB_SOURCES
  src/checkpoint/gguf_quants.cpp
  src/checkpoint/safetensors_quant.cpp
  src/checkpoint/block_encode.cpp
  src/checkpoint/gguf_writer.cpp
)
set_source_files_properties(src/checkpoint/gguf_quants.cpp src/checkpoint/block_encode.cpp
                            PROPERTIES COMPILE_OPTIONS -ffp-contract=off)
