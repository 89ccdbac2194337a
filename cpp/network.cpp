// Network construction, the workspace table, forward, loss and backward. Training lives in training.cpp.
#include "network.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

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
void Network<T>::ensure_capacity(int rows, int hidden_rows, int chunk_rows, int split_team) {
    hidden_rows = std::max(hidden_rows, rows);
    if (rows <= capacity_ && hidden_rows <= hidden_capacity_ && chunk_rows <= chunk_capacity_ &&
        omp_threads() <= thread_capacity_ && split_team <= split_capacity_)
        return;
    rows = std::max(rows, capacity_);
    hidden_rows = std::max(hidden_rows, hidden_capacity_);
    chunk_rows = std::max(chunk_rows, chunk_capacity_);
    split_team = std::max(split_team, split_capacity_);
    // The split step's team was sized from a thread count read before this one (set_num_threads may run meanwhile
    // on another Python thread): one row of partial sums for each of its threads all the same.
    thread_capacity_ = std::max({thread_capacity_, omp_threads(), split_team});
    const int L = layout_.n_layers, width = layout_.max_width(), k = layout_.sizes[L];
    std::ptrdiff_t offset = 0;
    auto take = [&](std::ptrdiff_t count) {  // the next part of the workspace, starting on a cache line
        const std::ptrdiff_t at = offset;
        offset += whole_cache_lines<T>(count);
        return at;
    };
    act_offset_.assign(L, 0);
    for (int l = 0; l < L; ++l)
        act_offset_[l] = take(std::ptrdiff_t(l < L - 1 ? hidden_rows : rows) * layout_.sizes[l + 1]);
    for (auto& d : delta_offset_) d = take(std::ptrdiff_t(rows) * width);
    batch_x_offset_ = take(std::ptrdiff_t(rows) * layout_.sizes[0]);
    batch_y_offset_ = take(std::ptrdiff_t(rows) * k);
    mean_act_offset_ = take(std::ptrdiff_t(L) * width);
    unit_grad_offset_ = take(width);
    delta_sums_offset_ = take(width);
    thread_sums_offset_ = take(std::ptrdiff_t(thread_capacity_) * whole_cache_lines<T>(width));
    // No copies of the batch where every split step the workspace fits reads its rows in place; a step on a
    // smaller team than asked for then reads them in place too (unit_split_sgd_step).
    split_copies_ = split_team > 1 && !unit_split_gathers(rows, split_team);
    split_stride_ = (split_copies_ ? whole_cache_lines<T>(std::ptrdiff_t(rows) * layout_.sizes[0]) : 0) +
                    whole_cache_lines<T>(std::ptrdiff_t(rows) * k);
    split_offset_ = offset;
    offset += std::max(split_team - 1, 0) * split_stride_;
    chunk_offset_ = offset;  // then each thread's chunk buffers
    chunk_stride_ = chunk_rows > 0 ? chunk_buffers(0, chunk_rows, nullptr) : 0;
    offset += thread_capacity_ * chunk_stride_;
    work_.assign(offset, T(0));
    capacity_ = rows;
    hidden_capacity_ = hidden_rows;
    chunk_capacity_ = chunk_rows;
    split_capacity_ = split_team;
}

template <typename T>
typename Network<T>::Rows Network<T>::whole_batch(int n) {
    if (n > capacity_)  // a caller's bug (a path chosen after the workspace was sized): fail loudly, not silently
        throw std::logic_error("fastmlp: workspace for " + std::to_string(capacity_) + " rows used for " +
                               std::to_string(n));
    Rows r;
    r.n = n;
    r.output = act(layout_.n_layers - 1);
    r.deltas[0] = work_.data() + delta_offset_[0];
    r.deltas[1] = work_.data() + delta_offset_[1];
    r.delta_sums = work_.data() + delta_sums_offset_;
    r.unit_grad = work_.data() + unit_grad_offset_;
    r.targets = work_.data() + batch_y_offset_;
    r.sums = thread_sums();
    return r;
}

template <typename T>
typename Network<T>::OutputForm Network<T>::output_form(bool with_error) const {
    if (config_.loss != Loss::squared_error) return OutputForm::logits;
    return with_error && config_.output != Activation::softmax ? OutputForm::product : OutputForm::activations;
}

template <typename T>
void Network<T>::forward_layers(const Rows& rows, const T* x, int from, int upto, OutputForm form, bool with_means) {
    const std::vector<int>& s = layout_.sizes;
    const int width = layout_.max_width();
    for (int l = from; l <= upto; ++l) {
        const bool output = l == layout_.n_layers - 1;
        T* sums = with_means && !output ? work_.data() + mean_act_offset_ + std::ptrdiff_t(l) * width : nullptr;
        const T* in = l == 0 ? x : hidden_rows(rows, l - 1);
        T* out = output ? rows.output : hidden_rows(rows, l);
        dense_forward(out, in, weight(l), pass_bias(l, form), rows.n, s[l], s[l + 1], pass_activation(l, form),
                      bool(layout_.transposed[l]), sums, rows.sums, rows.products);
    }
}

