#include "gmha/core/blas.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace gmha::blas {
namespace {

// CBLAS enum values (cblas.h), spelled out so the build needs no BLAS headers.
constexpr int kRowMajor = 101, kColMajor = 102, kNoTrans = 111, kTrans = 112, kLower = 122;

using DgemmFn = void (*)(int, int, int, int, int, int, double, const double*, int, const double*, int,
                         double, double*, int);
using DsyrkFn = void (*)(int, int, int, int, int, double, const double*, int, double, double*, int);
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
// LAPACK's Fortran dsyevd, with the hidden lengths of its two character arguments.
using DsyevdFn = void (*)(const char*, const char*, const int*, double*, const int*, double*,
                          double*, const int*, int*, const int*, int*, size_t, size_t);
using SetThreadsFn = void (*)(int);
using ConfigFn = char* (*)();

struct Library {
  DsyrkFn dsyrk = nullptr;
  DgemmFn dgemm = nullptr;
  SgemmFn sgemm = nullptr;
  DsyevdFn dsyevd = nullptr;  // optional: present in Debian's libopenblas0 builds
  SetThreadsFn set_threads = nullptr;
  ConfigFn config = nullptr;
  ConfigFn corename = nullptr;
};

std::atomic<bool> g_enabled{true};

bool cpu_has_skylakex_subsets() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

const Library& library() {
  static const Library lib = [] {
    Library l;
    const char* choice = std::getenv("GMHA_BLAS");
    if (choice && std::strcmp(choice, "eigen") == 0) return l;
    if (cpu_has_skylakex_subsets()) setenv("OPENBLAS_CORETYPE", "SkylakeX", /*overwrite=*/0);
    // Never unloaded: unloading a threaded BLAS while its worker threads exist is unsafe.
    void* h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) return l;
    l.dsyrk = reinterpret_cast<DsyrkFn>(dlsym(h, "cblas_dsyrk"));
    l.sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
    l.dgemm = reinterpret_cast<DgemmFn>(dlsym(h, "cblas_dgemm"));
    l.dsyevd = reinterpret_cast<DsyevdFn>(dlsym(h, "dsyevd_"));
    l.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
    l.config = reinterpret_cast<ConfigFn>(dlsym(h, "openblas_get_config"));
    l.corename = reinterpret_cast<ConfigFn>(dlsym(h, "openblas_get_corename"));
    if (!l.dsyrk || !l.sgemm || !l.dgemm) return Library{};
    // gmha parallelises over heads and row blocks itself; one BLAS thread per caller avoids
    // oversubscribing the cores. The decode benchmark raises it for its sgemm rate.
    if (l.set_threads) l.set_threads(1);
    return l;
  }();
  return lib;
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

}  // namespace

bool available() { return g_enabled.load() && library().dsyrk != nullptr; }

bool set_enabled(bool enabled) { return g_enabled.exchange(enabled); }

std::string description() {
  if (!available()) return "none (Eigen)";
  const Library& l = library();
  std::string s = l.config ? l.config() : "OpenBLAS";
  if (l.corename) s += std::string(" (core ") + l.corename() + ")";
  return s;
}

void set_threads(int threads) {
  if (available() && library().set_threads) library().set_threads(threads < 1 ? 1 : threads);
}

bool gram_lower(int64_t m, int64_t n, const double* a, int64_t lda, double* c, int64_t ldc) {
  if (!available() || !fits_int(m) || !fits_int(n) || !fits_int(lda) || !fits_int(ldc)) return false;
  if (n == 0) return true;
  library().dsyrk(kColMajor, kLower, kTrans, static_cast<int>(n), static_cast<int>(m), 1.0, a,
                  static_cast<int>(lda < 1 ? 1 : lda), 0.0, c, static_cast<int>(ldc));
  return true;
}

bool gram_lower_rows(int64_t n, int64_t k, const double* a, int64_t lda, double* c, int64_t ldc) {
  if (!available() || !fits_int(n) || !fits_int(k) || !fits_int(lda) || !fits_int(ldc)) return false;
  if (n == 0) return true;
  library().dsyrk(kColMajor, kLower, kNoTrans, static_cast<int>(n), static_cast<int>(k), 1.0, a,
                  static_cast<int>(lda < 1 ? 1 : lda), 0.0, c, static_cast<int>(ldc));
  return true;
}

bool gemm_nt(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b, int64_t ldb,
             double* c, int64_t ldc) {
  if (!available()) return false;
  for (int64_t v : {m, n, k, lda, ldb, ldc})
    if (!fits_int(v)) return false;
  if (m == 0 || n == 0) return true;
  library().dgemm(kColMajor, kNoTrans, kTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                  1.0, a, static_cast<int>(std::max<int64_t>(lda, 1)), b, static_cast<int>(std::max<int64_t>(ldb, 1)),
                  0.0, c, static_cast<int>(std::max<int64_t>(ldc, 1)));
  return true;
}

bool dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
           int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (!available()) return false;
  for (int64_t v : {m, n, k, lda, ldb, ldc})
    if (!fits_int(v)) return false;
  if (m == 0 || n == 0) return true;
  library().dgemm(kColMajor, trans_a ? kTrans : kNoTrans, trans_b ? kTrans : kNoTrans, static_cast<int>(m),
                  static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(std::max<int64_t>(lda, 1)),
                  b, static_cast<int>(std::max<int64_t>(ldb, 1)), beta, c,
                  static_cast<int>(std::max<int64_t>(ldc, 1)));
  return true;
}

bool symmetric_eigenvalues(int64_t n, double* a, int64_t lda, double* w) {
  if (!available() || !library().dsyevd || !fits_int(n) || !fits_int(lda)) return false;
  if (n == 0) return true;
  const int nn = static_cast<int>(n), ld = static_cast<int>(lda);
  int info = 0, query_lwork = -1, liwork = 0;
  double lwork_opt = 0;
  // Workspace query first (lwork = -1): the blocked tridiagonalisation wants more than the minimum.
  library().dsyevd("N", "L", &nn, a, &ld, w, &lwork_opt, &query_lwork, &liwork, &query_lwork, &info,
                   1, 1);
  if (info != 0) return false;
  const int lwork = std::max(static_cast<int>(lwork_opt), 2 * nn + 1);
  liwork = std::max(liwork, 1);
  std::vector<double> work(static_cast<size_t>(lwork));
  std::vector<int> iwork(static_cast<size_t>(liwork));
  library().dsyevd("N", "L", &nn, a, &ld, w, work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  return info == 0;
}

bool sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (!available()) return false;
  for (int64_t v : {m, n, k, lda, ldb, ldc})
    if (!fits_int(v)) return false;
  library().sgemm(kRowMajor, trans_a ? kTrans : kNoTrans, trans_b ? kTrans : kNoTrans,
                  static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
                  static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
  return true;
}

bool sgemm(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
  return sgemm(false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
}

}  // namespace gmha::blas
