# Sources of the capacity area (explicit list, no globs).
list(APPEND GMHA_LIB_SOURCES
)
