// Threaded GEMM: the OpenMP team splits C into one block of columns (or rows) per thread, and each thread makes one
// single-threaded BLAS call on its block (FASTMLP_SPLIT_GEMM, the vendored OpenBLAS; a system BLAS threads itself).
// Why not OpenBLAS's own threads (which fastmlp used to run on the same pool through OpenBLAS's threads callback):
// OpenBLAS splits a product too, but its threads share packed panels and wait on each other's flags inside every
// call, which dominates small products. Measured on 2 cores (Xeon, AVX-512), samples/s of one SGD epoch:
// 784-64-10 at batch 32, 370,000 -> 520,000; 784-256-10 at batch 128 and 784-1024-10 at batch 256 unchanged; the
// sparse autoencoder's full-batch gradient 70 -> 68 ms. Splitting the larger of op(A) and op(B) means each thread
// packs only its part of it. When the forward product C = X·Wᵀ splits W's rows, the weight gradient δᵀ·X (or the
// fused update W −= lr·δᵀ·X) asks for Split::rows (dense.h): each thread then updates the rows of W it multiplied,
// still in its core's cache (784-64-10 at batch 32: another +15% samples/s; 784-256-10 at batch 128: +5%).
#include "blas.h"
#include "parallel.h"

#include <cstddef>

namespace fastmlp {

namespace {

#ifdef FASTMLP_SPLIT_GEMM
// Below this many multiply-adds a product runs on the calling thread: a fork/join costs about what one thread
// needs for ~2^18 of them.
constexpr double kSplitMinMultiplyAdds = double(1 << 18);
// Blocks are whole multiples of this many columns or rows (the BLAS kernels' register tiles are 8–32 wide).
constexpr int kBlockAlign = 16;

template <typename T>
void split_gemm(Trans ta, Trans tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb, T beta,
                T* c, int ldc, Split split) {
    const bool by_columns = split == Split::larger_operand && n >= m;  // each thread packs part of the larger
    const int extent = by_columns ? n : m;
    const int blocks = (extent + kBlockAlign - 1) / kBlockAlign;
    // on_team: one block of C per thread, each in the caller's float mode; a call from inside a region (a chunk
    // of full_batch.cpp) stays whole on its thread.
    on_team(omp_threads() < blocks ? omp_threads() : blocks, double(m) * n * k >= kSplitMinMultiplyAdds,
            [&](int id, int team) {
        int first, last;
        team_share(blocks, id, team, first, last);
        const int begin = first * kBlockAlign, end = last * kBlockAlign < extent ? last * kBlockAlign : extent;
        if (begin < end && by_columns) {  // columns begin..end of op(B) and of C
            const T* b_block = tb == Trans::no ? b + begin : b + std::ptrdiff_t(begin) * ldb;
            blas_gemm(ta, tb, m, end - begin, k, alpha, a, lda, b_block, ldb, beta, c + begin, ldc);
        } else if (begin < end) {  // rows begin..end of op(A) and of C
            const T* a_block = ta == Trans::no ? a + std::ptrdiff_t(begin) * lda : a + begin;
            blas_gemm(ta, tb, end - begin, n, k, alpha, a_block, lda, b, ldb, beta, c + std::ptrdiff_t(begin) * ldc,
                      ldc);
        }
    });
}

#else
template <typename T>
void split_gemm(Trans ta, Trans tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb, T beta,
                T* c, int ldc, Split) {
    blas_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);  // the BLAS threads it
}
#endif

}  // namespace

void gemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
          float beta, float* c, int ldc, Split split) {
    split_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, split);
}
void gemm(Trans ta, Trans tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b, int ldb,
          double beta, double* c, int ldc, Split split) {
    split_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, split);
}

}  // namespace fastmlp
