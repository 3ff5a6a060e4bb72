# End-to-end runs of the gmha binary: each checks the exit code and a pattern in the output.
# gmha_cli_test(NAME "<regex the output must match>" <args...>)
function(gmha_cli_test name pattern)
  add_test(NAME cli.${name} COMMAND gmha ${ARGN})
  set_tests_properties(cli.${name} PROPERTIES PASS_REGULAR_EXPRESSION "${pattern}")
endfunction()
# gmha_cli_error_test(NAME "<regex of the one-line error>" <args...>): must exit with code 2.
function(gmha_cli_error_test name pattern)
  add_test(NAME cli.${name}
           COMMAND ${CMAKE_COMMAND} -DCMD=$<TARGET_FILE:gmha> "-DARGS=${ARGN}"
                   "-DPATTERN=${pattern}" -DCODE=2 -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/expect_exit.cmake)
endfunction()

gmha_cli_test(help "Usage" --help)
