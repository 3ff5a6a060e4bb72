# Tests of the attention area.
list(APPEND GMHA_TEST_SOURCES
)
