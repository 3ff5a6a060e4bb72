# gmha sweep benchmark (report area). Included from bench/CMakeLists.txt.
add_executable(sweep_bench ${CMAKE_CURRENT_LIST_DIR}/sweep_bench.cpp)
target_link_libraries(sweep_bench PRIVATE gmha_app benchmark::benchmark gmha_warnings)
