// Network construction, the workspace table, forward, loss and backward. Training lives in training.cpp.
#include "network.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "dense.h"
#include "losses.h"
#include "optimizers.h"
#include "sparse_kl.h"

namespace fastmlp {

Loss parse_loss(const std::string& name) {
    if (name == "cross_entropy") return Loss::cross_entropy;
    if (name == "binary_cross_entropy") return Loss::binary_cross_entropy;
    if (name == "squared_error") return Loss::squared_error;
    throw std::invalid_argument("unknown loss '" + name +
                                "', expected cross_entropy, binary_cross_entropy or squared_error");
}

template <typename T>
Network<T>::Network(const NetworkConfig& config) : config_(config), layout_(config.layer_sizes, config.tied_weights) {
    if (config.hidden == Activation::softmax)
        throw std::invalid_argument("softmax is an output, not a hidden activation");
    if (config.loss == Loss::cross_entropy && config.output != Activation::softmax)
        throw std::invalid_argument("cross_entropy loss needs a softmax output");
    if (config.loss == Loss::binary_cross_entropy && config.output != Activation::sigmoid)
        throw std::invalid_argument("binary_cross_entropy loss needs a sigmoid output");
    if (!(config.sparsity_weight >= 0) || !(config.weight_decay >= 0))  // also refuses NaN
        throw std::invalid_argument("sparsity_weight and weight_decay must be finite numbers >= 0");
    if (config.sparsity_weight > 0) {
        if (!(config.sparsity_target > 0 && config.sparsity_target < 1))
            throw std::invalid_argument("sparsity_target must lie strictly between 0 and 1");
        if (config.hidden != Activation::sigmoid)
            throw std::invalid_argument("the KL sparsity penalty needs sigmoid hidden units");
    }
    params_.assign(layout_.size, T(0));
    grads_.assign(layout_.size, T(0));
}

template <typename T>
void Network<T>::ensure_capacity(int rows) {
    if (rows <= capacity_ && omp_threads() <= thread_capacity_) return;
    rows = std::max(rows, capacity_);
    thread_capacity_ = std::max(thread_capacity_, omp_threads());
    const int L = layout_.n_layers, width = layout_.max_width();
    std::ptrdiff_t offset = 0;
    auto take = [&](std::ptrdiff_t count) {  // the next part of the workspace, starting on a cache line
        const std::ptrdiff_t at = offset;
        offset += whole_cache_lines<T>(count);
        return at;
    };
    act_offset_.assign(L, 0);
    for (int l = 0; l < L; ++l) act_offset_[l] = take(std::ptrdiff_t(rows) * layout_.sizes[l + 1]);
    for (auto& d : delta_offset_) d = take(std::ptrdiff_t(rows) * width);
    batch_x_offset_ = take(std::ptrdiff_t(rows) * layout_.sizes[0]);
    batch_y_offset_ = take(std::ptrdiff_t(rows) * layout_.sizes[L]);
    mean_act_offset_ = take(std::ptrdiff_t(L) * width);
    unit_grad_offset_ = take(width);
    delta_sums_offset_ = take(width);
    thread_sums_offset_ = take(std::ptrdiff_t(thread_capacity_) * whole_cache_lines<T>(width));
    work_.assign(offset, T(0));
    capacity_ = rows;
}

template <typename T>
typename Network<T>::OutputForm Network<T>::output_form(bool with_error) const {
    if (config_.loss != Loss::squared_error) return OutputForm::logits;
    return with_error && config_.output != Activation::softmax ? OutputForm::product : OutputForm::activations;
}

// Activations of layers 0..upto for x (n rows); the output layer's in the given form.
template <typename T>
void Network<T>::forward_layers(const T* x, int n, int upto, OutputForm form, bool with_means) {
    const std::vector<int>& s = layout_.sizes;
    const int width = layout_.max_width();
    for (int l = 0; l <= upto; ++l) {
        const bool output = l == layout_.n_layers - 1;
        const bool bare = output && form == OutputForm::product;
        T* sums = with_means && !output ? work_.data() + mean_act_offset_ + std::ptrdiff_t(l) * width : nullptr;
        dense_forward(act(l), l == 0 ? x : act(l - 1), weight(l), bare ? static_cast<const T*>(nullptr) : bias(l), n,
                      s[l], s[l + 1], output && form != OutputForm::activations ? Activation::identity : activation_of(l),
                      bool(layout_.transposed[l]), sums, thread_sums());
    }
}

// δ(L) overwrites the output layer's activations (no new memory is touched), except that softmax + squared error
// still needs Ŷ for the softmax's Jacobian.
template <typename T>
T* Network<T>::output_delta() {
    if (config_.loss == Loss::squared_error && config_.output == Activation::softmax)
        return work_.data() + delta_offset_[0];
    return act(layout_.n_layers - 1);
}

template <typename T>
void Network<T>::forward(T* out, const T* x, int n, int upto) {
    BusyGuard guard(busy_);
    if (n < 1) throw std::invalid_argument("forward: need at least one sample");
    if (upto < 0 || upto >= layout_.n_layers) throw std::invalid_argument("forward: layer index out of range");
    // Inference runs in chunks so that predicting on a large set does not grow the workspace to its size.
    const int chunk = std::min(n, std::max(capacity_, 4096));
    ensure_capacity(chunk);
    FlushSubnormals flush(loops_fork(chunk));
    const int width_in = layout_.sizes[0], width_out = layout_.sizes[upto + 1];
    for (int first = 0; first < n; first += chunk) {
        const int rows = std::min(chunk, n - first);
        forward_layers(x + std::ptrdiff_t(first) * width_in, rows, upto, OutputForm::activations);
        std::memcpy(out + std::ptrdiff_t(first) * width_out, act(upto), sizeof(T) * std::size_t(rows) * width_out);
    }
}

// Data loss of the output layer (turning logits into Ŷ in place), plus the sparsity and weight-decay terms.
// with_error: δ(L) = (Ŷ − Y)/n is ∂E/∂Z for the matched losses (softmax + cross-entropy, sigmoid + BCE); for the
// squared error it is ∂E/∂Ŷ, chained through the output activation — from the bare product in one pass with the
// loss itself when the activation is element-wise (forward_layers left OutputForm::product).
template <typename T>
T Network<T>::output_loss(const T* y, int n, bool with_error) {
    const int L = layout_.n_layers, k = layout_.sizes[L];
    T* out = act(L - 1);
    T* delta = output_delta();
    T* delta_sums = work_.data() + delta_sums_offset_;
    T loss;
    if (output_form(with_error) == OutputForm::product) {
        loss = squared_error_forward_backward(delta, delta_sums, thread_sums(), out, bias(L - 1), y, n, k,
                                              config_.output);
    } else {
        switch (config_.loss) {
            case Loss::cross_entropy: loss = softmax_cross_entropy_forward(out, out, y, n, k); break;
            case Loss::binary_cross_entropy: loss = sigmoid_binary_cross_entropy_forward(out, out, y, n, k); break;
            default: loss = squared_error_forward(out, y, n, k); break;
        }
        if (with_error) output_error_backward(delta, delta_sums, thread_sums(), out, y, n, k);
        if (with_error && config_.loss == Loss::squared_error) {  // softmax output: through its Jacobian
            softmax_backward(delta, delta, out, n, k);
            column_sums(delta_sums, delta, n, k, false);
        }
    }
    if (sparse()) {
        const int width = layout_.max_width();
        for (int l = 0; l < L - 1; ++l)
            loss += sparse_kl_penalty_from_sums(work_.data() + mean_act_offset_ + std::ptrdiff_t(l) * width,
                                                T(config_.sparsity_target), T(config_.sparsity_weight), n,
                                                layout_.sizes[l + 1]);
    }
    if (config_.weight_decay > 0)
        loss += weight_decay_forward(params_.data(), layout_.n_weights, T(config_.weight_decay));
    return loss;
}

// From δ(L), per layer ∂E/∂W(l) = δ(l)ᵀ·X(l), ∂E/∂b(l) = Σ_t δ(l),
// δ(l−1) = (δ(l)·W(l) + sparsity gradient) ⊙ σ'(Z(l−1)); the input layer's δ is never computed.
template <typename T>
void Network<T>::backward(const T* x, int n, T sgd_step) {
    const int L = layout_.n_layers, width = layout_.max_width();
    const std::vector<int>& s = layout_.sizes;
    T* const buffers[2] = {work_.data() + delta_offset_[0], work_.data() + delta_offset_[1]};
    T* delta_sums = work_.data() + delta_sums_offset_;  // Σ_t δ(l)_t, left by the pass that computed δ(l)
    T* delta = output_delta();
    const bool fused_sgd = sgd_step > T(0);
    T* target = fused_sgd ? params_.data() : grads_.data();  // where ∂E/∂θ goes (scaled by −ρ when fused)
    T* unit_grad = work_.data() + unit_grad_offset_;
    for (int l = L - 1; l >= 0; --l) {
        T* next = delta == buffers[1] ? buffers[0] : buffers[1];  // never δ(L)'s place, which may be too small
        T* dw = target + layout_.weight_offset[layout_.weight_block[l]];
        T* db = target + layout_.bias_offset[l];
        dense_backward(l == 0 ? static_cast<T*>(nullptr) : next, dw, db, delta, l == 0 ? x : act(l - 1), weight(l),
                       n, s[l], s[l + 1], bool(layout_.transposed[l]), fused_sgd || bool(layout_.accumulate_dw[l]),
                       fused_sgd ? -sgd_step : T(1), fused_sgd, delta_sums);
        if (l == 0) break;
        const T* per_unit = nullptr;
        if (sparse()) {
            sparse_kl_penalty_backward(unit_grad, work_.data() + mean_act_offset_ + std::ptrdiff_t(l - 1) * width,
                                       T(config_.sparsity_target), T(config_.sparsity_weight), n, s[l]);
            per_unit = unit_grad;
        }
        activation_backward(next, next, act(l - 1), per_unit, n, s[l], config_.hidden, delta_sums, thread_sums());
        delta = next;
    }
    if (config_.weight_decay > 0 && !fused_sgd)
        weight_decay_backward(grads_.data(), params_.data(), layout_.n_weights, T(config_.weight_decay));
}

// Dense targets for samples rows[first..first+n) (rows null: first..first+n): the caller's matrix itself when
// no gather is needed, else gathered (or one-hot encoded from labels) into the workspace.
template <typename T>
const T* Network<T>::dense_targets(Targets<T> y, const std::int64_t* rows, std::ptrdiff_t first, int n) {
    const int k = layout_.sizes[layout_.n_layers];
    if (y.dense && !rows) return y.dense + first * k;
    T* out = work_.data() + batch_y_offset_;
    for (int t = 0; t < n; ++t) {
        const std::ptrdiff_t src = rows ? rows[first + t] : first + t;
        T* row = out + std::ptrdiff_t(t) * k;
        if (y.dense) {
            std::memcpy(row, y.dense + src * k, sizeof(T) * k);
            continue;
        }
        const std::int32_t label = y.labels[src];
        if (label < 0 || label >= k)
            throw std::invalid_argument("label " + std::to_string(label) + " of sample " + std::to_string(src) +
                                        " is outside [0, " + std::to_string(k) + ")");
        std::fill(row, row + k, T(0));
        row[label] = T(1);
    }
    return out;
}

template <typename T>
T Network<T>::loss_and_grad(const T* x, Targets<T> y, int n, bool want_grad) {
    BusyGuard guard(busy_);
    if (n < 1) throw std::invalid_argument("loss_and_grad: need at least one sample");
    if (!y.dense && !y.labels) throw std::invalid_argument("loss_and_grad: no targets given");
    if (y.labels && config_.output != Activation::softmax)
        throw std::invalid_argument("integer labels need a softmax output");
    ensure_capacity(n);
    FlushSubnormals flush(loops_fork(n));
    const T* yd = dense_targets(y, nullptr, 0, n);
    forward_layers(x, n, layout_.n_layers - 1, output_form(want_grad), sparse());
    const T loss = output_loss(yd, n, want_grad);
    if (want_grad) backward(x, n);
    return loss;
}

template class Network<float>;
template class Network<double>;

}  // namespace fastmlp
