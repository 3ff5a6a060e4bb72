# Sources of the report area (explicit list, no globs).
list(APPEND GMHA_LIB_SOURCES
)
