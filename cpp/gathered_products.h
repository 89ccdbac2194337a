// The two products of a small mini-batch's hidden layer that read the batch's rows of X where they lie in the
// data set, picked out by index: neither a gather into a batch buffer nor a BLAS packing copy in between.
// Why: in the split step of a 784-64-10 network at batch 32 (unit_split.cpp, 32 hidden units a thread), each
// thread gathered the 32 rows (5.2 µs a step), then OpenBLAS packed them again for each of the two products, and
// its forward product ran at 76-85 GFLOP/s on the short sides (m = h = 32). These kernels, K-contiguous dot products
// in registers, leave out both copies and run in the widest vectors the CPU has: 256 bits (AVX2 FMAs: 105-110
// GFLOP/s on one core there, the core's AVX2 FMA peak being ~121) or, on an AVX-512 CPU, 512 bits (measured on the
// same Zen 5 VM, whose OpenBLAS is pinned to its AVX2 kernels by OPENBLAS_CORETYPE=Haswell, one core: forward
// 165-175 GFLOP/s and update 153-193 at m = h = 32; at m = h = 128, forward 148-166 and update 167-210 against
// OpenBLAS's 96-103 with the gather and 108). Their only cache blocking is over W's rows: the entry points at the
// end run them on blocks of rows that stay in a core's L2 cache (kGatheredBlockBytes) while every row of X passes
// through each block. Which products take them: unit_split.cpp (the split step), gemm.cpp and full_batch.cpp (a
// batch in chunks), both only where gathered_outrun_blas() past the small products.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "blas.h"
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

// The widest vectors, in bytes, the kernels below run in on this CPU: 64 (AVX-512: x86-64-v4, in builds with the
// SIMD clones) or 32 (AVX2's 256 bits; two SSE2 registers on an older x86-64, the compiler's baseline elsewhere).
inline int gathered_vector_bytes() {
#ifdef FASTMLP_HAS_SIMD_CLONES
    static const int bytes = __builtin_cpu_supports("x86-64-v4") ? 64 : 32;
    return bytes;
#else
    return 32;
#endif
}

