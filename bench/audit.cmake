# Audit (rank area): floors for `gmha audit` (bandwidth, GEMM and per-head Gram rates).
add_executable(audit_bench ${CMAKE_CURRENT_LIST_DIR}/audit_bench.cpp)
target_link_libraries(audit_bench PRIVATE gmha_app benchmark::benchmark gmha_warnings)
