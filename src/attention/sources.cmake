# Sources of the attention area (explicit list, no globs).
list(APPEND GMHA_LIB_SOURCES
)
