// Dense layer forward/backward: one GEMM each, transposes as GEMM flags, bias and activation fused.
#pragma once
#include "activations.h"
#include "blas.h"

namespace fastmlp {

// out (n, n_out) = act(x (n, n_in) · Wᵀ + b). W is stored (n_out, n_in); with w_transposed it is stored
// (n_in, n_out) and used as is (the tied decoder: Z = X·W + b).
template <typename T>
void dense_forward(T* out, const T* x, const T* w, const T* b, int n, int n_in, int n_out, Activation act,
                   bool w_transposed) {
    if (w_transposed)
        gemm(Trans::no, Trans::no, n, n_out, n_in, T(1), x, n_in, w, n_out, T(0), out, n_out);
    else
        gemm(Trans::no, Trans::yes, n, n_out, n_in, T(1), x, n_in, w, n_in, T(0), out, n_out);
    bias_activation_forward(out, out, b, n, n_out, act);
}

// db (n_out) = Σ_t dz_t (accumulate adds to db instead of overwriting it).
template <typename T>
void bias_backward(T* db, const T* dz, int n, int n_out, bool accumulate) {
    if (!accumulate)
        for (int j = 0; j < n_out; ++j) db[j] = T(0);
    for (int t = 0; t < n; ++t) {
        const T* row = dz + std::ptrdiff_t(t) * n_out;
        for (int j = 0; j < n_out; ++j) db[j] += row[j];
    }
}

// Backward of Z = X·Wᵀ + b given dz (n, n_out):
//   dW (n_out, n_in) = dzᵀ·X      (w_transposed: dW (n_in, n_out) += Xᵀ·dz, the stored orientation)
//   db (n_out)       = Σ_t dz_t
//   dx (n, n_in)     = dz·W       (w_transposed: dz·Wᵀ); dx may be null (the input layer needs none).
// accumulate_dw adds into dW instead of overwriting it: a tied matrix sums both of its uses.
template <typename T>
void dense_backward(T* dx, T* dw, T* db, const T* dz, const T* x, const T* w, int n, int n_in, int n_out,
                    bool w_transposed, bool accumulate_dw) {
    const T beta = accumulate_dw ? T(1) : T(0);
    if (w_transposed)
        gemm(Trans::yes, Trans::no, n_in, n_out, n, T(1), x, n_in, dz, n_out, beta, dw, n_out);
    else
        gemm(Trans::yes, Trans::no, n_out, n_in, n, T(1), dz, n_out, x, n_in, beta, dw, n_in);
    bias_backward(db, dz, n, n_out, false);
    if (!dx) return;
    if (w_transposed)
        gemm(Trans::no, Trans::yes, n, n_in, n_out, T(1), dz, n_out, w, n_out, T(0), dx, n_in);
    else
        gemm(Trans::no, Trans::no, n, n_in, n_out, T(1), dz, n_out, w, n_in, T(0), dx, n_in);
}

}  // namespace fastmlp