namespace gathered_detail {

// The helpers below pass vectors by value but are always inlined into the kernel of one width, so GCC's note that
// a 64-byte vector argument's ABI depends on AVX-512 concerns no call that exists.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

// B bytes: 8 floats or 4 doubles at B = 32, 16 or 8 at B = 64.
template <int B, typename T>
using Vector __attribute__((vector_size(B))) = T;
template <int B, typename T>
constexpr int kLanes = int(B / sizeof(T));

// Unaligned loads and stores: a row of X starts wherever the data set's rows fall. (Through a copy of the vector
// type aligned like T; a memcpy gave integer-domain moves and a 5-10% slower forward product.)
template <int B, typename T>
using UnalignedVector __attribute__((vector_size(B), aligned(alignof(T)))) = T;
// Clang may drop the aligned() of an alias template (llvm/llvm-project#59788) and assume a vector's own alignment:
// there, a memcpy, which it turns into unaligned moves.
template <int B, typename T>
__attribute__((always_inline)) inline Vector<B, T> load(const T* p) {
#ifdef __clang__
    Vector<B, T> v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
#else
    return *reinterpret_cast<const UnalignedVector<B, T>*>(p);
#endif
}
template <int B, typename T>
__attribute__((always_inline)) inline void store(T* p, Vector<B, T> v) {
#ifdef __clang__
    __builtin_memcpy(p, &v, sizeof v);
#else
    *reinterpret_cast<UnalignedVector<B, T>*>(p) = v;
#endif
}
// Σ of a vector's lanes: its two halves added as vectors (vextract + one add), down to 16 bytes, then the lanes.
// (Lane by lane from 64 bytes made the AVX-512 forward product 30-40% slower at m = h = 32.)
template <int B, typename T>
__attribute__((always_inline)) inline T lane_sum(Vector<B, T> v) {
    if constexpr (B > 16) {
        Vector<B / 2, T> low, high;
        std::memcpy(&low, &v, sizeof low);
        std::memcpy(&high, reinterpret_cast<const char*>(&v) + sizeof low, sizeof high);
        return lane_sum<B / 2, T>(low + high);
    } else {
        T s = v[0];
        for (int l = 1; l < kLanes<B, T>; ++l) s += v[l];
        return s;
    }
}

// Register tiles: the forward product holds rows × units accumulators (rows of X × rows of W), the update units ×
// vectors (units × vectors of a row of W). Each shape the fastest measured on the VM (one core, float32, d = 784,
// median µs). 256 bits, 12 accumulators that leave AVX2's 16 registers room for the operands, at m = h = 32:
// forward 3×4: 14.8, 4×3: 15.4, 5×2: 25.8, 6×2: 26.2; update 3×4: 14.9, 4×3: 15.3, 4×2: 16.9, 6×2: 17.2, 2×4: 17.8.
// 512 bits, 32 registers, at m = h = 32 and 128: forward 6×4: 9.2-9.7 and 155-174, 4×4: 10.5-11.2 and 163-167,
// 5×4: 10.2-12.7 and 148-173, 3×4: 20.4 and 329-333, 8×2, 2×8, 3×8 and 8×3: 16-22 and 301-345; update 4×4: 8.0 and
// 158-180, 4×6: 7.8-8.0 and 161-176, 6×4: 8.3-8.5 and 161-168, 3×4: 9.2-9.3 and 170-197, 3×8: 10.0 and 214-240;
// with the δ broadcast below (four pairs of runs, an hour later): 6×4: 8.6-10.5 and 123-154 against 4×4 before
// it: 8.5-11.2 and 142-217.
template <int B>
struct Tiles;
template <>
struct Tiles<32> {
    static constexpr int rows = 3, units = 4, update_units = 3, update_vectors = 4;
};
template <>
struct Tiles<64> {
    static constexpr int rows = 6, units = 4, update_units = 6, update_vectors = 4;
};

// z (m, h; rows ldz apart) = X[rows] (m, d) · Wᵀ, W (h, d) with rows ldw apart: z[t][u] = x_t · w_u.
// A tile past the last row or unit repeats the last one and stores nothing of it.
template <int B, typename T>
__attribute__((always_inline)) inline void dense_forward(T* z, GatheredRows<T> x, const T* w, int m, int h, int ldz,
                                                         int ldw) {
    constexpr int L = kLanes<B, T>, R = Tiles<B>::rows, U = Tiles<B>::units;
    const int d = x.d, d_vectors = d / L * L;
    for (int t0 = 0; t0 < m; t0 += R) {
        const T* xr[R];
        for (int i = 0; i < R; ++i) xr[i] = x[t0 + i < m ? t0 + i : m - 1];
        for (int u0 = 0; u0 < h; u0 += U) {
            const T* wr[U];
            for (int j = 0; j < U; ++j) wr[j] = w + std::ptrdiff_t(u0 + j < h ? u0 + j : h - 1) * ldw;
            Vector<B, T> acc[R][U] = {};
            for (int k = 0; k < d_vectors; k += L) {
                Vector<B, T> wv[U];
                for (int j = 0; j < U; ++j) wv[j] = load<B>(wr[j] + k);
                for (int i = 0; i < R; ++i) {
                    const Vector<B, T> xv = load<B>(xr[i] + k);
                    for (int j = 0; j < U; ++j) acc[i][j] += xv * wv[j];
                }
            }
            // All sums first, in loops of constant length that unroll: the accumulators stay in registers.
            T sums[R][U];
            for (int i = 0; i < R; ++i)
                for (int j = 0; j < U; ++j) sums[i][j] = lane_sum<B, T>(acc[i][j]);
            for (int k = d_vectors; k < d; ++k)
                for (int i = 0; i < R; ++i)
                    for (int j = 0; j < U; ++j) sums[i][j] += xr[i][k] * wr[j][k];
            for (int i = 0; i < R && t0 + i < m; ++i)
                for (int j = 0; j < U && u0 + j < h; ++j) z[std::ptrdiff_t(t0 + i) * ldz + u0 + j] = sums[i][j];
        }
    }
}

// Columns [k0, k0 + V·L) of the update below, all units.
template <int B, int V, typename T>
__attribute__((always_inline)) inline void weight_update_columns(T* w, const T* delta, GatheredRows<T> x, T alpha,
                                                                 int m, int h, int ldw, int ldd, int k0) {
    constexpr int L = kLanes<B, T>, U = Tiles<B>::update_units;
    for (int u0 = 0; u0 < h; u0 += U) {
        int us[U];
        for (int j = 0; j < U; ++j) us[j] = u0 + j < h ? u0 + j : h - 1;
        Vector<B, T> acc[U][V] = {};
        for (int t = 0; t < m; ++t) {
            const T* xt = x[t] + k0;
            const T* dt = delta + std::ptrdiff_t(t) * ldd;
            Vector<B, T> xv[V];
            for (int v = 0; v < V; ++v) xv[v] = load<B>(xt + v * L);
            for (int j = 0; j < U; ++j) {
                // δ broadcast: x − 0 is x for every x (−0 too), so GCC folds it to one vbroadcastss from memory;
                // 0 + x is not (0 + −0 = +0), and the add it then kept, with a register broadcast, made the update
                // 6-13% slower in 256 bits (m = h = 32) and 7-15% in 512 (m = h = 128).
                const Vector<B, T> c = dt[us[j]] - Vector<B, T>{};
                for (int v = 0; v < V; ++v) acc[j][v] += c * xv[v];
            }
        }
        for (int j = 0; j < U && u0 + j < h; ++j) {
            T* wu = w + std::ptrdiff_t(u0 + j) * ldw + k0;
            for (int v = 0; v < V; ++v) store<B, T>(wu + v * L, load<B>(wu + v * L) + alpha * acc[j][v]);
        }
    }
}

// Backward of z = X[rows]·Wᵀ with respect to W, added in place: W (h, d; rows ldw apart) += alpha · δᵀ·X[rows],
// δ (m, h) with rows ldd apart: w_u += alpha · Σ_t δ[t][u] · x_t. With alpha = −ρ this is the SGD step itself.
// Columns of W outermost: a block of each row of X (4 vectors of each of the m rows) stays in L1 for every unit.
template <int B, typename T>
__attribute__((always_inline)) inline void weight_update(T* w, const T* delta, GatheredRows<T> x, T alpha, int m,
                                                         int h, int ldw, int ldd) {
    constexpr int L = kLanes<B, T>, V = Tiles<B>::update_vectors;
    const int d = x.d;
    // Whole blocks of V vectors, then single vectors, then the last d % L columns one by one.
    int k0 = 0;
    for (; d - k0 >= V * L; k0 += V * L) weight_update_columns<B, V>(w, delta, x, alpha, m, h, ldw, ldd, k0);
    for (; d - k0 >= L; k0 += L) weight_update_columns<B, 1>(w, delta, x, alpha, m, h, ldw, ldd, k0);
    for (; k0 < d; ++k0)
        for (int u = 0; u < h; ++u) {
            T s = T(0);
            for (int t = 0; t < m; ++t) s += delta[std::ptrdiff_t(t) * ldd + u] * x[t][k0];
            w[std::ptrdiff_t(u) * ldw + k0] += alpha * s;
        }
}

#pragma GCC diagnostic pop

// The kernels of each width, compiled once each: 32 bytes in the element-wise clones (AVX-512VL, AVX2+FMA and the
// baseline), 64 bytes for AVX-512 only.
template <typename T>
FASTMLP_SIMD_CLONES void dense_forward_256(T* z, GatheredRows<T> x, const T* w, int m, int h, int ldz, int ldw) {
    dense_forward<32>(z, x, w, m, h, ldz, ldw);
}
template <typename T>
FASTMLP_SIMD_CLONES void weight_update_256(T* w, const T* delta, GatheredRows<T> x, T alpha, int m, int h, int ldw,
                                           int ldd) {
    weight_update<32>(w, delta, x, alpha, m, h, ldw, ldd);
}
#ifdef FASTMLP_HAS_SIMD_CLONES
template <typename T>
__attribute__((target("arch=x86-64-v4"))) void dense_forward_512(T* z, GatheredRows<T> x, const T* w, int m, int h,
                                                                  int ldz, int ldw) {
    dense_forward<64>(z, x, w, m, h, ldz, ldw);
}
template <typename T>
__attribute__((target("arch=x86-64-v4"))) void weight_update_512(T* w, const T* delta, GatheredRows<T> x, T alpha,
                                                                  int m, int h, int ldw, int ldd) {
    weight_update<64>(w, delta, x, alpha, m, h, ldw, ldd);
}
#endif

}  // namespace gathered_detail

