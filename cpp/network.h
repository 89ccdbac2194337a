// A fully-connected network whose parameters, gradients and activations each live in one contiguous buffer.
// Model-level forward/backward only offset pointers into those buffers and call the layer and loss kernels.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "activations.h"
#include "aligned.h"
#include "blas.h"
#include "float_mode.h"
#include "layout.h"
#include "parallel.h"

namespace fastmlp {

enum class Loss { cross_entropy, binary_cross_entropy, squared_error };
enum class Optimizer { sgd, momentum, adam };

Loss parse_loss(const std::string& name);
Optimizer parse_optimizer(const std::string& name);

struct NetworkConfig {
    std::vector<int> layer_sizes;
    Activation hidden = Activation::sigmoid;
    Activation output = Activation::softmax;
    Loss loss = Loss::cross_entropy;
    double sparsity_target = 0.0;  // α, used when sparsity_weight > 0
    double sparsity_weight = 0.0;  // λ
    double weight_decay = 0.0;
    bool tied_weights = false;
    std::uint64_t shuffle_state = 0;
};

struct TrainOptions {
    int batch_size = 32;
    Optimizer optimizer = Optimizer::sgd;
    double learning_rate = 0.1, momentum = 0.9, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    bool nesterov = false, shuffle = true;
};

// Targets of a batch: a dense (n, n_out) matrix, or class labels in [0, n_out) for a softmax output.
template <typename T>
struct Targets {
    const T* dense = nullptr;
    const std::int32_t* labels = nullptr;
};

// The loss became NaN/inf during training; the parameters were restored to the start of the epoch.
struct DivergenceError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// The caller's stop check asked to stop; the parameters were restored to the start of the epoch.
struct Interrupted : std::runtime_error {
    using std::runtime_error::runtime_error;
};

template <typename T>
class Network {
   public:
    explicit Network(const NetworkConfig& config);

    const Layout& layout() const { return layout_; }
    const NetworkConfig& config() const { return config_; }
    T* params() { return params_.data(); }
    T* grads() { return grads_.data(); }
    std::uint64_t shuffle_state() const { return config_.shuffle_state; }

    // out (n, sizes[upto+1]) = activations of layer `upto` (n_layers−1: the output) for x (n, sizes[0]).
    // stop_requested(false), when set, is called between chunks of rows; when it returns true Interrupted is
    // thrown (out is then only partly written).
    void forward(T* out, const T* x, int n, int upto, const std::function<bool(bool)>& stop_requested = nullptr);
    // params() = theta, as a call that needs the network alone (CallGuard): refused while a forward pass or a
    // training call runs, which would otherwise read a mix of the old and new parameters.
    void set_parameters(const T* theta);
    // Loss of the whole batch (data loss + sparsity + weight decay); fills grads() when want_grad. theta, when
    // given, first becomes the parameters, and grad_out, when given, receives a copy of the gradient: inside the
    // call, so that no other thread's call can come in between. NaN/inf in x raises NonFiniteInput (with theta,
    // before the parameters change).
    T loss_and_grad(const T* x, Targets<T> y, int n, bool want_grad, const T* theta = nullptr,
                    T* grad_out = nullptr);
    // One pass over the data in mini-batches with the chosen optimizer; returns the mean batch loss.
    // stop_requested(last) is called after every mini-batch (last: the epoch's final one); when it returns true
    // the epoch is undone and Interrupted thrown.
    // reduce_gradients, when set, is called after every backward pass with the flat gradient buffer, before
    // the optimizer update: data-parallel training averages it across processes there (an allreduce).
    T train_epoch(const T* x, Targets<T> y, int n, const TrainOptions& options,
                  const std::function<bool(bool)>& stop_requested,
                  const std::function<void(T*, std::ptrdiff_t)>& reduce_gradients = nullptr);
    // Bytes the workspace and the inference buffers hold (they only grow, on the first call at a larger batch).
    std::size_t workspace_bytes() const;

   private:
    T* weight(int l) { return params_.data() + layout_.weight_offset[layout_.weight_block[l]]; }
    T* bias(int l) { return params_.data() + layout_.bias_offset[l]; }
    T* act(int l) { return work_.data() + act_offset_[l]; }  // layer l's output, from row 0 of the batch
    Activation activation_of(int l) const { return l == layout_.n_layers - 1 ? config_.output : config_.hidden; }
    bool sparse() const { return config_.sparsity_weight > 0; }
    // Scratch for the per-thread partial column sums of the element-wise passes (one row per thread, a line apart).
    ThreadSums<T> thread_sums() {
        return {work_.data() + thread_sums_offset_, thread_capacity_, whole_cache_lines<T>(layout_.max_width())};
    }
    // Whether element-wise loops over `rows` rows of the widest layer run on the OpenMP team.
    bool loops_fork(int rows) const { return std::ptrdiff_t(rows) * layout_.max_width() > kParallelMinElements; }

