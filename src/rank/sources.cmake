# Sources of the rank area (explicit list, no globs).
list(APPEND GMHA_LIB_SOURCES
)
