# Tests of the capacity area: figures, cost, the Step-3 paper's tables, sweep, fit.
list(APPEND GMHA_TEST_SOURCES
  capacity/figures_test.cpp
  capacity/cost_test.cpp
  capacity/step3_paper_table_test.cpp
  capacity/sweep_test.cpp
  capacity/fit_test.cpp
  capacity/frontier_models_test.cpp
  capacity/frontier_families_test.cpp
  capacity/families_2026_test.cpp
  capacity/families_hybrid_test.cpp
  capacity/families_granite_test.cpp
  capacity/designs_recurrent_test.cpp
  capacity/layer_model_test.cpp
  capacity/serving_test.cpp
  capacity/designs_test.cpp
  capacity/sparse_test.cpp
  capacity/deepseek_v4_test.cpp
  capacity/families_gemma_ple_test.cpp
  capacity/kv_layout_test.cpp
  capacity/fit_growth_test.cpp
  capacity/sweep_tp_test.cpp
  capacity/weight_scope_test.cpp
  capacity/families_nemotron_nas_test.cpp
  capacity/families_falcon_h1_test.cpp
)
