// Dense layer forward/backward: one GEMM each, transposes as GEMM flags, bias and activation fused.
#pragma once
#include "activations.h"
#include "blas.h"

namespace fastmlp {

// out (n, n_out) = act(x (n, n_in) · Wᵀ + b). W is stored (n_out, n_in); with w_transposed it is stored
// (n_in, n_out) and used as is (the tied decoder: Z = X·W + b). b null with the identity: the bare product.
// out_sums, when given: Σ_t out_t as well, from the same pass (see bias_activation_forward).
template <typename T>
void dense_forward(T* out, const T* x, const T* w, const T* b, int n, int n_in, int n_out, Activation act,
                   bool w_transposed, T* out_sums = nullptr, ThreadSums<T> thread_sums = {},
                   Products products = Products::blas) {
    if (w_transposed)
        gemm(Trans::no, Trans::no, n, n_out, n_in, T(1), x, n_in, w, n_out, T(0), out, n_out, Split::larger_operand,
             products);
    else
        gemm(Trans::no, Trans::yes, n, n_out, n_in, T(1), x, n_in, w, n_in, T(0), out, n_out, Split::larger_operand,
             products);
    if (b || act != Activation::identity || out_sums)
        bias_activation_forward(out, out, b, n, n_out, act, out_sums, thread_sums);
}

// Backward of Z = X·Wᵀ + b given dz (n, n_out):
//   dx (n, n_in)     = dz·W       (w_transposed: dz·Wᵀ); dx may be null (the input layer needs none)
//   dW (n_out, n_in) = dzᵀ·X      (w_transposed: dW (n_in, n_out) = Xᵀ·dz, the stored orientation)
//   db (n_out)       = Σ_t dz_t
// dx is computed first, so dw and db may be the parameters themselves: with scale = −ρ and accumulate_dw this
// is the SGD step W ← W − ρ·dzᵀX, b ← b − ρ·Σ_t dz_t fused into the GEMM (no gradient buffer round trip).
// accumulate_dw adds into dW instead of overwriting it (a tied matrix sums both of its uses); accumulate_db
// likewise for db. dz_sums, when given, is Σ_t dz_t already (the output error kernels produce it in their pass).
template <typename T>
void dense_backward(T* dx, T* dw, T* db, const T* dz, const T* x, const T* w, int n, int n_in, int n_out,
                    bool w_transposed, bool accumulate_dw, T scale = T(1), bool accumulate_db = false,
                    const T* dz_sums = nullptr, Products products = Products::blas) {
    if (dx) {
        if (w_transposed)
            gemm(Trans::no, Trans::yes, n, n_in, n_out, T(1), dz, n_out, w, n_out, T(0), dx, n_in,
                 Split::larger_operand, products);
        else
            gemm(Trans::no, Trans::no, n, n_in, n_out, T(1), dz, n_out, w, n_in, T(0), dx, n_in,
                 Split::larger_operand, products);
    }
    const T beta = accumulate_dw ? T(1) : T(0);
    // The forward product (n, n_out) split W's rows between the threads if n_out >= n (see gemm.cpp): split dW's
    // rows the same way, so each thread updates the rows of W it has just multiplied, still in its core's cache.
    const Split rows_as_forward = n_out >= n ? Split::rows : Split::larger_operand;
    if (w_transposed)
        gemm(Trans::yes, Trans::no, n_in, n_out, n, scale, x, n_in, dz, n_out, beta, dw, n_out,
             Split::larger_operand, products);
    else
        gemm(Trans::yes, Trans::no, n_out, n_in, n, scale, dz, n_out, x, n_in, beta, dw, n_in, rows_as_forward,
             products);
    if (!dz_sums) return column_sums(db, dz, n, n_out, accumulate_db, scale);  // db = Σ_t dz_t
    for (int j = 0; j < n_out; ++j) db[j] = (accumulate_db ? db[j] : T(0)) + scale * dz_sums[j];
}

}  // namespace fastmlp
