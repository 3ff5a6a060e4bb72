# Tests of the rank area.
list(APPEND GMHA_TEST_SOURCES
)
