// The one place that knows which BLAS we link: GEMM templated on float/double, and thread control.
#pragma once
#include <string>

#if defined(FASTMLP_SCIPY_OPENBLAS)
#include <cblas.h>  // scipy-openblas32: every symbol carries the scipy_ prefix
#define FASTMLP_CBLAS(name) scipy_cblas_##name
#elif defined(FASTMLP_MKL)
#include <mkl_cblas.h>  // oneMKL's sequential layer (CMake FASTMLP_BLAS=mkl)
#define FASTMLP_CBLAS(name) cblas_##name
#else
#include <cblas.h>
#define FASTMLP_CBLAS(name) cblas_##name
#endif

// With the vendored OpenBLAS and OpenMP, fastmlp threads its products itself (gemm.cpp) and keeps OpenBLAS at one
// thread: that OpenBLAS is fastmlp's alone. So with MKL's sequential layer, which never threads. A system BLAS may
// be shared with NumPy and keeps its own threading.
#if (defined(FASTMLP_SCIPY_OPENBLAS) || defined(FASTMLP_MKL)) && defined(_OPENMP)
#define FASTMLP_SPLIT_GEMM 1
#endif

namespace fastmlp {

// Whether gemm, called from inside an OpenMP team, is one single-threaded BLAS call on the calling thread, so that
// each thread of a team may run products of its own (full_batch.cpp). A system BLAS threads each call itself.
#ifdef FASTMLP_SPLIT_GEMM
constexpr bool kGemmPerThread = true;
#else
constexpr bool kGemmPerThread = false;
#endif

enum class Trans { no, yes };

// One BLAS call on the calling thread: C (m, n) = alpha · op(A) (m, k) · op(B) (k, n) + beta · C, all row-major;
// lda/ldb/ldc are row strides of the stored matrices. Transposes are GEMM flags, never copies.
inline void blas_gemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
                      const float* b, int ldb, float beta, float* c, int ldc) {
    FASTMLP_CBLAS(sgemm)(CblasRowMajor, ta == Trans::yes ? CblasTrans : CblasNoTrans,
                         tb == Trans::yes ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                         ldc);
}

inline void blas_gemm(Trans ta, Trans tb, int m, int n, int k, double alpha, const double* a, int lda,
                      const double* b, int ldb, double beta, double* c, int ldc) {
    FASTMLP_CBLAS(dgemm)(CblasRowMajor, ta == Trans::yes ? CblasTrans : CblasNoTrans,
                         tb == Trans::yes ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                         ldc);
}

// How gemm's threads share C (see gemm.cpp): by default each takes a block of C's columns when op(B) is the larger
// operand and a block of its rows otherwise; `rows` always splits the rows.
enum class Split { larger_operand, rows };

// Where a dense layer's products run (dense.h): through the BLAS, or, where asked (a batch in chunks on a CPU whose
// own kernels outrun the BLAS: full_batch.cpp), each thread's block of them in fastmlp's own kernels
// (gathered_products.h) if they compute it: Z = X·Wᵀ, and dW = scale·δᵀ·X, added or not (gemm.cpp).
enum class Products { blas, own };

// The same product on get_num_threads() threads: see gemm.cpp.
void gemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
          float beta, float* c, int ldc, Split split = Split::larger_operand, Products products = Products::blas);
void gemm(Trans ta, Trans tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b, int ldb,
          double beta, double* c, int ldc, Split split = Split::larger_operand, Products products = Products::blas);

// Called once at import: keeps the vendored OpenBLAS at one thread (gemm.cpp threads the products), or routes a
// system OpenBLAS's parallel jobs through the OpenMP pool.
void share_blas_and_openmp_threads();
// Sets the threads of the products and of the element-wise loops together (n >= 1).
void set_num_threads(int n);
int get_num_threads();
// Name of the BLAS, its build configuration and core type, as far as the library tells.
std::string blas_description();
// The widest vectors, in bytes, the BLAS's kernels run in, as far as it tells: 64 for OpenBLAS's AVX-512 cores
// (SkylakeX, CooperLake, SapphireRapids) and MKL's AVX-512 code path, else 32 (OpenBLAS's other cores, among them
// Haswell, which OPENBLAS_CORETYPE=Haswell picks on any CPU, and its Zen cores; MKL's AVX2 and generic paths, the
// latter on AMD CPUs; a BLAS that does not tell).
int blas_vector_bytes();

}  // namespace fastmlp
