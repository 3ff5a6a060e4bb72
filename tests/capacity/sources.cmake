# Tests of the capacity area.
list(APPEND GMHA_TEST_SOURCES
)