// δ(L) overwrites the output layer's activations (no new memory is touched), except that softmax + squared error
// still needs Ŷ for the softmax's Jacobian.
template <typename T>
T* Network<T>::output_delta(const Rows& rows) {
    if (config_.loss == Loss::squared_error && config_.output == Activation::softmax) return rows.deltas[0];
    return rows.output;
}

template <typename T>
AlignedVector<T> Network<T>::take_scratch(std::size_t n) {
    AlignedVector<T> scratch;
    {
        std::lock_guard<std::mutex> lock(scratch_mutex_);
        if (!scratch_pool_.empty()) {
            scratch = std::move(scratch_pool_.back());
            scratch_pool_.pop_back();
        }
    }
    // Replaced, not resized: growing would copy what is about to be overwritten, and could reserve twice n.
    if (scratch.size() < n) scratch = AlignedVector<T>(n);
    return scratch;
}

template <typename T>
void Network<T>::give_back_scratch(AlignedVector<T>& scratch) noexcept {
    // At most one buffer per core is kept: more forwards than cores at once gain nothing from running together,
    // and a burst of them must not leave its peak memory held for good.
    static const std::size_t kept = std::max(2u, std::thread::hardware_concurrency());
    try {
        std::lock_guard<std::mutex> lock(scratch_mutex_);
        if (scratch_pool_.size() < kept) scratch_pool_.push_back(std::move(scratch));
    } catch (...) {  // no room to keep it: the next call allocates its own
    }
}

template <typename T>
void Network<T>::set_parameters(const T* theta) {
    CallGuard guard(users_, CallGuard::exclusive);
    if (theta != params_.data()) std::copy(theta, theta + layout_.size, params_.begin());
}

template <typename T>
std::size_t Network<T>::workspace_bytes() const {
    std::size_t elements = work_.capacity();
    std::lock_guard<std::mutex> lock(scratch_mutex_);
    for (const AlignedVector<T>& scratch : scratch_pool_) elements += scratch.capacity();
    return elements * sizeof(T);
}

// Rows per chunk of an inference call: a large set is predicted a block at a time, on buffers that do not grow
// with it.
constexpr int kInferenceChunkRows = 4096;

template <typename T>
void Network<T>::forward(T* out, const T* x, int n, int upto, const std::function<bool(bool)>& stop_requested) {
    CallGuard guard(users_, CallGuard::shared);
    if (n < 1) throw std::invalid_argument("forward: need at least one sample");
    if (upto < 0 || upto >= layout_.n_layers) throw std::invalid_argument("forward: layer index out of range");
    // The call's own buffers, not the workspace, so that forward passes can run side by side: two blocks of
    // hidden activations, each layer reading the one the layer before it wrote.
    const int chunk = std::min(n, kInferenceChunkRows);
    const bool hidden_upto = upto < layout_.n_layers - 1;
    const bool has_hidden = layout_.n_layers > 1;
    const std::ptrdiff_t block = has_hidden ? whole_cache_lines<T>(std::ptrdiff_t(chunk) * layout_.max_width()) : 0;
    AlignedVector<T> buffers = has_hidden ? take_scratch(2 * block) : AlignedVector<T>();
    struct GiveBack {
        Network& net;
        AlignedVector<T>& scratch;
        ~GiveBack() {
            if (!scratch.empty()) net.give_back_scratch(scratch);
        }
    } give_back{*this, buffers};
    FlushSubnormals flush(loops_fork(chunk));
    const int width_in = layout_.sizes[0], width_out = layout_.sizes[upto + 1];
    for (int first = 0; first < n; first += chunk) {
        Rows rows;
        rows.n = std::min(chunk, n - first);
        if (has_hidden) {
            rows.hidden[0] = buffers.data();
            rows.hidden[1] = buffers.data() + block;
        }
        T* out_rows = out + std::ptrdiff_t(first) * width_out;
        rows.output = out_rows;  // the output layer writes straight into out
        forward_layers(rows, x + std::ptrdiff_t(first) * width_in, 0, upto, OutputForm::activations);
        if (hidden_upto)
            std::memcpy(out_rows, hidden_rows(rows, upto), sizeof(T) * std::size_t(rows.n) * width_out);
        if (first + rows.n < n && stop_requested && stop_requested(false))
            throw Interrupted("inference interrupted");
    }
}

// with_error: δ(L) = (Ŷ − Y)/n is ∂E/∂Z for the matched losses (softmax + cross-entropy, sigmoid + BCE); for the
// squared error it is ∂E/∂Ŷ, chained through the output activation — from the bare product in one pass with the
// loss itself when the activation is element-wise (forward_layers left OutputForm::product).
template <typename T>
T Network<T>::output_loss(const Rows& rows, const T* y, bool with_error) {
    const int L = layout_.n_layers, k = layout_.sizes[L], n = rows.n;
    T* out = rows.output;
    T* delta = output_delta(rows);
    if (output_form(with_error) == OutputForm::product)
        return squared_error_forward_backward(delta, rows.delta_sums, rows.sums, out, bias(L - 1), y, n, k,
                                              config_.output);
    T loss;
    switch (config_.loss) {
        case Loss::cross_entropy: loss = softmax_cross_entropy_forward(out, out, y, n, k); break;
        case Loss::binary_cross_entropy: loss = sigmoid_binary_cross_entropy_forward(out, out, y, n, k); break;
        default: loss = squared_error_forward(out, y, n, k); break;
    }
    if (with_error) output_error_backward(delta, rows.delta_sums, rows.sums, out, y, n, k);
    if (with_error && config_.loss == Loss::squared_error) {  // softmax output: through its Jacobian
        softmax_backward(delta, delta, out, n, k);
        column_sums(rows.delta_sums, delta, n, k, false);
    }
    return loss;
}