// Whether these kernels run wider vectors than the BLAS's (blas_vector_bytes): on an AVX-512 CPU whose BLAS runs
// AVX2 kernels (OpenBLAS under OPENBLAS_CORETYPE=Haswell, as on the VM measured; MKL on an AMD CPU). Only then do
// they take products past the small ones: where the BLAS runs vectors as wide, its packing and cache blocking pay off
// on the larger products. Measured on that VM with the variable unset (OpenBLAS on its SkylakeX kernels; median of
// 15 epochs, 2 runs each, own kernels against the rules of equal widths below): 784-1024-10 at batch 256
// 103.5/84.0 against 80.9/74.4 ms, 784-256-10 at batch 128 25.7/24.2 against 24.0/20.8; the sparse autoencoder's
// gradient 46.7/43.9 against 45.7/43.6 ms. (At batch 32, 784-1024-10, they still won, 93.5/82.9 against
// 114.9/109.8 ms, and are left out all the same: one rule measured twice, not a boundary fitted to one VM.)
inline bool gathered_outrun_blas() {
    static const bool wider = gathered_vector_bytes() > blas_vector_bytes();
    return wider;
}

// The entry points below run the kernels on blocks of W's rows of about this many bytes at most, so that a block
// stays in a core's L2 cache (1 MiB on the VM measured) while every row of X passes through it: at 784-1024-10,
// batch 256, the epoch took 96.7-102/89.7-93.7/86.3-93.8/86.1-87.7/88.6-91.8 ms in blocks of 64/128/256/512 KiB and
// unblocked (2 runs; more in unit_split.cpp). Blocks leave every sum's order as it was: an output of the forward
// product sums one row of X times one row of W, and a row of W is updated from all rows of X in order, in any block.
constexpr std::size_t kGatheredBlockBytes = std::size_t(512) << 10;

