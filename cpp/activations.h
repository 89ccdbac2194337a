// Activations and their derivatives, written in terms of the activation's output A = act(Z).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
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

// e^x for float: Cephes' expf (x = n·ln2 + r, |r| <= ln2/2, a degree-6 polynomial in r, 2^n put into the exponent bits),
// written without branches so that the loops calling it vectorise (glibc's expf does not). Relative error
// below 2e-7. exp_in_range takes x in [−87.3, 88.3], where e^x stays a normal float; fast_exp clamps to that
// range first and puts NaN and overflow right at the end. Doubles keep std::exp, whose full precision the
// float64 parity and gradient checks rely on.
inline float exp_in_range(float x) {
    // n = round(x·log2 e) by the 1.5·2^23 trick: adding it pushes the fraction out of the mantissa. (A floor
    // through int conversion and a compare is control flow to GCC, which then leaves the loop scalar.)
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = x - n * 0.693359375f - n * -2.12194440e-4f;  // ln2 split in two for an exact product
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const std::int32_t bits = (std::int32_t(n) + 127) << 23;  // n >= −126 in this range: bits > 0
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}
inline float fast_exp(float x) {
    // The clamp also maps NaN to a finite value, so the int conversions are always defined.
    const float y = exp_in_range(x > -87.3f ? (x < 88.3f ? x : 88.3f) : -87.3f);
    return x != x ? x : (x > 88.72f ? std::numeric_limits<float>::infinity() : y);
}
inline double fast_exp(double x) { return std::exp(x); }

// σ(z) = 1/(1+e^−z), computed from e^−|z| so that neither branch overflows.
template <typename T>
inline T sigmoid(T z) {
    const T e = fast_exp(z < T(0) ? z : -z);
    const T s = T(1) / (T(1) + e);
    return z >= T(0) ? s : e * s;
}
// tanh(z); for float without libm calls, so that the passes vectorise: Cephes' tanhf, an odd polynomial for
// |z| <= 0.625 (full relative precision near 0) and 1 − 2/(e^2|z| + 1) beyond (e^2|z| = inf gives 1), the two
// computed for every lane and selected. Relative error below 3e-7. Doubles keep std::tanh.
template <typename T>
inline T tanh_value(T z) {
    return std::tanh(z);
}
template <>
inline float tanh_value(float z) {
    const float a = z < 0.0f ? -z : z;
    const float s = z * z;
    const float small = std::copysign(((((-5.70498872745e-3f * s + 2.06390887954e-2f) * s - 5.37397155531e-2f) * s +
                                        1.33314422036e-1f) * s - 3.33332819422e-1f) * s * z + z,
                                      z);  // −0 stays −0
    const float large_abs = 1.0f - 2.0f / (fast_exp(2.0f * a) + 1.0f);
    const float large = z < 0.0f ? -large_abs : large_abs;
    return a > 0.625f ? large : small;  // NaN: the comparison is false and the polynomial keeps the NaN
}

// The float version the passes run: e^−|z| needs only the lower clamp (which also maps NaN to a finite value), and
// NaN is put back after the division. fast_exp's own NaN select sits before the division, where GCC copied the
// division into both arms: two 16-wide divisions per vector instead of one.
template <>
inline float sigmoid(float z) {
    const float minus_abs = z < 0.0f ? z : -z;
    const float e = exp_in_range(minus_abs > -87.3f ? minus_abs : -87.3f);
    const float s = 1.0f / (1.0f + e);
    const float value = z >= 0.0f ? s : e * s;
    return z != z ? z : value;
}

