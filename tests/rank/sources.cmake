# Tests of the rank area.
list(APPEND GMHA_TEST_SOURCES
  rank/spectrum_test.cpp
  rank/audit_test.cpp
  rank/audit_diff_test.cpp
  rank/audit_layouts_test.cpp
  rank/audit_deepseek_v4_test.cpp
  rank/audit_parallel_test.cpp
  rank/audit_recurrent_test.cpp
  rank/audit_quant_test.cpp
  rank/audit_synth_config_test.cpp
  rank/audit_gguf_arch_test.cpp
  checkpoint/fixture_writer.cpp
)
