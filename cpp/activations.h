// Activations and their derivatives, written in terms of the activation's output A = act(Z).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "parallel.h"

namespace fastmlp {

enum class Activation { identity, sigmoid, tanh, relu, softmax };

inline Activation parse_activation(const std::string& name) {
    if (name == "identity") return Activation::identity;
    if (name == "sigmoid") return Activation::sigmoid;
    if (name == "tanh") return Activation::tanh;
    if (name == "relu") return Activation::relu;
    if (name == "softmax") return Activation::softmax;
    throw std::invalid_argument("unknown activation '" + name +
                                "', expected one of identity, sigmoid, tanh, relu, softmax");
}

// σ(z) = 1/(1+e^−z), computed from e^−|z| so that neither branch overflows.
template <typename T>
inline T sigmoid(T z) {
    T e = std::exp(-std::abs(z));
    T s = T(1) / (T(1) + e);
    return z >= T(0) ? s : e * s;
}

template <typename T>
inline T activate(T z, Activation act) {
    switch (act) {
        case Activation::sigmoid: return sigmoid(z);
        case Activation::tanh: return std::tanh(z);
        case Activation::relu: return z > T(0) ? z : T(0);
        default: return z;
    }
}

// act'(Z) expressed through A = act(Z): sigmoid A(1−A), tanh 1−A², relu [A>0], identity 1.
template <typename T>
inline T activation_derivative(T a, Activation act) {
    switch (act) {
        case Activation::sigmoid: return a * (T(1) - a);
        case Activation::tanh: return T(1) - a * a;
        case Activation::relu: return a > T(0) ? T(1) : T(0);
        default: return T(1);
    }
}

// softmax of one row in place: y_k = e^(z_k − max z) / Σ_j e^(z_j − max z). Returns log Σ_j e^(z_j − max z).
template <typename T>
inline T softmax_row_inplace(T* row, int k) {
    T zmax = row[0];
    for (int j = 1; j < k; ++j) zmax = std::max(zmax, row[j]);
    T sum = 0;
    for (int j = 0; j < k; ++j) {
        row[j] = std::exp(row[j] - zmax);
        sum += row[j];
    }
    T inv = T(1) / sum;
    for (int j = 0; j < k; ++j) row[j] *= inv;
    return std::log(sum);
}

// out (n, m) = act(z + b): z (n, m) row-major, b (m) broadcast over rows (nullable). One sweep over memory;
// out may alias z. Softmax normalises each row after adding the bias.
template <typename T>
void bias_activation_forward(T* out, const T* z, const T* b, int n, int m, Activation act) {
#pragma omp parallel for schedule(static) if (std::ptrdiff_t(n) * m > kParallelMinElements)
    for (int t = 0; t < n; ++t) {
        const T* zr = z + std::ptrdiff_t(t) * m;
        T* orow = out + std::ptrdiff_t(t) * m;
        if (act == Activation::softmax) {
            for (int j = 0; j < m; ++j) orow[j] = zr[j] + (b ? b[j] : T(0));
            softmax_row_inplace(orow, m);
            continue;
        }
        for (int j = 0; j < m; ++j) orow[j] = activate(zr[j] + (b ? b[j] : T(0)), act);
    }
}

// dz (n, m) = (da + per_unit_grad) ⊙ act'(Z), act' from a = act(Z); per_unit_grad (m) is nullable and is
// added to every row (the sparsity penalty's gradient). dz may alias da. Differentiates A = act(Z).
template <typename T>
void activation_backward(T* dz, const T* da, const T* a, const T* per_unit_grad, int n, int m,
                         Activation act) {
    if (act == Activation::softmax)
        throw std::invalid_argument("activation_backward: softmax needs softmax_backward (it is not element-wise)");
#pragma omp parallel for schedule(static) if (std::ptrdiff_t(n) * m > kParallelMinElements)
    for (int t = 0; t < n; ++t) {
        const std::ptrdiff_t r = std::ptrdiff_t(t) * m;
        for (int j = 0; j < m; ++j) {
            T g = da[r + j] + (per_unit_grad ? per_unit_grad[j] : T(0));
            dz[r + j] = g * activation_derivative(a[r + j], act);
        }
    }
}

// dz (n, k) = Ŷ ⊙ (dŶ − ⟨dŶ, Ŷ⟩) row by row: the Jacobian-vector product of Ŷ = softmax(Z).
template <typename T>
void softmax_backward(T* dz, const T* dyhat, const T* yhat, int n, int k) {
    for (int t = 0; t < n; ++t) {
        const std::ptrdiff_t r = std::ptrdiff_t(t) * k;
        T dot = 0;
        for (int j = 0; j < k; ++j) dot += dyhat[r + j] * yhat[r + j];
        for (int j = 0; j < k; ++j) dz[r + j] = yhat[r + j] * (dyhat[r + j] - dot);
    }
}

}  // namespace fastmlp
