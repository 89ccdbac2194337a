// Output losses, each averaged over the n samples of the batch, and the output layer's error signal.
#pragma once
#include <cmath>

#include "activations.h"

namespace fastmlp {

// probs (n, k) = softmax(logits); returns −(1/n) Σ_t Σ_j y_tj log probs_tj with log probs = z − max − log Σ e^(z−max).
// probs may alias logits.
template <typename T>
FASTMLP_SIMD_CLONES T softmax_cross_entropy_forward(T* probs, const T* logits, const T* y, int n, int k) {
    double total = 0;
    for (int t = 0; t < n; ++t) {
        const std::ptrdiff_t r = std::ptrdiff_t(t) * k;
        T zmax = logits[r];
        for (int j = 1; j < k; ++j) zmax = std::max(zmax, logits[r + j]);
        T sum = 0;
        for (int j = 0; j < k; ++j) sum += fast_exp(logits[r + j] - zmax);
        const T log_sum = std::log(sum);
        double row = 0;
        for (int j = 0; j < k; ++j) {
            const T log_p = logits[r + j] - zmax - log_sum;
            if (y[r + j] != T(0)) row -= double(y[r + j]) * double(log_p);
            probs[r + j] = fast_exp(log_p);
        }
        total += row;
    }
    return T(total / n);
}

// probs (n, k) = σ(logits); returns (1/n) Σ [max(z,0) − z·y + log(1 + e^−|z|)], BCE in its overflow-free form.
template <typename T>
FASTMLP_SIMD_CLONES T sigmoid_binary_cross_entropy_forward(T* probs, const T* logits, const T* y, int n, int k) {
    double total = 0;
    const std::ptrdiff_t count = std::ptrdiff_t(n) * k;
    for (std::ptrdiff_t i = 0; i < count; ++i) {
        const T z = logits[i];
        total += double(std::max(z, T(0)) - z * y[i] + std::log1p(std::exp(-std::abs(z))));
        probs[i] = sigmoid(z);
    }
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
