# Tests of the rank area (and of the safetensors writer, which the audit work owns).
list(APPEND GMHA_TEST_SOURCES
  checkpoint/safetensors_writer_test.cpp
  rank/spectrum_test.cpp
  rank/audit_test.cpp
  rank/audit_cli_test.cpp
)