    // Workspace for a batch of `rows` rows whose hidden layers' activations hold `hidden_rows` rows (at least
    // `rows`), plus, with chunk_rows > 0, each thread's buffers for chunks of that many rows (Rows below).
    // With split_team > 1 also, for each thread of the hidden-unit split step but the first, a partial output
    // product, and a copy of the batch's x unless every step that fits reads its rows in place (unit_split_gathers).
    void ensure_capacity(int rows, int hidden_rows = 0, int chunk_rows = 0, int split_team = 0);

    // Where a pass over rows [first, first + n) of the batch reads and writes, besides the hidden layers'
    // activations act(l) + first·sizes[l+1]: the whole batch's buffers (whole_batch) or one thread's buffers for
    // a chunk of its rows (thread_chunk, for the loss and gradient of a large batch; see full_batch.cpp).
    struct Rows {
        int first = 0, n = 0;
        T* output = nullptr;      // the output layer's activations (or logits, or bare product) of these rows
        T* deltas[2] = {};        // two δ buffers of n × max_width
        T* delta_sums = nullptr;  // Σ_t δ(L)_t, the output bias gradient
        T* unit_grad = nullptr;   // the sparsity penalty's per-unit gradient
        T* targets = nullptr;     // where dense_targets gathers the rows' targets
        ThreadSums<T> sums;       // scratch for the per-thread partial column sums
        T* grads = nullptr;       // a chunk's: its thread's own gradient buffer
        T* hidden[2] = {};        // inference: hidden layer l's activations in hidden[l % 2] (n × max_width each)
        Products products = Products::blas;  // where the layers' products run (blas.h)
    };
    Rows whole_batch(int n);
    Rows thread_chunk(int id, int first, int n);
    std::ptrdiff_t chunk_buffers(std::ptrdiff_t at, std::ptrdiff_t rows, Rows* r);
    // Whether a batch of n rows runs in chunks on this many threads (each gets at least two), and the workspace
    // for whole batches of whole_rows rows and chunked ones of chunked_rows.
    bool runs_in_chunks(int n, int threads) const;
    Products chunk_products() const;  // where the products of a batch in chunks run
    void ensure_chunk_capacity(int whole_rows, int chunked_rows);
    // The loss of rows [first, first + n) of x and y (and with want_grad its gradient in grads(), weight decay
    // included) in chunks of rows, on the workspace of ensure_chunk_capacity. check_x: each chunk's rows of x are
    // checked for NaN/inf as the chunk starts (NonFiniteInput for the lowest bad row, numbered in all of x).
    T chunked_loss_and_grad(const T* x, Targets<T> y, std::ptrdiff_t first, int n, bool want_grad, bool check_x);

    // What the output layer leaves for its loss kernel: Ŷ itself, the logits Z (the cross-entropy kernels apply
    // softmax/sigmoid themselves, for a stable log) or the bare product X·Wᵀ (the fused squared error adds the
    // bias and applies the activation in its own pass).
    enum class OutputForm { activations, logits, product };
    OutputForm output_form(bool with_error) const;
    // What layer l's pass applies after its product, the output layer's in the given form: the bias (none for the
    // bare product) and the activation (the identity where the loss kernel applies it itself).
    const T* pass_bias(int l, OutputForm form) {
        return l == layout_.n_layers - 1 && form == OutputForm::product ? nullptr : bias(l);
    }
    Activation pass_activation(int l, OutputForm form) const {
        return l == layout_.n_layers - 1 && form != OutputForm::activations ? Activation::identity : activation_of(l);
    }
    // Layers from..upto of the rows, x being the rows' inputs; the output layer's in the given form.
    // with_means: each hidden layer's forward pass also sums its activations for the sparsity penalty.
    void forward_layers(const Rows& rows, const T* x, int from, int upto, OutputForm form, bool with_means = false);
    // Hidden layer l's activations of the rows: in the batch workspace, or in the rows' own buffers (inference).
    T* hidden_rows(const Rows& rows, int l) {
        return rows.hidden[0] ? rows.hidden[l % 2] : act(l) + std::ptrdiff_t(rows.first) * layout_.sizes[l + 1];
    }
    T* output_delta(const Rows& rows);  // where output_loss leaves δ(L): in place of Ŷ where it can
    // The rows' data loss (mean over rows.n); with_error also leaves the output error δ(L) = ∂E/∂Z(L) and its
    // column sums for backward (the squared error computes its loss in that same pass).
    T output_loss(const Rows& rows, const T* y, bool with_error);
    // loss + the sparsity and weight-decay terms (the sparsity sums of a batch of n rows become its means).
    T add_penalties(T loss, int n);
    // From δ(L) left by output_loss: target (+)= scale·∂E/∂θ of the rows' mean loss, layer by layer inside the
    // weight-gradient GEMMs (accumulate: add into target). With target = params() and scale = −ρ that is the SGD
    // step itself (plain SGD needs no gradient buffer). Weight decay is not included (add_weight_decay_gradient).
    void backward(const Rows& rows, const T* x, T* target, T scale, bool accumulate);
    void add_weight_decay_gradient();
    // The SGD step on one team of threads that own blocks of hidden units (unit_split.cpp): the team size for a
    // mini-batch of `batch` rows on up to `threads` threads, 0 where the step does not apply or is not faster.
    int unit_split_team(int batch, int threads) const;
    // Whether that step, on `rows` rows and a team of `team`, reads the rows in place (gathered_products.h).
    bool unit_split_gathers(int rows, int team) const;
    bool unit_split_sgd_step(const T* x, const std::int64_t* rows, std::ptrdiff_t first, int m, const T* y,
                             int team_size, T learning_rate, T& loss, int next_m = 0);
    const T* dense_targets(Targets<T> y, const std::int64_t* rows, std::ptrdiff_t first, int n, T* out);
    void optimizer_step(const TrainOptions& o);

