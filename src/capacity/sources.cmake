# Sources of the capacity area (explicit list, no globs): figures, cost, hardware, sweep, fit.
list(APPEND GMHA_LIB_SOURCES
  src/capacity/hardware.cpp
  src/capacity/figures.cpp
  src/capacity/cost.cpp
  src/capacity/closed_form.cpp
  src/capacity/figures_json.cpp
  src/capacity/sweep.cpp
  src/capacity/fit.cpp
  src/capacity/weight_format.cpp
  src/capacity/serving.cpp
  src/capacity/serving_json.cpp
)
