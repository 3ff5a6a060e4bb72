# Tests of the report area.
list(APPEND GMHA_TEST_SOURCES
)
