# Driver of examples.<name>_regenerates: runs the example's command (as examples/README.md gives
# it) in WORK/<name>/work and compares every file of examples/<name>/ with the regenerated one.
set(root ${WORK}/${EXAMPLE})
file(REMOVE_RECURSE ${root})
file(MAKE_DIRECTORY ${root}/work)
if(EXAMPLE STREQUAL "paper-comparison")
  set(args report step3 deepseek-v3 qwen3-235b-a22b --hardware h800,h20,a800,ascend-910b
      --convention step3-paper --tp 8 --weight-dtype fp8 --context 8k,32k,64k
      --title "Step-3 vs DeepSeek-V3 vs Qwen3 (Step-3 paper accounting)"
      --out examples/paper-comparison)
elseif(EXAMPLE STREQUAL "stories260K-audit")
  # The command reads ../shared/data relative to the repository root: link it beside WORK/<name>/work.
  if(NOT EXISTS ${SOURCE_DIR}/../shared/data/stories260K-hf-f32)
    if("$ENV{GMHA_REQUIRE_DATA}" STREQUAL "1")
      message(FATAL_ERROR "../shared/data/stories260K-hf-f32 is missing (GMHA_REQUIRE_DATA=1)")
    endif()
    message(STATUS "SKIPPED: ../shared/data/stories260K-hf-f32 not found")
    return()  # SKIP_REGULAR_EXPRESSION makes CTest report the test skipped
  endif()
  file(CREATE_LINK ${SOURCE_DIR}/../shared ${root}/shared SYMBOLIC)
  set(args report --audit ../shared/data/stories260K-hf-f32 --title "stories260K rank audit"
      --out examples/stories260K-audit)
else()
  message(FATAL_ERROR "unknown example ${EXAMPLE}")
endif()
file(MAKE_DIRECTORY ${root}/work/examples)
execute_process(COMMAND ${GMHA} ${args} WORKING_DIRECTORY ${root}/work RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gmha ${args} failed (${rc}):\n${out}\n${err}")
endif()
file(GLOB_RECURSE committed RELATIVE ${SOURCE_DIR}/examples/${EXAMPLE} ${SOURCE_DIR}/examples/${EXAMPLE}/*)
file(GLOB_RECURSE made RELATIVE ${root}/work/examples/${EXAMPLE} ${root}/work/examples/${EXAMPLE}/*)
list(LENGTH committed n)
if(n EQUAL 0)
  message(FATAL_ERROR "examples/${EXAMPLE} holds no files")
endif()
if(NOT committed STREQUAL made)
  message(FATAL_ERROR "the regenerated file list differs:\ncommitted: ${committed}\nmade: ${made}")
endif()
set(differ)
foreach(f IN LISTS committed)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${SOURCE_DIR}/examples/${EXAMPLE}/${f}
                          ${root}/work/examples/${EXAMPLE}/${f} RESULT_VARIABLE same)
  if(NOT same EQUAL 0)
    list(APPEND differ ${f})
  endif()
endforeach()
if(differ)
  message(FATAL_ERROR "examples/${EXAMPLE}: regenerated files differ: ${differ} (regenerate with "
                      "the command in examples/README.md and commit)")
endif()
message(STATUS "examples/${EXAMPLE}: ${n} files regenerated identically")