// out[t, j] = value(t·m, j) over n rows of m, the rows split between the threads in blocks; with kSums also
// out_sums (m) = Σ_t out_t from the same pass (thread_sums as in ThreadSums). value(r, j) reads element r + j of
// its inputs: one lambda type per caller and activation, so that each loop is compiled (and vectorised) once.
template <bool kSums, typename T, typename V>
FASTMLP_SIMD_CLONES void map_rows_part(T* out, ThreadSums<T> thread_sums, int n, int m, V& value, int id, int team) {
    int begin, end;
    team_share(n, id, team, begin, end);
    T* sums = kSums ? thread_sums.row(id) : nullptr;
    if constexpr (kSums)
        for (int j = 0; j < m; ++j) sums[j] = T(0);
    for (int t = begin; t < end; ++t) {
        const std::ptrdiff_t r = std::ptrdiff_t(t) * m;
        for (int j = 0; j < m; ++j) {
            const T v = value(r, j);
            out[r + j] = v;
            if constexpr (kSums) sums[j] += v;
        }
    }
}

template <bool kSums, typename T, typename V>
void map_rows_pass(T* out, T* out_sums, ThreadSums<T> thread_sums, int n, int m, V value) {
    const int used = on_team(kSums ? thread_sums.threads() : omp_threads(),
                             std::ptrdiff_t(n) * m > kParallelMinElements, [&](int id, int team) {
                                 map_rows_part<kSums>(out, thread_sums, n, m, value, id, team);
                             });
    if constexpr (kSums) add_thread_sums(out_sums, thread_sums, used, m);
}

// map_rows_pass, summing when out_sums is given (nullable).
template <typename T, typename V>
void map_rows(T* out, T* out_sums, ThreadSums<T> thread_sums, int n, int m, V value) {
    if (out_sums)
        map_rows_pass<true>(out, out_sums, thread_sums, n, m, value);
    else
        map_rows_pass<false>(out, out_sums, thread_sums, n, m, value);
}

// out (n, m) = f(z + b), b (m) broadcast over the rows and nullable; with out_sums also Σ_t out_t (map_rows).
template <typename T, typename F>
void map_biased_rows(T* out, T* out_sums, ThreadSums<T> thread_sums, const T* z, const T* b, int n, int m, F f) {
    if (b)
        map_rows(out, out_sums, thread_sums, n, m, [=](std::ptrdiff_t r, int j) { return f(z[r + j] + b[j]); });
    else
        map_rows(out, out_sums, thread_sums, n, m, [=](std::ptrdiff_t r, int j) { return f(z[r + j]); });
}

// Rows at least this long are reduced vector-wide (simd reductions). Shorter ones, like the 10 classes of MNIST,
// would run scalar that way (a simd reduction over fewer elements than a vector holds runs its scalar remainder
// loop, plus a horizontal reduction: a 10-class softmax cross-entropy row took 113 ns, 73 ns in plain loops), so
// they are taken kLanes rows at a time, one row per vector lane (softmax_lanes).
constexpr int kVectorRow = 16;
constexpr int kLanes = 16;

// max_j z_j of one row; NaN entries are passed over (they make the row's sum NaN below instead).
template <typename T>
inline T row_max(const T* z, int k) {
    T zmax = z[0];
#pragma omp simd reduction(max : zmax)
    for (int j = 1; j < k; ++j) zmax = z[j] > zmax ? z[j] : zmax;  // (std::max's references keep GCC scalar)
    return zmax;
}

// softmax of one row given its maximum: p_k = e^(z_k − zmax) / Σ_j e^(z_j − zmax) (p may alias z). Returns
// log Σ_j e^(z_j − zmax). The simd reduction lets the exp loop run vector-wide (a plain float sum would keep it
// scalar: it may not be reassociated).
template <typename T>
inline T softmax_row(T* p, const T* z, T zmax, int k) {
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < k; ++j) {
        const T e = fast_exp(z[j] - zmax);
        p[j] = e;
        sum += e;
    }
    const T inv = T(1) / sum;
    for (int j = 0; j < k; ++j) p[j] *= inv;
    return std::log(sum);
}

