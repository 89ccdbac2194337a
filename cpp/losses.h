// Output losses, each averaged over the n samples of the batch, and the output layer's error signal.
#pragma once
#include <cmath>

#include "activations.h"

namespace fastmlp {

// One row of softmax_cross_entropy_forward, reduced vector-wide: p = softmax(z), returns
// (Σ_j y_j)·log Σ e^(z−max) − Σ_j y_j (z_j − max).
template <typename T>
inline double softmax_cross_entropy_row(T* p, const T* z, const T* y, int k) {
    const T zmax = row_max(z, k);
    T y_dot_shifted = 0, y_sum = 0;  // read before softmax_row overwrites z when p aliases z
#pragma omp simd reduction(+ : y_dot_shifted, y_sum)
    for (int j = 0; j < k; ++j) {
        y_dot_shifted += y[j] != T(0) ? y[j] * (z[j] - zmax) : T(0);  // 0·(−∞) of an unused class: 0
        y_sum += y[j];
    }
    return double(y_sum) * double(softmax_row(p, z, zmax, k)) - double(y_dot_shifted);
}

// probs (n, k) = softmax(logits); returns −(1/n) Σ_t Σ_j y_tj log probs_tj with log probs = z − max − log Σ e^(z−max).
// probs may alias logits. Rows split between the threads, long rows (kVectorRow) each reduced vector-wide, short
// ones in blocks of kLanes rows across the vector lanes; the rows added in double.
template <typename T>
T softmax_cross_entropy_forward(T* probs, const T* logits, const T* y, int n, int k) {
    if (k >= kVectorRow) {
        const auto row = [&](std::ptrdiff_t t) {
            return softmax_cross_entropy_row(probs + t * k, logits + t * k, y + t * k, k);
        };
        return T(parallel_sum(n, row, std::ptrdiff_t(n) * k) / n);
    }
    const auto block = [&](std::ptrdiff_t b) {
        const std::ptrdiff_t first = b * kLanes * std::ptrdiff_t(k);
        const int rows = int(std::min<std::ptrdiff_t>(n - b * kLanes, kLanes));
        return softmax_lanes<true>(probs + first, logits + first, y + first, rows, k);
    };
    return T(parallel_sum((std::ptrdiff_t(n) + kLanes - 1) / kLanes, block, std::ptrdiff_t(n) * k) / n);
}

// log(1 + e^−|z|), the softplus tail of the binary cross-entropy. For float, without libm calls so that its loop
// vectorises: e = e^−|z| lies in [0, 1], and log(1 + e) is Cephes' logf polynomial on f = e (e <= √2 − 1), or on
// f = (e − 1)/2 plus ln 2 (1 + e = 2·(1 + f)), with |f| <= 0.29 either way; absolute error below 1e-7.
// Doubles keep std::log1p and std::exp.
template <typename T>
inline T log1p_exp_minus_abs(T z) {
    return std::log1p(std::exp(-std::abs(z)));
}
template <>
inline float log1p_exp_minus_abs(float z) {
    const float e = fast_exp(z < 0.0f ? z : -z);
    const bool halve = e > 0.41421356f;
    const float f = halve ? (e - 1.0f) * 0.5f : e;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    const float f2 = f * f;
    const float log1p_f = f + (p * f * f2 - 0.5f * f2);
    return halve ? log1p_f + 0.69314718056f : log1p_f;
}

// probs (n, k) = σ(logits); returns (1/n) Σ [max(z,0) − z·y + log(1 + e^−|z|)], BCE in its overflow-free form.
// Element-wise, so taken in blocks of kBlock elements whatever the rows (a binary classifier's rows hold one):
// each block summed in T (a simd reduction), the blocks in double, split between the threads.
template <typename T>
T sigmoid_binary_cross_entropy_forward(T* probs, const T* logits, const T* y, int n, int k) {
    constexpr std::ptrdiff_t kBlock = 256;
    const std::ptrdiff_t count = std::ptrdiff_t(n) * k;
    const double total = parallel_sum((count + kBlock - 1) / kBlock, [&](std::ptrdiff_t block) {
        const std::ptrdiff_t begin = block * kBlock, end = count < begin + kBlock ? count : begin + kBlock;
        // local pointers: through the lambda's captured references, every store to p could change them, and the
        // loop would stay scalar
        const T* zs = logits + begin;
        const T* ys = y + begin;
        T* ps = probs + begin;
        const int length = int(end - begin);
        T part = 0;
#pragma omp simd reduction(+ : part)
        for (int i = 0; i < length; ++i) {
            const T z = zs[i];  // read before ps[i] is written: probs may alias logits
            part += (z > T(0) ? z : T(0)) - z * ys[i] + log1p_exp_minus_abs(z);
            ps[i] = sigmoid(z);
        }
        return double(part);
    }, count);
    return T(total / n);
}

// (1/n) Σ_t ½‖ŷ_t − y_t‖² over yhat, y (n, k). Each row is summed in T (vectorised), the rows in double.
template <typename T>
T squared_error_forward(const T* yhat, const T* y, int n, int k) {
    const double total = parallel_sum(n, [&](std::ptrdiff_t t) {
        const T* a = yhat + t * k;
        const T* b = y + t * k;
        T row = 0;
#pragma omp simd reduction(+ : row)
        for (int j = 0; j < k; ++j) row += (a[j] - b[j]) * (a[j] - b[j]);
        return double(row);
    }, std::ptrdiff_t(n) * k);
    return T(0.5 * total / n);
}

// ŷ = act(z + b) (b nullable: ŷ = act(z)), delta (n, k) = (ŷ − y)/n ⊙ deriv(ŷ) and delta_sums (k) = Σ_t delta_t (the
// output bias gradient) in one pass over memory; returns Σ ‖ŷ_t − y_t‖² from the same pass (the squared error's
// loss, which would otherwise read both matrices again). delta may alias z.
// Threads take contiguous blocks of rows and sum delta's columns in their own row of thread_sums (ThreadSums).
// kBias says whether b is given: decided once, outside the loop (a nullable b inside it cost a masked load).
template <bool kBias, typename T, typename A, typename D>
FASTMLP_SIMD_CLONES double map_output_error_part(T* delta, ThreadSums<T> thread_sums, const T* z, const T* b,
                                                 const T* y, int n, int k, A& act, D& deriv, int id, int team) {
    int begin, end;
    team_share(n, id, team, begin, end);
    const T inv_n = T(1) / T(n);
    T* sums = thread_sums.row(id);
    for (int j = 0; j < k; ++j) sums[j] = T(0);
    double squares = 0;
    for (int t = begin; t < end; ++t) {
        const std::ptrdiff_t r = std::ptrdiff_t(t) * k;
        T row = 0;
#pragma omp simd reduction(+ : row)
        for (int j = 0; j < k; ++j) {
            const T yhat = act(kBias ? z[r + j] + b[j] : z[r + j]);
            const T error = yhat - y[r + j];
            const T d = error * inv_n * deriv(yhat);
            delta[r + j] = d;
            sums[j] += d;
            row += error * error;
        }
        squares += double(row);
    }
    return squares;
}

template <bool kBias, typename T, typename A, typename D>
double map_output_error_pass(T* delta, T* delta_sums, ThreadSums<T> thread_sums, const T* z, const T* b, const T* y,
                             int n, int k, A act, D deriv) {
    constexpr int kMaxThreads = 64;
    double partial[kMaxThreads] = {};
    const int threads = thread_sums.threads() < kMaxThreads ? thread_sums.threads() : kMaxThreads;
    const int used = on_team(threads, std::ptrdiff_t(n) * k > kParallelMinElements, [&](int id, int team) {
        partial[id] = map_output_error_part<kBias>(delta, thread_sums, z, b, y, n, k, act, deriv, id, team);
    });
    add_thread_sums(delta_sums, thread_sums, used, k);
    double total = 0;
    for (double p : partial) total += p;
    return total;
}

template <typename T, typename A, typename D>
double map_output_error(T* delta, T* delta_sums, ThreadSums<T> thread_sums, const T* z, const T* b, const T* y, int n,
                        int k, A act, D deriv) {
    return b ? map_output_error_pass<true>(delta, delta_sums, thread_sums, z, b, y, n, k, act, deriv)
             : map_output_error_pass<false>(delta, delta_sums, thread_sums, z, b, y, n, k, act, deriv);
}

// Forward and backward of the squared error through an element-wise output activation, in one pass from the
// output layer's bare product z = X·Wᵀ: ŷ = act(z + b), returns (1/n) Σ_t ½‖ŷ_t − y_t‖² (as squared_error_forward)
// and writes delta (n, k) = ∂loss/∂Z = (ŷ − y)/n ⊙ act'(ŷ), which differentiates (1/n) Σ_t ½‖act(Z_t) − y_t‖² with
// Z = z + b, and delta_sums (k) = Σ_t delta_t (thread_sums: scratch, see map_output_error). Ŷ itself is never
// stored. delta may alias z.
template <typename T>
T squared_error_forward_backward(T* delta, T* delta_sums, ThreadSums<T> thread_sums, const T* z, const T* b,
                                 const T* y, int n, int k, Activation act) {
    double squares = 0;
    with_activation<T>(act, [&](auto a) {
        using A = decltype(a);
        squares = map_output_error(delta, delta_sums, thread_sums, z, b, y, n, k, [](T v) { return A::value(v); },
                                   [](T v) { return A::derivative(v); });
    });
    return T(0.5 * squares / n);
}

// delta (n, k) = (ŷ − y)/n and delta_sums (k) = Σ_t delta_t (thread_sums: scratch). Differentiates each loss above: it is ∂loss/∂Z for
// softmax + cross-entropy and sigmoid + binary cross-entropy, and ∂loss/∂Ŷ for squared error. delta may alias yhat.
template <typename T>
void output_error_backward(T* delta, T* delta_sums, ThreadSums<T> thread_sums, const T* yhat, const T* y, int n, int k) {
    const auto same = [](T v) { return v; };
    map_output_error(delta, delta_sums, thread_sums, yhat, static_cast<const T*>(nullptr), y, n, k, same,
                     [](T) { return T(1); });
}

}  // namespace fastmlp
