# Tests of the rank area.
list(APPEND GMHA_TEST_SOURCES
  rank/spectrum_test.cpp
  rank/audit_test.cpp
)
