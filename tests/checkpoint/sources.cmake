# Tests of the checkpoint area.
list(APPEND GMHA_TEST_SOURCES
)