template <typename T>
T Network<T>::add_penalties(T loss, int n) {
    if (sparse()) {
        const int width = layout_.max_width();
        for (int l = 0; l < layout_.n_layers - 1; ++l)
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
void Network<T>::backward(const Rows& rows, const T* x, T* target, T scale, bool accumulate) {
    const int L = layout_.n_layers, width = layout_.max_width(), n = rows.n;
    const std::vector<int>& s = layout_.sizes;
    T* delta_sums = rows.delta_sums;  // Σ_t δ(l)_t, left by the pass that computed δ(l)
    T* delta = output_delta(rows);
    for (int l = L - 1; l >= 0; --l) {
        T* next = delta == rows.deltas[1] ? rows.deltas[0] : rows.deltas[1];  // never δ(L)'s place (may be small)
        T* dw = target + layout_.weight_offset[layout_.weight_block[l]];
        T* db = target + layout_.bias_offset[l];
        const T* in = l == 0 ? x : hidden_rows(rows, l - 1);
        dense_backward(l == 0 ? static_cast<T*>(nullptr) : next, dw, db, delta, in, weight(l), n, s[l], s[l + 1],
                       bool(layout_.transposed[l]), accumulate || bool(layout_.accumulate_dw[l]), scale, accumulate,
                       delta_sums, rows.products);
        if (l == 0) break;
        const T* per_unit = nullptr;
        if (sparse()) {
            sparse_kl_penalty_backward(rows.unit_grad, work_.data() + mean_act_offset_ + std::ptrdiff_t(l - 1) * width,
                                       T(config_.sparsity_target), T(config_.sparsity_weight), n, s[l]);
            per_unit = rows.unit_grad;
        }
        activation_backward(next, next, in, per_unit, n, s[l], config_.hidden, delta_sums, rows.sums);
        delta = next;
    }
}

template <typename T>
void Network<T>::add_weight_decay_gradient() {
    if (config_.weight_decay > 0)
        weight_decay_backward(grads_.data(), params_.data(), layout_.n_weights, T(config_.weight_decay));
}

// Dense targets for samples rows[first..first+n) (rows null: first..first+n): the caller's matrix itself when
// no gather is needed, else gathered (or one-hot encoded from labels) into out (n, n_out).
template <typename T>
const T* Network<T>::dense_targets(Targets<T> y, const std::int64_t* rows, std::ptrdiff_t first, int n, T* out) {
    const int k = layout_.sizes[layout_.n_layers];
    if (y.dense && !rows) return y.dense + first * k;
    const auto source = [&](std::ptrdiff_t t) { return rows ? rows[first + t] : first + t; };
    // Each label is read once, checked where it is used: the labels are the caller's array, which another thread
    // may change while this runs (the GIL is released), so a label checked in an earlier pass could be out of range
    // by the time it indexes a row. The first bad row and its label are recorded, packed (row << 32 | label bits)
    // so that one atomic minimum keeps both, and reported after the team: no exception may leave a parallel region.
    std::atomic<std::int64_t> first_bad(std::numeric_limits<std::int64_t>::max());
    on_team(omp_threads(), std::ptrdiff_t(n) * k > kParallelMinElements, [&](int id, int team) {
        int begin, end;
        team_share(n, id, team, begin, end);
        for (int t = begin; t < end; ++t) {
            T* row = out + std::ptrdiff_t(t) * k;
            if (y.dense) {
                std::memcpy(row, y.dense + source(t) * k, sizeof(T) * k);
                continue;
            }
            const std::int32_t label = y.labels[source(t)];
            std::fill(row, row + k, T(0));
            if (label >= 0 && label < k) {
                row[label] = T(1);
                continue;
            }
            const std::int64_t bad = std::int64_t(t) << 32 | std::int64_t(std::uint32_t(label));
            for (std::int64_t seen = first_bad.load(); bad < seen && !first_bad.compare_exchange_weak(seen, bad);) {
            }
        }
    });
    if (const std::int64_t bad = first_bad.load(); bad != std::numeric_limits<std::int64_t>::max())
        throw std::invalid_argument("label " + std::to_string(std::int32_t(std::uint32_t(bad))) + " of sample " +
                                    std::to_string(source(bad >> 32)) + " is outside [0, " + std::to_string(k) + ")");
    return out;
}

template class Network<float>;
template class Network<double>;

}  // namespace fastmlp
