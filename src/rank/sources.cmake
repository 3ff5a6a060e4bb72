# Sources of the rank area (explicit list, no globs): spectra, metrics, the audit.
list(APPEND GMHA_LIB_SOURCES
  src/rank/spectrum.cpp
  src/rank/metrics.cpp
  src/rank/audit.cpp
  src/rank/audit_json.cpp
  src/rank/subspace.cpp
  src/rank/audit_diff.cpp
  src/rank/audit_diff_json.cpp
)
