// The training epoch in C++: seeded shuffle, mini-batch gather into the workspace, forward, backward and the
// fused optimizer update. No heap allocation after the first epoch at a given size; no Python anywhere here.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "finite_input.h"
#include "network.h"
#include "optimizers.h"
#include "shuffle.h"

namespace fastmlp {

Optimizer parse_optimizer(const std::string& name) {
    if (name == "sgd") return Optimizer::sgd;
    if (name == "momentum") return Optimizer::momentum;
    if (name == "adam") return Optimizer::adam;
    throw std::invalid_argument("unknown optimizer '" + name + "', expected sgd, momentum or adam");
}

template <typename T>
void Network<T>::optimizer_step(const TrainOptions& o) {
    const std::ptrdiff_t count = layout_.size;
    switch (o.optimizer) {
        case Optimizer::sgd: sgd_update(params_.data(), grads_.data(), count, T(o.learning_rate)); break;
        case Optimizer::momentum:
            momentum_update(params_.data(), velocity_.data(), grads_.data(), count, T(o.learning_rate),
                            T(o.momentum), o.nesterov);
            break;
        case Optimizer::adam:
            adam_update(params_.data(), adam_m_.data(), adam_v_.data(), grads_.data(), count, T(o.learning_rate),
                        T(o.beta1), T(o.beta2), T(o.eps), ++adam_step_);
            break;
    }
}

namespace {

void check_options(const TrainOptions& o) {
    if (o.batch_size < 1) throw std::invalid_argument("batch_size must be >= 1");
    if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate))
        throw std::invalid_argument("learning_rate must be a finite number > 0");
    if (!(o.momentum >= 0 && o.momentum < 1)) throw std::invalid_argument("momentum must lie in [0, 1)");
    if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1))
        throw std::invalid_argument("beta1 and beta2 must lie in [0, 1)");
    if (!(o.eps > 0)) throw std::invalid_argument("eps must be > 0");
}

// Copies the pieces of state an epoch changes into one snapshot buffer, or back.
template <typename T>
void copy_state(AlignedVector<T>& snapshot, std::initializer_list<AlignedVector<T>*> parts, bool restore) {
    std::size_t at = 0;
    for (AlignedVector<T>* p : parts) {
        if (restore)
            std::copy(snapshot.begin() + at, snapshot.begin() + at + p->size(), p->begin());
        else
            std::copy(p->begin(), p->end(), snapshot.begin() + at);
        at += p->size();
    }
}

}  // namespace