// softmax of `rows` (<= kLanes) consecutive rows of k < kVectorRow entries, p (rows, k) = softmax(z) (p may alias
// z), across the vector lanes: each row is copied into one lane of k vectors (entry j of row l at [j][l]), so that
// the maximum, the exps and the sums over a row are k vertical vector operations each. Per row, the maximum
// starts from z[0] and the exps are summed in class order, as the scalar row code it replaced did (softmax_row's
// simd reductions may reorder both). With kCrossEntropy also returns Σ_rows of the cross-entropy with
// the targets y (rows, k), (Σ_j y_j)·log Σ e^(z−max) − Σ_j y_j (z_j − max) (softmax_cross_entropy_forward).
// Measured on one core of the AMD EPYC VM, 32 rows of 10 classes with the cross-entropy: 1.8 µs row by row,
// 0.62 µs in lanes.
template <bool kCrossEntropy, typename T>
inline double softmax_lanes(T* p, const T* z, const T* y, int rows, int k) {
    alignas(64) T zt[kVectorRow][kLanes], yt[kCrossEntropy ? kVectorRow : 1][kLanes];
    for (int l = 0; l < rows; ++l)
        for (int j = 0; j < k; ++j) {
            zt[j][l] = z[std::ptrdiff_t(l) * k + j];
            if constexpr (kCrossEntropy) yt[j][l] = y[std::ptrdiff_t(l) * k + j];
        }
    for (int l = rows; l < kLanes; ++l)  // lanes without a row compute on zeros, never read
        for (int j = 0; j < k; ++j) {
            zt[j][l] = T(0);
            if constexpr (kCrossEntropy) yt[j][l] = T(0);
        }
    alignas(64) T zmax[kLanes], sum[kLanes], y_dot_shifted[kLanes], y_sum[kLanes];
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
        zmax[l] = zt[0][l];
        sum[l] = y_dot_shifted[l] = y_sum[l] = T(0);
    }
    for (int j = 1; j < k; ++j) {
#pragma omp simd
        for (int l = 0; l < kLanes; ++l) zmax[l] = zt[j][l] > zmax[l] ? zt[j][l] : zmax[l];  // as row_max
    }
    for (int j = 0; j < k; ++j) {
#pragma omp simd
        for (int l = 0; l < kLanes; ++l) {
            const T shifted = zt[j][l] - zmax[l];
            if constexpr (kCrossEntropy) {
                y_dot_shifted[l] += yt[j][l] != T(0) ? yt[j][l] * shifted : T(0);  // 0·(−∞) of an unused class: 0
                y_sum[l] += yt[j][l];
            }
            zt[j][l] = fast_exp(shifted);
            sum[l] += zt[j][l];
        }
    }
    double total = 0;
    for (int l = 0; l < rows; ++l) {
        const T inv = T(1) / sum[l];
        for (int j = 0; j < k; ++j) p[std::ptrdiff_t(l) * k + j] = zt[j][l] * inv;
        if constexpr (kCrossEntropy) total += double(y_sum[l]) * double(std::log(sum[l])) - double(y_dot_shifted[l]);
    }
    return total;
}

// Thread id's rows of out (n, m), each softmax-normalised in place: row by row, or kLanes rows at a time when short.
template <typename T>
FASTMLP_SIMD_CLONES void softmax_rows_part(T* out, int n, int m, int id, int team) {
    int begin, end;
    team_share(n, id, team, begin, end);
    for (std::ptrdiff_t t = begin; t < end; t += m >= kVectorRow ? 1 : kLanes) {  // (t + kLanes may pass INT_MAX)
        T* row = out + t * m;
        if (m >= kVectorRow)
            softmax_row(row, row, row_max(row, m), m);
        else
            softmax_lanes<false>(row, row, static_cast<const T*>(nullptr),
                                 int(std::min<std::ptrdiff_t>(end - t, kLanes)), m);
    }
}

// The element-wise activations, each a type with value(z) = act(z) and derivative(a) = act'(Z) written in terms of
// a = act(Z). with_activation calls body with the one for act, so that each caller's loop is compiled (and
// vectorised) once per activation. Softmax normalises rows and has its own kernels.
template <typename T>
struct SigmoidActivation {
    static T value(T z) { return sigmoid(z); }
    static T derivative(T a) { return a * (T(1) - a); }
};
template <typename T>
struct TanhActivation {
    static T value(T z) { return tanh_value(z); }
    static T derivative(T a) { return T(1) - a * a; }
};
template <typename T>
struct ReluActivation {
    static T value(T z) { return z > T(0) ? z : T(0); }
    static T derivative(T a) { return a > T(0) ? T(1) : T(0); }
};
template <typename T>
struct IdentityActivation {
    static T value(T z) { return z; }
    static T derivative(T) { return T(1); }
};

