#pragma once
// OpenBLAS, found at run time. gmha builds and works without it (Eigen does the products then);
// when Debian's libopenblas0 is installed, the hot dense kernels (the audit's Gram matrices, the
// sgemm rate the decode benchmark compares against) run through it, because its runtime-dispatched
// AVX2/AVX-512 kernels are 2-8x faster than Eigen compiled for baseline x86-64.
//
// Why dlopen instead of linking: Debian 12's OpenBLAS 0.3.21 picks its kernels when it is loaded
// and misidentifies some virtualised AVX-512 Xeons as "Prescott" (SSE3, a fifth of the speed).
// Loading it ourselves lets us set OPENBLAS_CORETYPE first (only when the user has not, and only
// when the CPU really has the AVX-512 subsets SkylakeX kernels use). GMHA_BLAS=eigen in the
// environment, or set_enabled(false), turns it off (for comparisons and tests).
#include <cstdint>
#include <string>

namespace gmha::blas {

/// True when OpenBLAS was loaded and is enabled. The first call loads it: make it before starting
/// threads (it may set an environment variable).
bool available();

/// Enables or disables the library for later calls (it stays loaded). Returns the previous value.
bool set_enabled(bool enabled);

/// "OpenBLAS 0.3.21 ... (core SkylakeX)", or "none (Eigen)".
std::string description();

/// Threads OpenBLAS may use inside one call (gmha's own loops call it with 1).
void set_threads(int threads);

/// Lower triangle of C = AᵀA, A column-major m×n with leading dimension lda, C n×n with leading
/// dimension ldc (the upper triangle is left untouched). Returns false, doing nothing, when
/// OpenBLAS is not available or a size exceeds its 32-bit integers.
bool gram_lower(int64_t m, int64_t n, const double* a, int64_t lda, double* c, int64_t ldc);

/// Lower triangle of C = A·Aᵀ, A column-major n×k with leading dimension lda (so a row-major
/// k×n matrix is passed as-is). Same return convention as gram_lower.
bool gram_lower_rows(int64_t n, int64_t k, const double* a, int64_t lda, double* c, int64_t ldc);

/// C = A·Bᵀ for column-major doubles: A m×k (lda), B n×k (ldb), C m×n (ldc). Same convention.
bool gemm_nt(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b, int64_t ldb,
             double* c, int64_t ldc);

/// C = alpha·op(A)·op(B) + beta·C for column-major doubles: op(A) m×k, op(B) k×n, C m×n, with
/// leading dimensions lda, ldb, ldc; op(X) = Xᵀ when trans_x. Same return convention.
bool dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
           int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);
/// Eigenvalues (ascending) of the symmetric n×n matrix whose lower triangle is in `a` (column-major,
/// leading dimension lda; destroyed) into w[0..n), with LAPACK's dsyevd from the same library
/// (blocked Householder tridiagonalisation). Returns false when unavailable or it did not
/// converge; the caller then uses Eigen.
bool symmetric_eigenvalues(int64_t n, double* a, int64_t lda, double* w);

/// C = alpha·op(A)·op(B) + beta·C for row-major float matrices: op(A) m×k, op(B) k×n, C m×n,
/// with leading dimensions lda, ldb, ldc; op(X) = Xᵀ when trans_x. Same return convention.
bool sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

/// C = A·B for dense row-major float matrices (A m×k, B k×n, C m×n).
bool sgemm(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c);

}  // namespace gmha::blas
