# Tests of the gmha executable run as a user runs it (they link the whole library for fixtures).
list(APPEND GMHA_TEST_SOURCES
  checkpoint/fixture_writer.cpp
  checkpoint/quant_encode.cpp
  bridge/hf_attention_loops.cpp
  bridge/tiny_checkpoint.cpp
  cli/compare_cli_test.cpp
  cli/inspect_cli_test.cpp
  cli/audit_cli_test.cpp
  cli/audit_diff_cli_test.cpp
  cli/attention_cli_test.cpp
  cli/quant_inspect_cli_test.cpp
  cli/bad_input_cli_test.cpp
  cli/hub_cli_test.cpp
  cli/synth_quant_cli_test.cpp
)
set_source_files_properties(checkpoint/quant_encode.cpp PROPERTIES COMPILE_OPTIONS -ffp-contract=off)
