# Tests of the core area.
list(APPEND GMHA_TEST_SOURCES
  core/dtype_test.cpp
  core/parse_test.cpp
  core/parallel_test.cpp
  core/atomic_file_test.cpp
)
