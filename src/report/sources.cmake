# Sources of the report area (explicit list, no globs).
list(APPEND GMHA_LIB_SOURCES
  src/report/table.cpp
  src/report/units.cpp
  src/report/svg_plot.cpp
  src/report/sweep.cpp
  src/report/fit.cpp
  src/report/model_report.cpp
)
