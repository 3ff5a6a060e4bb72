# `cmake --install` of this build into a scratch prefix, then examples/library/ configured,
# built and run against that prefix as another project would (find_package(gmha)), with known
# answers: the KV bytes of a small Llama config, and the planted QK rank of a synth checkpoint.
set(GMHA_INSTALL_TEST_FLAGS "")
if(GMHA_SANITIZE)
  set(GMHA_INSTALL_TEST_FLAGS "-fsanitize=address,undefined -fno-omit-frame-pointer")
endif()
add_test(NAME install.library_examples
         COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR}
                 -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DWORK=${CMAKE_CURRENT_BINARY_DIR}/install-test
                 -DGMHA=$<TARGET_FILE:gmha> -DCXX=${CMAKE_CXX_COMPILER}
                 "-DFLAGS=${GMHA_INSTALL_TEST_FLAGS}"
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/install/run_install_test.cmake)
set_tests_properties(install.library_examples PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE)
