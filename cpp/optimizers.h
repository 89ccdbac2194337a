// Optimizer updates on the flat parameter vector, in place, one fused sweep each.
#pragma once
#include <cmath>
#include <cstddef>

#include "parallel.h"

namespace fastmlp {

// Each update below runs its loop, over elements [begin, end), in a FASTMLP_SIMD_CLONES *_part function that
// on_blocks calls on each thread's block (no parallel region at all for a small vector: see on_team).

// θ ← θ − ρ·g
template <typename T>
FASTMLP_SIMD_CLONES void sgd_update_part(T* theta, const T* grad, std::ptrdiff_t begin, std::ptrdiff_t end,
                                         T learning_rate) {
    for (std::ptrdiff_t i = begin; i < end; ++i) theta[i] -= learning_rate * grad[i];
}

template <typename T>
void sgd_update(T* theta, const T* grad, std::ptrdiff_t count, T learning_rate) {
    on_blocks(count, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
        sgd_update_part(theta, grad, begin, end, learning_rate);
    });
}

// v ← μ·v − ρ·g; θ ← θ + v (classical) or θ ← θ + μ·v − ρ·g (Nesterov, Sutskever's reformulation).
template <typename T>
FASTMLP_SIMD_CLONES void momentum_update_part(T* theta, T* velocity, const T* grad, std::ptrdiff_t begin,
                                              std::ptrdiff_t end, T learning_rate, T momentum, bool nesterov) {
    for (std::ptrdiff_t i = begin; i < end; ++i) {
        const T v = momentum * velocity[i] - learning_rate * grad[i];
        velocity[i] = v;
        theta[i] += nesterov ? momentum * v - learning_rate * grad[i] : v;
    }
}

template <typename T>
void momentum_update(T* theta, T* velocity, const T* grad, std::ptrdiff_t count, T learning_rate, T momentum,
                     bool nesterov) {
    on_blocks(count, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
        momentum_update_part(theta, velocity, grad, begin, end, learning_rate, momentum, nesterov);
    });
}

// m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; θ ← θ − ρ·m̂/(√v̂ + ε) with m̂ = m/(1−β1^t), v̂ = v/(1−β2^t), t ≥ 1.
template <typename T>
FASTMLP_SIMD_CLONES void adam_update_part(T* theta, T* m, T* v, const T* grad, std::ptrdiff_t begin,
                                          std::ptrdiff_t end, T learning_rate, T beta1, T beta2, T eps, T m_scale,
                                          T v_scale) {
    for (std::ptrdiff_t i = begin; i < end; ++i) {
        const T g = grad[i];
        const T mi = beta1 * m[i] + (T(1) - beta1) * g;
        const T vi = beta2 * v[i] + (T(1) - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        theta[i] -= learning_rate * (mi * m_scale) / (std::sqrt(vi * v_scale) + eps);
    }
}

template <typename T>
void adam_update(T* theta, T* m, T* v, const T* grad, std::ptrdiff_t count, T learning_rate, T beta1, T beta2, T eps,
                 long step) {
    const T m_scale = T(1) / (T(1) - T(std::pow(double(beta1), double(step))));
    const T v_scale = T(1) / (T(1) - T(std::pow(double(beta2), double(step))));
    on_blocks(count, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
        adam_update_part(theta, m, v, grad, begin, end, learning_rate, beta1, beta2, eps, m_scale, v_scale);
    });
}

// (weight_decay/2)·Σ w² over the weight matrices (contiguous at the start of θ); not divided by n.
template <typename T>
T weight_decay_forward(const T* weights, std::ptrdiff_t count, T weight_decay) {
    const double total = parallel_sum(count, [&](std::ptrdiff_t i) { return double(weights[i]) * double(weights[i]); });
    return T(0.5 * double(weight_decay) * total);
}

// grad_weights += weight_decay·w: differentiates (weight_decay/2)·Σ w².
template <typename T>
FASTMLP_SIMD_CLONES void weight_decay_backward_part(T* grad_weights, const T* weights, std::ptrdiff_t begin,
                                                    std::ptrdiff_t end, T weight_decay) {
    for (std::ptrdiff_t i = begin; i < end; ++i) grad_weights[i] += weight_decay * weights[i];
}

template <typename T>
void weight_decay_backward(T* grad_weights, const T* weights, std::ptrdiff_t count, T weight_decay) {
    on_blocks(count, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
        weight_decay_backward_part(grad_weights, weights, begin, end, weight_decay);
    });
}

}  // namespace fastmlp
