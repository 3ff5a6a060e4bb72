# Tests of the report area.
list(APPEND GMHA_TEST_SOURCES
  report/svg_check.cpp
  report/svg_plot_test.cpp
  report/sweep_test.cpp
  report/fit_test.cpp
  report/model_report_test.cpp
)
