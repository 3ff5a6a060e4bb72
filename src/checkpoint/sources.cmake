# Sources of the checkpoint area (explicit list, no globs).
list(APPEND GMHA_LIB_SOURCES
)
