# Sources of the application layer: the report-folder builder, which combines capacity, cost and
# the audit with the presentation layer. The CLI (src/cli) sits beside it.
list(APPEND GMHA_LIB_SOURCES
  src/app/model_report.cpp
  src/app/throughput.cpp
)
