# Sources of the core area (explicit list, no globs).
list(APPEND GMHA_LIB_SOURCES
  src/core/error.cpp
  src/core/dtype.cpp
  src/core/atomic_file.cpp
  src/core/json_text.cpp
  src/core/blas.cpp
  src/core/float_formats.cpp
  src/core/parse.cpp
  src/core/parallel.cpp
)
