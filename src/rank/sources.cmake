# Sources of the rank area (explicit list, no globs). The safetensors writer lives in checkpoint/
# but belongs to the audit work (synth is its only user), so it is listed here.
list(APPEND GMHA_LIB_SOURCES
  src/checkpoint/safetensors_writer.cpp
  src/rank/spectrum.cpp
  src/rank/metrics.cpp
  src/rank/synth.cpp
  src/rank/audit.cpp
  src/rank/audit_json.cpp
)
