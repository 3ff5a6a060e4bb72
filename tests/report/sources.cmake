# Tests of the report area (presentation).
list(APPEND GMHA_TEST_SOURCES
  report/svg_check.cpp
  report/svg_plot_test.cpp
  report/latex_table_test.cpp
  report/text_table_test.cpp
)