    NetworkConfig config_;
    Layout layout_;
    AlignedVector<T> params_, grads_;
    AlignedVector<T> velocity_, adam_m_, adam_v_;  // optimizer state, allocated on first use
    long adam_step_ = 0;
    AlignedVector<T> snapshot_;                  // parameters and optimizer state at the start of an epoch
    std::vector<std::int64_t> order_;            // the epoch's sample order

    // Workspace: one buffer, laid out per capacity_ rows by ensure_capacity.
    AlignedVector<T> work_;  // every part starts on a cache line
    int capacity_ = 0, hidden_capacity_ = 0, chunk_capacity_ = 0;  // rows of the batch, hidden layers, chunks
    std::vector<std::ptrdiff_t> act_offset_;  // per layer
    std::ptrdiff_t delta_offset_[2] = {0, 0}, batch_x_offset_ = 0, batch_y_offset_ = 0;
    std::ptrdiff_t mean_act_offset_ = 0, unit_grad_offset_ = 0;  // per hidden layer: max_width each
    std::ptrdiff_t delta_sums_offset_ = 0;                        // Σ_t δ(L)_t, the output bias gradient
    std::ptrdiff_t thread_sums_offset_ = 0;                       // its per-thread partial sums
    int thread_capacity_ = 0;                                     // threads the workspace has partial sums for
    // Unit split: threads 1.. each have a copy of the batch's x (only with split_copies_) and a partial output
    // product, at split_offset_ + (id − 1)·split_stride_, for a team of up to split_capacity_.
    std::ptrdiff_t split_offset_ = 0, split_stride_ = 0;
    int split_capacity_ = 0;
    bool split_copies_ = false;
    T* split_x(int id) { return work_.data() + split_offset_ + (id - 1) * split_stride_; }
    T* split_partial_output(int id) {
        return split_x(id) + (split_copies_ ? whole_cache_lines<T>(std::ptrdiff_t(capacity_) * layout_.sizes[0]) : 0);
    }
    std::ptrdiff_t chunk_offset_ = 0, chunk_stride_ = 0;          // thread id's chunk buffers: offset + id·stride

    // Inference buffers kept for the next forward (a fresh block of this size would be page-faulted in on every
    // call): one per forward that ran at the same time as others.
    AlignedVector<T> take_scratch(std::size_t n);
    void give_back_scratch(AlignedVector<T>& scratch) noexcept;
    mutable std::mutex scratch_mutex_;
    std::vector<AlignedVector<T>> scratch_pool_;

    std::atomic<int> users_{0};  // CallGuard's count: inference calls running, or −1 for one exclusive call
};

// Calls into one network from several threads. Inference (forward) only reads the parameters and runs on buffers
// of its own, so such calls may run side by side; every other call (training, loss, gradient) uses the network's
// workspace or changes its parameters, and runs alone. A call that cannot run now is refused, not made to wait: a
// gradient hook calling into its own network would otherwise wait forever.
class CallGuard {
   public:
    enum Kind { shared, exclusive };
    CallGuard(std::atomic<int>& users, Kind kind) : users_(users), kind_(kind) {
        int now = users_.load();
        do {
            if (kind == exclusive ? now != 0 : now < 0)
                throw std::runtime_error(
                    "this Network is already running a call (from another thread, or this call's own gradient "
                    "hook); forward passes may share a network, but training, a loss or setting the parameters "
                    "needs it alone: use one Network per training thread, and no calls into the network from its "
                    "own hook");
        } while (!users_.compare_exchange_weak(now, kind == exclusive ? -1 : now + 1));
    }
    ~CallGuard() {
        if (kind_ == exclusive)
            users_.store(0);
        else
            users_.fetch_sub(1);
    }
    CallGuard(const CallGuard&) = delete;
    CallGuard& operator=(const CallGuard&) = delete;

   private:
    std::atomic<int>& users_;
    const Kind kind_;
};

extern template class Network<float>;
extern template class Network<double>;

}  // namespace fastmlp
