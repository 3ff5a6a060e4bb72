# Driver of install.library_examples (see install_tests.cmake). Fails with the step's output.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_out "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
run_step("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK}/prefix)
foreach(f include/gmha/gmha.hpp include/gmha/capacity/figures.hpp lib/cmake/gmha/gmhaConfig.cmake)
  if(NOT EXISTS ${WORK}/prefix/${f})
    message(FATAL_ERROR "the install lacks ${f}")
  endif()
endforeach()
run_step("configure examples/library" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/library
         -B ${WORK}/build -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_BUILD_TYPE=Release
         -DCMAKE_CXX_COMPILER=${CXX} "-DCMAKE_CXX_FLAGS=${FLAGS}"
         "-DCMAKE_EXE_LINKER_FLAGS=${FLAGS}")
run_step("build examples/library" ${CMAKE_COMMAND} --build ${WORK}/build)

# Known answer 1: Llama-shaped config, d 256, 4 layers, 8 KV heads of 32, bf16 cache:
# 2 (K and V) x 8 x 32 x 2 bytes x 4 layers = 4096 bytes per token; x 1000 tokens.
file(WRITE ${WORK}/config.json [[{"model_type": "llama", "hidden_size": 256,
  "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 8,
  "intermediate_size": 512, "vocab_size": 1000, "torch_dtype": "bfloat16"}]])
run_step("kv_bytes" ${WORK}/build/kv_bytes ${WORK}/config.json 1000)
if(NOT step_out MATCHES "kv_bytes_per_token 4096\n" OR NOT step_out MATCHES "kv_bytes at 1000 tokens 4096000\n")
  message(FATAL_ERROR "kv_bytes gave the wrong answer:\n${step_out}")
endif()

# Known answer 2: a synth checkpoint with QK rank 5 planted in every head.
run_step("gmha synth" ${GMHA} synth ${WORK}/ckpt --layout llama --d 64 --heads 4 --kv-heads 2
         --layers 1 --dtype f32 --qk-rank 5)
run_step("qk_spectrum" ${WORK}/build/qk_spectrum ${WORK}/ckpt 0 3)
if(NOT step_out MATCHES "layer 0 head 3: 16 singular values, rank 5\n")
  message(FATAL_ERROR "qk_spectrum gave the wrong answer:\n${step_out}")
endif()
message(STATUS "installed package: both examples built and gave the known answers")