template <typename T, typename Body>
void with_activation(Activation act, Body&& body) {
    switch (act) {
        case Activation::sigmoid: return body(SigmoidActivation<T>{});
        case Activation::tanh: return body(TanhActivation<T>{});
        case Activation::relu: return body(ReluActivation<T>{});
        case Activation::identity: return body(IdentityActivation<T>{});
        case Activation::softmax:
            throw std::invalid_argument("softmax is not element-wise (it normalises rows): use the softmax kernels");
    }
}

// out (n, m) = act(z + b): z (n, m) row-major, b (m) broadcast over rows (nullable). One sweep over memory;
// out may alias z. Softmax normalises each row after adding the bias. With out_sums (element-wise activations
// only) also Σ_t out_t, from the same sweep (thread_sums: scratch, see ThreadSums).
template <typename T>
void bias_activation_forward(T* out, const T* z, const T* b, int n, int m, Activation act, T* out_sums = nullptr,
                             ThreadSums<T> thread_sums = {}) {
    if (act != Activation::softmax)
        return with_activation<T>(act, [&](auto a) {
            map_biased_rows(out, out_sums, thread_sums, z, b, n, m, [](T v) { return decltype(a)::value(v); });
        });
    if (out_sums) throw std::invalid_argument("bias_activation_forward: no sums through a softmax");
    map_biased_rows(out, out_sums, thread_sums, z, b, n, m, [](T v) { return v; });
    on_team(omp_threads(), std::ptrdiff_t(n) * m > kParallelMinElements,
            [&](int id, int team) { softmax_rows_part(out, n, m, id, team); });
}

// Calls body(deriv) with deriv(a) = act'(Z) written in terms of a = act(Z).
template <typename T, typename Body>
void with_derivative(Activation act, Body&& body) {
    with_activation<T>(act, [&](auto a) { body([](T y) { return decltype(a)::derivative(y); }); });
}

// dz (n, m) = (da + per_unit_grad) ⊙ act'(Z), act' from a = act(Z); per_unit_grad (m) is nullable and is
// added to every row (the sparsity penalty's gradient). dz may alias da. Differentiates A = act(Z). With dz_sums
// (m) also Σ_t dz_t, the layer's bias gradient, from the same pass (thread_sums: scratch, see ThreadSums).
template <typename T>
void activation_backward(T* dz, const T* da, const T* a, const T* per_unit_grad, int n, int m, Activation act,
                         T* dz_sums = nullptr, ThreadSums<T> thread_sums = {}) {
    with_derivative<T>(act, [&](auto deriv) {
        const T* g = per_unit_grad;
        if (g)
            map_rows(dz, dz_sums, thread_sums, n, m,
                     [=](std::ptrdiff_t r, int j) { return (da[r + j] + g[j]) * deriv(a[r + j]); });
        else
            map_rows(dz, dz_sums, thread_sums, n, m, [=](std::ptrdiff_t r, int j) { return da[r + j] * deriv(a[r + j]); });
    });
}

// dz (n, k) = Ŷ ⊙ (dŶ − ⟨dŶ, Ŷ⟩) row by row: the Jacobian-vector product of Ŷ = softmax(Z).
template <typename T>
FASTMLP_SIMD_CLONES void softmax_backward(T* dz, const T* dyhat, const T* yhat, int n, int k) {
    for (int t = 0; t < n; ++t) {
        const std::ptrdiff_t r = std::ptrdiff_t(t) * k;
        T dot = 0;
        for (int j = 0; j < k; ++j) dot += dyhat[r + j] * yhat[r + j];
        for (int j = 0; j < k; ++j) dz[r + j] = yhat[r + j] * (dyhat[r + j] - dot);
    }
}

}  // namespace fastmlp
