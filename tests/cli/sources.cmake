# Tests of the cli area.
list(APPEND GMHA_TEST_SOURCES
)
