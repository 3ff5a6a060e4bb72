# CUDA decode kernels, included by the top CMakeLists.txt when nvcc is found (GMHA_CUDA not OFF).
# They build as their own static library in C++17 (CMake 3.25 knows no CUDA20 flags for nvcc, and
# the kernels need nothing but the CUDA runtime), linked into gmha_kernels. GMHA_HAVE_CUDA switches
# KernelPath::kCuda on in src/kernels/cuda_dispatch.cpp.
find_package(CUDAToolkit REQUIRED)
add_library(gmha_cuda STATIC src/kernels/cuda/decode_attention.cu)
set_target_properties(gmha_cuda PROPERTIES CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON
                      POSITION_INDEPENDENT_CODE ON CUDA_RESOLVE_DEVICE_SYMBOLS ON)
target_link_libraries(gmha_cuda PUBLIC CUDA::cudart)
target_link_libraries(gmha_kernels PUBLIC gmha_cuda)
target_compile_definitions(gmha_kernels PRIVATE GMHA_HAVE_CUDA=1)
