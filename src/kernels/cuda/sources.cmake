# CUDA decode kernels, included by the top CMakeLists.txt when nvcc is found (GMHA_CUDA not OFF).
# They join gmha_lib; GMHA_HAVE_CUDA switches KernelPath::kCuda on in src/kernels/cuda_dispatch.cpp.
find_package(CUDAToolkit REQUIRED)
target_sources(gmha_lib PRIVATE src/kernels/cuda/decode_attention.cu)
target_compile_definitions(gmha_lib PRIVATE GMHA_HAVE_CUDA=1)
target_link_libraries(gmha_lib PUBLIC CUDA::cudart)
