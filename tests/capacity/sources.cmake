# Tests of the capacity area.
list(APPEND GMHA_TEST_SOURCES
  capacity/figures_test.cpp
  capacity/cost_test.cpp
  capacity/step3_paper_table_test.cpp
)
