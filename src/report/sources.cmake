# Sources of the report area: presentation only (tables, units, SVG plots); depends on core.
list(APPEND GMHA_LIB_SOURCES
  src/report/table.cpp
  src/report/units.cpp
  src/report/svg_plot.cpp
)
