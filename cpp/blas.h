// The one place that knows which BLAS we link: GEMM templated on float/double, and thread control.
#pragma once
#include <string>

#if defined(FASTMLP_SCIPY_OPENBLAS)
#include <cblas.h>  // scipy-openblas32: every symbol carries the scipy_ prefix
#define FASTMLP_CBLAS(name) scipy_cblas_##name
#else
#include <cblas.h>
#define FASTMLP_CBLAS(name) cblas_##name
#endif

namespace fastmlp {

enum class Trans { no, yes };

// C (m, n) = alpha · op(A) (m, k) · op(B) (k, n) + beta · C, all row-major; lda/ldb/ldc are row strides of the
// stored matrices. Transposes are GEMM flags, never copies.
inline void gemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc) {
    FASTMLP_CBLAS(sgemm)(CblasRowMajor, ta == Trans::yes ? CblasTrans : CblasNoTrans,
                         tb == Trans::yes ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                         ldc);
}

inline void gemm(Trans ta, Trans tb, int m, int n, int k, double alpha, const double* a, int lda,
                 const double* b, int ldb, double beta, double* c, int ldc) {
    FASTMLP_CBLAS(dgemm)(CblasRowMajor, ta == Trans::yes ? CblasTrans : CblasNoTrans,
                         tb == Trans::yes ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                         ldc);
}

// Routes the BLAS's parallel jobs through the OpenMP pool when both are available (called once at import).
void share_blas_and_openmp_threads();
// Sets BLAS and OpenMP threads together (n >= 1); returns what the BLAS reports afterwards.
void set_num_threads(int n);
int get_num_threads();
// Name of the BLAS, its build configuration and core type, as far as the library tells.
std::string blas_description();

}  // namespace fastmlp
