# `cmake --install build --prefix P` puts the public headers, one static library per area, the
# gmha executable and a CMake package in P, so that another project can
#   find_package(gmha REQUIRED)                # components: the areas; cuda is optional
#   target_link_libraries(app PRIVATE gmha::capacity gmha::rank)
# examples/library/ holds two such consumers; tests/install/ builds them against an install.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(GMHA_INSTALL_TARGETS)
foreach(area IN LISTS GMHA_AREAS)
  list(APPEND GMHA_INSTALL_TARGETS gmha_${area})
endforeach()
install(TARGETS ${GMHA_INSTALL_TARGETS} EXPORT gmhaTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/gmha DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS gmha RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT gmhaTargets NAMESPACE gmha:: FILE gmhaTargets.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gmha)
if(TARGET gmha_cuda)
  # The CUDA kernels are their own export set, so that a consumer of a CPU-only area never
  # needs the CUDA toolkit (the kernels area links them only when this file was installed).
  install(TARGETS gmha_cuda EXPORT gmhaCudaTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT gmhaCudaTargets NAMESPACE gmha:: FILE gmhaCudaTargets.cmake
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gmha)
endif()
set(GMHA_CONFIG_HAVE_CUDA ${GMHA_HAVE_CUDA})
configure_package_config_file(cmake/gmhaConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/gmhaConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gmha)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/gmhaConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gmhaConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/gmhaConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gmha)
