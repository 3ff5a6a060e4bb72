# Tests of the kernels area.
list(APPEND GMHA_TEST_SOURCES
)