// Rows of W per block, for h rows of d values: all of them where they fit in kGatheredBlockBytes; else as few blocks
// as fit, of equal size rounded up to a multiple of 12, so that no block but the last ends in a partial tile
// (forward: 4 units; update: 3 or 6), and at least 12 however long the rows.
template <typename T>
int gathered_block_units(int h, int d) {
    const std::size_t fit = kGatheredBlockBytes / (std::size_t(d) * sizeof(T));
    if (std::size_t(h) <= fit) return h > 0 ? h : 1;
    const std::size_t most = fit / 12 * 12 > 12 ? fit / 12 * 12 : 12;
    const std::size_t blocks = (std::size_t(h) + most - 1) / most, even = (std::size_t(h) + blocks - 1) / blocks;
    return int((even + 11) / 12 * 12);
}

namespace gathered_detail {

// kernel(u0, block) for the blocks [u0, u0 + block) of W's h rows of d values (gathered_block_units).
template <typename T, typename Kernel>
void over_weight_blocks(int h, int d, Kernel&& kernel) {
    for (int u0 = 0, units = gathered_block_units<T>(h, d); u0 < h; u0 += units)
        kernel(u0, h - u0 < units ? h - u0 : units);
}

}  // namespace gathered_detail

// z (m, h; rows ldz apart) = X[rows] (m, d) · Wᵀ, W (h, d) with rows ldw apart, in vectors of vector_bytes
// (gathered_vector_bytes(): the widest the CPU has; 64 only where it has them).
template <typename T>
void gathered_dense_forward(T* z, GatheredRows<T> x, const T* w, int m, int h, int ldz, int ldw,
                            int vector_bytes = gathered_vector_bytes()) {
    // Only where the CPU has them, whatever a caller asks for: elsewhere these instructions would fault.
    [[maybe_unused]] const bool wide = vector_bytes == 64 && gathered_vector_bytes() == 64;
    gathered_detail::over_weight_blocks<T>(h, x.d, [&](int u0, int block) {  // z[:, block] of W's rows
        const T* wb = w + std::ptrdiff_t(u0) * ldw;
#ifdef FASTMLP_HAS_SIMD_CLONES
        if (wide) return gathered_detail::dense_forward_512(z + u0, x, wb, m, block, ldz, ldw);
#endif
        gathered_detail::dense_forward_256(z + u0, x, wb, m, block, ldz, ldw);
    });
}

// W (h, d; rows ldw apart) += alpha · δᵀ·X[rows], δ (m, h) with rows ldd apart, in vectors of vector_bytes.
template <typename T>
void gathered_weight_update(T* w, const T* delta, GatheredRows<T> x, T alpha, int m, int h, int ldw, int ldd,
                            int vector_bytes = gathered_vector_bytes()) {
    [[maybe_unused]] const bool wide = vector_bytes == 64 && gathered_vector_bytes() == 64;
    gathered_detail::over_weight_blocks<T>(h, x.d, [&](int u0, int block) {  // W[block] with δ[:, block]
        T* wb = w + std::ptrdiff_t(u0) * ldw;
#ifdef FASTMLP_HAS_SIMD_CLONES
        if (wide) return gathered_detail::weight_update_512(wb, delta + u0, x, alpha, m, block, ldw, ldd);
#endif
        gathered_detail::weight_update_256(wb, delta + u0, x, alpha, m, block, ldw, ldd);
    });
}

}  // namespace fastmlp
