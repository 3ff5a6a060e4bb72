# Tests of the attention (model description) area.
list(APPEND GMHA_TEST_SOURCES
  attention/design_spec_test.cpp
  attention/hf_config_test.cpp
  attention/designs_test.cpp
)
