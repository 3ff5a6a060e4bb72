# Sources of the kernels area (explicit list, no globs).
list(APPEND GMHA_LIB_SOURCES
)
