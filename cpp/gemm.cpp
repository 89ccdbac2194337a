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
// A product asked to run in the own kernels (Products::own: a batch in chunks where they outrun the BLAS,
// full_batch.cpp) runs each thread's block in them where they compute it (thread_gemm), the rest through the BLAS.
#include "blas.h"
#include "parallel.h"

#include <algorithm>
#include <cstddef>

#include "gathered_products.h"

namespace fastmlp {

namespace {

#ifdef FASTMLP_SPLIT_GEMM
// Whether the own kernels take a product whose rows (of B, and for the forward product of A) hold len values:
// whole 64-byte vectors only, since their last len % lanes columns run one value at a time. On the sparse
// autoencoder's gradient (784-196-784, 10,000 samples, 2 threads; 3 runs each) the decoder's products at 196 values
// a row (784 bytes) made it slower: 77-80 ms with them in the own kernels, 66-72 with them left to the BLAS.
template <typename T>
bool own_kernel_rows(int len) {
    return len > 0 && std::size_t(len) * sizeof(T) % 64 == 0;
}

// One product on the calling thread: through the BLAS, or where asked (Products::own) and of a form they compute,
// in fastmlp's own kernels (gathered_products.h).
template <typename T>
void thread_gemm(Trans ta, Trans tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb, T beta,
                 T* c, int ldc, Products products) {
    if (products == Products::own) {
        // C = A·Bᵀ (a layer's forward product X·Wᵀ): each output the dot product of a row of A and a row of B
        if (ta == Trans::no && tb == Trans::yes && alpha == T(1) && beta == T(0) && lda == k && own_kernel_rows<T>(k))
            return gathered_dense_forward(c, GatheredRows<T>{a, nullptr, k}, b, m, n, ldc, ldb);
        // C = alpha·Aᵀ·B + beta·C with beta 1 or 0 (a weight gradient dzᵀ·X, added or not, or the SGD step):
        // A (k, m) holds δ, B (k, n) the layer's inputs
        const bool added = beta == T(1) || beta == T(0);
        if (ta == Trans::yes && tb == Trans::no && added && ldb == n && own_kernel_rows<T>(n)) {
            for (int i = 0; i < m && beta == T(0); ++i)
                std::fill(c + std::ptrdiff_t(i) * ldc, c + std::ptrdiff_t(i) * ldc + n, T(0));
            return gathered_weight_update(c, a, GatheredRows<T>{b, nullptr, n}, alpha, k, m, ldc, lda);
        }
    }
    blas_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Below this many multiply-adds a product runs on the calling thread: a fork/join costs about what one thread
// needs for ~2^18 of them.
constexpr double kSplitMinMultiplyAdds = double(1 << 18);
// Blocks are whole multiples of this many columns or rows (the BLAS kernels' register tiles are 8–32 wide).
constexpr int kBlockAlign = 16;

template <typename T>
void split_gemm(Trans ta, Trans tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb, T beta,
                T* c, int ldc, Split split, Products products) {
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
            thread_gemm(ta, tb, m, end - begin, k, alpha, a, lda, b_block, ldb, beta, c + begin, ldc, products);
        } else if (begin < end) {  // rows begin..end of op(A) and of C
            const T* a_block = ta == Trans::no ? a + std::ptrdiff_t(begin) * lda : a + begin;
            thread_gemm(ta, tb, end - begin, n, k, alpha, a_block, lda, b, ldb, beta, c + std::ptrdiff_t(begin) * ldc,
                        ldc, products);
        }
    });
}

#else
template <typename T>
void split_gemm(Trans ta, Trans tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb, T beta,
                T* c, int ldc, Split, Products) {
    blas_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);  // the BLAS threads it
}
#endif

}  // namespace

void gemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
          float beta, float* c, int ldc, Split split, Products products) {
    split_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, split, products);
}
void gemm(Trans ta, Trans tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b, int ldb,
          double beta, double* c, int ldc, Split split, Products products) {
    split_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, split, products);
}

}  // namespace fastmlp
