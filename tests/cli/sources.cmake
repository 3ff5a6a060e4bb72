# Tests of the cli area.
list(APPEND GMHA_TEST_SOURCES
  cli/compare_cli_test.cpp
)
