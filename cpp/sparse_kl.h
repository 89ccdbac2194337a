// The sparse-autoencoder penalty λ·Σ_i KL(α‖α̂_i) on the mean activation α̂_i of each hidden unit.
#pragma once
#include <algorithm>
#include <cmath>

#include "parallel.h"

namespace fastmlp {

// α̂ is kept inside [ε, 1−ε] so that log α̂, log(1−α̂) and 1/α̂ stay finite for dead or saturated units.
template <typename T>
constexpr T kl_epsilon() { return T(1e-6); }

// λ·Σ_i KL(α‖α̂_i) as below, from mean_activation (m) holding Σ_t h_t already (the layer's forward pass summed
// it), which it turns into α̂ = clamp(Σ_t h_t / n, ε, 1−ε).
template <typename T>
T sparse_kl_penalty_from_sums(T* mean_activation, T target, T weight, int n, int m) {
    const T eps = kl_epsilon<T>(), a = target;
    double total = 0;
    for (int i = 0; i < m; ++i) {
        const T a_hat = std::clamp(mean_activation[i] / T(n), eps, T(1) - eps);
        mean_activation[i] = a_hat;
        total += double(a * std::log(a / a_hat) + (T(1) - a) * std::log((T(1) - a) / (T(1) - a_hat)));
    }
    return T(weight * total);
}

// mean_activation (m) = clamp((1/n) Σ_t h_t, ε, 1−ε) for h (n, m); returns λ·Σ_i KL(α‖α̂_i) with
// KL(α‖α̂) = α log(α/α̂) + (1−α) log((1−α)/(1−α̂)).
template <typename T>
T sparse_kl_penalty_forward(T* mean_activation, const T* h, T target, T weight, int n, int m) {
    column_sums(mean_activation, h, n, m, false);
    return sparse_kl_penalty_from_sums(mean_activation, target, weight, n, m);
}

// per_unit_grad (m) = ∂/∂h_ti of λ·Σ_i KL(α‖α̂_i) = λ·(−α/α̂_i + (1−α)/(1−α̂_i)) / n, identical for every
// sample t; it differentiates λ·Σ_i [α log(α/α̂_i) + (1−α) log((1−α)/(1−α̂_i))] through α̂_i = (1/n) Σ_t h_ti.
template <typename T>
void sparse_kl_penalty_backward(T* per_unit_grad, const T* mean_activation, T target, T weight, int n, int m) {
    const T a = target;
    for (int i = 0; i < m; ++i) {
        const T a_hat = mean_activation[i];
        per_unit_grad[i] = weight * (-a / a_hat + (T(1) - a) / (T(1) - a_hat)) / T(n);
    }
}

}  // namespace fastmlp