template <typename T>
T Network<T>::train_epoch(const T* x, Targets<T> y, int n, const TrainOptions& o,
                          const std::function<bool(bool)>& stop_requested,
                          const std::function<void(T*, std::ptrdiff_t)>& reduce_gradients) {
    CallGuard guard(users_, CallGuard::exclusive);
    check_options(o);
    if (n < 1) throw std::invalid_argument("train_epoch: need at least one sample");
    if (!y.dense && !y.labels) throw std::invalid_argument("train_epoch: no targets given");
    if (y.labels && config_.output != Activation::softmax)
        throw std::invalid_argument("integer labels need a softmax output");
    const int batch = std::min(o.batch_size, n), d = layout_.sizes[0];
    // Large batches run in chunks of rows (full_batch.cpp) when they need no gather: a whole epoch in one batch
    // (full-batch gradient descent, whose gradient does not depend on the order) or batches taken in order.
    // Decided once: set_num_threads from another thread or a gradient hook must not change the path mid-epoch.
    const int threads = omp_threads(), last = n % batch;  // the last, smaller batch, if any, may have to run whole
    const bool chunked_batches = runs_in_chunks(batch, threads) && (!o.shuffle || batch == n);
    const bool last_chunked = chunked_batches && last > 0 && runs_in_chunks(last, threads);
    // Plain SGD without weight decay or gradient averaging needs no gradient buffer: backward updates the
    // parameters in its GEMMs (grads() then keeps whatever loss_and_grad last wrote). Not in chunks: the threads'
    // gradients are added up before the update.
    const bool fused_sgd = o.optimizer == Optimizer::sgd && config_.weight_decay == 0 && !reduce_gradients;
    // Small mini-batches of such a step (wide layers' up to 512 rows, and up to 1024 rows read in place where the own
    // kernels outrun the BLAS) run on one team whose threads own blocks of hidden units (unit_split.cpp).
    const int split_team = fused_sgd && !chunked_batches ? unit_split_team(batch, threads) : 0;
    if (chunked_batches)
        ensure_chunk_capacity(last > 0 && !last_chunked ? last : 0, batch);
    else
        ensure_capacity(batch, 0, 0, split_team);
    FlushSubnormals flush(loops_fork(batch));
    if (o.optimizer == Optimizer::momentum && velocity_.empty()) velocity_.assign(params_.size(), T(0));
    if (o.optimizer == Optimizer::adam && adam_m_.empty()) {
        adam_m_.assign(params_.size(), T(0));
        adam_v_.assign(params_.size(), T(0));
    }
    snapshot_.resize(params_.size() + velocity_.size() + adam_m_.size() + adam_v_.size());
    copy_state(snapshot_, {&params_, &velocity_, &adam_m_, &adam_v_}, false);
    const long adam_step_before = adam_step_;
    const std::uint64_t shuffle_before = config_.shuffle_state;
    auto undo_epoch = [&] {
        copy_state(snapshot_, {&params_, &velocity_, &adam_m_, &adam_v_}, true);
        adam_step_ = adam_step_before;
        config_.shuffle_state = shuffle_before;
    };

    const std::int64_t* rows = nullptr;
    if (o.shuffle) {
        if (order_.size() < std::size_t(n)) order_.resize(n);
        shuffle_permutation<std::int64_t>(order_.data(), n, config_.shuffle_state);
        rows = order_.data();
    }
    // X is checked for NaN/inf here, a mini-batch at a time, instead of by a pass over all of it before every epoch
    // (1.5-3.5% of an epoch at the benchmark's sizes): a gathered row while it is still in L1, a batch read in place
    // just before the forward pass reads it, a chunked batch a chunk at a time (full_batch.cpp), a small split step's
    // batch from its forward products (unit_split.cpp). An error undoes the batches before it, like a divergence.
    // With gradient averaging, one rank must not stop alone mid-epoch (the others would wait in the reduction):
    // there all of X is checked first.
    // The error names the lowest bad row of all of X, whichever batch met one first (a second look, on the way
    // to the error only).
    const std::string restored = "; parameters were restored to the start of the epoch";
    const auto non_finite_x = [&] {
        undo_epoch();
        return NonFiniteInput(lowest_non_finite_row(x, 0, n, d), restored);
    };
    if (reduce_gradients && !all_finite(x, std::ptrdiff_t(n) * d)) throw non_finite_x();
    T* batch_x = work_.data() + batch_x_offset_;
    const int L = layout_.n_layers;
    double total = 0;
    for (std::ptrdiff_t first = 0, b = 0; first < n; first += batch, ++b) {
        const int m = int(std::min<std::ptrdiff_t>(batch, n - first));
        const T* xb = x + first * d;
        const bool chunked = chunked_batches && (m == batch || last_chunked);
        bool x_finite = true;
        if (split_team > 0) {
            // the split step gathers (or reads in place) and checks its rows itself
        } else if (rows && !chunked) {
            std::atomic<bool> finite{true};
            on_team(omp_threads(), std::ptrdiff_t(m) * d > kParallelMinElements, [&](int id, int team) {
                int begin, end;
                team_share(m, id, team, begin, end);
                bool ok = true;
                for (std::ptrdiff_t t = begin; t < end; ++t)
                    ok &= copy_all_finite(batch_x + t * d, x + rows[first + t] * d, d);
                if (!ok) finite.store(false, std::memory_order_relaxed);
            });
            xb = batch_x;
            x_finite = finite.load();
        } else if (!reduce_gradients && !chunked) {
            x_finite = all_finite(xb, std::ptrdiff_t(m) * d);
        }
        if (!x_finite) throw non_finite_x();
        Rows batch_rows;
        T loss;
        try {
            if (split_team > 0) {
                batch_rows = whole_batch(m);
                const T* yb = dense_targets(y, rows, first, m, batch_rows.targets);
                const int next_m = int(std::min<std::ptrdiff_t>(batch, n - first - m));
                x_finite = unit_split_sgd_step(x, rows, first, m, yb, split_team, T(o.learning_rate), loss, next_m);
            } else if (chunked) {
                loss = chunked_loss_and_grad(x, y, first, m, true, !reduce_gradients);
            } else {
                batch_rows = whole_batch(m);
                const T* yb = dense_targets(y, rows, first, m, batch_rows.targets);
                forward_layers(batch_rows, xb, 0, L - 1, output_form(true), sparse());
                loss = add_penalties(output_loss(batch_rows, yb, true), m);
            }
        } catch (const NonFiniteInput&) {  // from a chunk's check
            throw non_finite_x();
        } catch (...) {
            undo_epoch();
            throw;
        }
        if (!x_finite) throw non_finite_x();  // the split step's check (it changed nothing then)
        const auto diverged = [&](const std::string& what) {
            undo_epoch();
            return DivergenceError(what + " at mini-batch " + std::to_string(b + 1) + " (samples " +
                                   std::to_string(first) + ".." + std::to_string(first + m - 1) + " of the epoch's "
                                   "order); parameters were restored to the start of the epoch; try a smaller "
                                   "learning_rate");
        };
        const auto loss_became = [&] {  // built only when needed: no allocation per step
            return "the training loss became " + std::string(std::isnan(loss) ? "nan" : "inf");
        };
        // With a gradient reduction (data-parallel ranks) a rank must not stop alone, leaving the others waiting
        // in the reduction: it hands the reduction a gradient of NaN instead, so that every rank's reduced
        // gradient is NaN and all stop at this same mini-batch (the check after reduce_gradients below).
        if (!std::isfinite(loss) && !reduce_gradients) throw diverged(loss_became());
        total += double(loss) * m;
        if (split_team > 0) {
            // updated by the step already
        } else if (fused_sgd && !chunked) {
            // The update happens inside backward's GEMMs: W ← W − ρ·∂E/∂W.
            backward(batch_rows, xb, params_.data(), -T(o.learning_rate), true);
        } else {
            if (!std::isfinite(loss)) {
                std::fill(grads_.begin(), grads_.end(), std::numeric_limits<T>::quiet_NaN());
            } else if (!chunked) {  // chunked_loss_and_grad left the gradient already
                backward(batch_rows, xb, grads_.data(), T(1), false);
                add_weight_decay_gradient();
            }
            if (reduce_gradients) {
                try {
                    reduce_gradients(grads_.data(), layout_.size);
                } catch (...) {
                    undo_epoch();
                    throw;
                }
                if (!std::isfinite(loss)) throw diverged(loss_became());
                if (!all_finite(grads_.data(), layout_.size))
                    throw diverged("the gradient was nan or inf after gradient_hook (on data-parallel ranks: "
                                   "another rank's loss diverged, or the summed gradient overflowed)");
            }
            optimizer_step(o);
        }
        // After the last mini-batch the check is forced, so that a stop request never slips past the epoch.
        if (stop_requested && stop_requested(first + batch >= n)) {
            undo_epoch();
            throw Interrupted("training interrupted; parameters restored to the start of the epoch");
        }
    }
    // The last update can overflow even though every loss before it was finite.
    for (const T& p : params_) {
        if (!std::isfinite(p)) {
            undo_epoch();
            throw DivergenceError("the parameters became nan or inf in the last update of the epoch; they were "
                                  "restored to the start of the epoch; try a smaller learning_rate");
        }
    }
    return T(total / n);
}

// Only the members defined in this file: the class itself is instantiated in network.cpp.
template void Network<float>::optimizer_step(const TrainOptions&);
template void Network<double>::optimizer_step(const TrainOptions&);
template float Network<float>::train_epoch(const float*, Targets<float>, int, const TrainOptions&,
                                           const std::function<bool(bool)>&,
                                           const std::function<void(float*, std::ptrdiff_t)>&);
template double Network<double>::train_epoch(const double*, Targets<double>, int, const TrainOptions&,
                                             const std::function<bool(bool)>&,
                                             const std::function<void(double*, std::ptrdiff_t)>&);

}  // namespace fastmlp
