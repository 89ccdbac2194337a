// The two products of a small mini-batch's hidden layer that read the batch's rows of X where they lie in the
// data set, picked out by index: neither a gather into a batch buffer nor a BLAS packing copy in between.
// Why: in the split step of a 784-64-10 network at batch 32 (unit_split.cpp, 32 hidden units a thread), each
// thread gathered the 32 rows (5.2 µs a step), then OpenBLAS packed them again for each of the two products, and
// its forward product ran at 85 GFLOP/s on the short sides (m = h = 32). These kernels reach 105-110 GFLOP/s on
// one core there (AVX2 FMAs, K-contiguous dot products in registers; the core's FMA peak is ~121) and leave out
// both copies (measured on the 2-core AMD EPYC VM; benchmarks/README.md, "Where an epoch's time goes"). Only for
// shapes whose weight rows stay in a core's L2 cache: there is no cache blocking here, larger products go to the
// BLAS.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "parallel.h"

namespace fastmlp {

// Row t of the rows of x picked out by index: x + rows[t]·d (rows null: x + t·d, the rows in order).
template <typename T>
struct GatheredRows {
    const T* x;
    const std::int64_t* rows;
    int d;
    const T* operator[](int t) const { return x + (rows ? rows[t] : std::int64_t(t)) * std::ptrdiff_t(d); }
};

namespace gathered_detail {

// 32 bytes: eight floats or four doubles, one AVX2 register (two SSE2 ones in the baseline build).
constexpr int kVectorBytes = 32;
template <typename T>
using Vector __attribute__((vector_size(kVectorBytes))) = T;
template <typename T>
constexpr int kVectorLanes = int(kVectorBytes / sizeof(T));

// Unaligned loads and stores: a row of X starts wherever the data set's rows fall. (Through a copy of the vector
// type aligned like T; a memcpy gave integer-domain moves and a 5-10% slower forward product.)
template <typename T>
using UnalignedVector __attribute__((vector_size(kVectorBytes), aligned(alignof(T)))) = T;
template <typename T>
__attribute__((always_inline)) inline Vector<T> load(const T* p) {
    return *reinterpret_cast<const UnalignedVector<T>*>(p);
}
template <typename T>
__attribute__((always_inline)) inline void store(T* p, Vector<T> v) {
    *reinterpret_cast<UnalignedVector<T>*>(p) = v;
}
// Σ of a vector's lanes: its two 16-byte halves added as vectors first (vextractf128 + one add, where AVX2 has
// them), then the lanes of that.
template <typename T>
__attribute__((always_inline)) inline T lane_sum(Vector<T> v) {
    using Half __attribute__((vector_size(kVectorBytes / 2))) = T;
    Half low, high;
    std::memcpy(&low, &v, sizeof low);
    std::memcpy(&high, reinterpret_cast<const char*>(&v) + sizeof low, sizeof high);
    const Half sum = low + high;
    T s = sum[0];
    for (int l = 1; l < kVectorLanes<T> / 2; ++l) s += sum[l];
    return s;
}

// Register tiles of 12 accumulators, which leave AVX2's 16 registers room for the operands (one of them straight
// from memory, as the FMA's last argument; the AVX-512 clone has 32 registers, but runs the same 8-float tiles): the forward product holds kRows rows of X × kUnits rows of W, the update
// kUpdateUnits units × kUpdateVectors vectors of a row of W. Each shape the fastest measured at m = h = 32, d = 784
// on the VM (one core, median µs): forward 3×4: 14.8, 4×3: 15.4, 5×2: 25.8, 6×2: 26.2; update 3×4: 14.9, 4×3:
// 15.3, 4×2: 16.9, 6×2: 17.2, 2×4: 17.8.
constexpr int kRows = 3, kUnits = 4;
constexpr int kUpdateUnits = 3, kUpdateVectors = 4;

// Columns [k0, k0 + V·L) of the update below, all units. Inlined into each of the update's clones.
template <int V, typename T>
__attribute__((always_inline)) inline void gathered_update_columns(T* w, const T* delta, GatheredRows<T> x, T alpha,
                                                                   int m, int h, int ldw, int ldd, int k0) {
    constexpr int L = kVectorLanes<T>;
    for (int u0 = 0; u0 < h; u0 += kUpdateUnits) {
        int us[kUpdateUnits];
        for (int j = 0; j < kUpdateUnits; ++j) us[j] = u0 + j < h ? u0 + j : h - 1;
        Vector<T> acc[kUpdateUnits][V] = {};
        for (int t = 0; t < m; ++t) {
            const T* xt = x[t] + k0;
            const T* dt = delta + std::ptrdiff_t(t) * ldd;
            Vector<T> xv[V];
            for (int v = 0; v < V; ++v) xv[v] = load(xt + v * L);
            for (int j = 0; j < kUpdateUnits; ++j) {
                const Vector<T> c = Vector<T>{} + dt[us[j]];
                for (int v = 0; v < V; ++v) acc[j][v] += c * xv[v];
            }
        }
        for (int j = 0; j < kUpdateUnits && u0 + j < h; ++j) {
            T* wu = w + std::ptrdiff_t(u0 + j) * ldw + k0;
            for (int v = 0; v < V; ++v) store<T>(wu + v * L, load(wu + v * L) + alpha * acc[j][v]);
        }
    }
}

}  // namespace gathered_detail

// z (m, h; rows ldz apart) = X[rows] (m, d) · Wᵀ, W (h, d) with rows ldw apart: z[t][u] = x_t · w_u.
// A tile past the last row or unit repeats the last one and stores nothing of it.
template <typename T>
FASTMLP_SIMD_CLONES void gathered_dense_forward(T* z, GatheredRows<T> x, const T* w, int m, int h, int ldz,
                                                int ldw) {
    using namespace gathered_detail;
    constexpr int L = kVectorLanes<T>;
    const int d = x.d, d_vectors = d / L * L;
    for (int t0 = 0; t0 < m; t0 += kRows) {
        const T* xr[kRows];
        for (int i = 0; i < kRows; ++i) xr[i] = x[t0 + i < m ? t0 + i : m - 1];
        for (int u0 = 0; u0 < h; u0 += kUnits) {
            const T* wr[kUnits];
            for (int j = 0; j < kUnits; ++j) wr[j] = w + std::ptrdiff_t(u0 + j < h ? u0 + j : h - 1) * ldw;
            Vector<T> acc[kRows][kUnits] = {};
            for (int k = 0; k < d_vectors; k += L) {
                Vector<T> wv[kUnits];
                for (int j = 0; j < kUnits; ++j) wv[j] = load(wr[j] + k);
                for (int i = 0; i < kRows; ++i) {
                    const Vector<T> xv = load(xr[i] + k);
                    for (int j = 0; j < kUnits; ++j) acc[i][j] += xv * wv[j];
                }
            }
            // All sums first, in loops of constant length that unroll: the accumulators stay in registers.
            T sums[kRows][kUnits];
            for (int i = 0; i < kRows; ++i)
                for (int j = 0; j < kUnits; ++j) sums[i][j] = lane_sum<T>(acc[i][j]);
            for (int k = d_vectors; k < d; ++k)
                for (int i = 0; i < kRows; ++i)
                    for (int j = 0; j < kUnits; ++j) sums[i][j] += xr[i][k] * wr[j][k];
            for (int i = 0; i < kRows && t0 + i < m; ++i)
                for (int j = 0; j < kUnits && u0 + j < h; ++j) z[std::ptrdiff_t(t0 + i) * ldz + u0 + j] = sums[i][j];
        }
    }
}

// Backward of z = X[rows]·Wᵀ with respect to W, added in place: W (h, d; rows ldw apart) += alpha · δᵀ·X[rows],
// δ (m, h) with rows ldd apart: w_u += alpha · Σ_t δ[t][u] · x_t. With alpha = −ρ this is the SGD step itself.
// Columns of W outermost: a block of each row of X, 4 vectors (128 bytes) of each of the m rows, stays in L1 for
// every unit.
template <typename T>
FASTMLP_SIMD_CLONES void gathered_weight_update(T* w, const T* delta, GatheredRows<T> x, T alpha, int m, int h,
                                                int ldw, int ldd) {
    using namespace gathered_detail;
    constexpr int L = kVectorLanes<T>;
    const int d = x.d;
    // Whole blocks of kUpdateVectors vectors, then single vectors, then the last d % L columns one by one.
    int k0 = 0;
    for (; d - k0 >= kUpdateVectors * L; k0 += kUpdateVectors * L)
        gathered_update_columns<kUpdateVectors>(w, delta, x, alpha, m, h, ldw, ldd, k0);
    for (; d - k0 >= L; k0 += L) gathered_update_columns<1>(w, delta, x, alpha, m, h, ldw, ldd, k0);
    for (; k0 < d; ++k0)
        for (int u = 0; u < h; ++u) {
            T s = T(0);
            for (int t = 0; t < m; ++t) s += delta[std::ptrdiff_t(t) * ldd + u] * x[t][k0];
            w[std::ptrdiff_t(u) * ldw + k0] += alpha * s;
        }
}

}  // namespace fastmlp
