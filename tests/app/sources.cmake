# Tests of the application layer (the report-folder builder).
list(APPEND GMHA_TEST_SOURCES
  report/svg_check.cpp
  app/model_report_test.cpp
)
