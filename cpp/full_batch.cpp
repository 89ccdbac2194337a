// The loss and gradient of a whole batch at once (L-BFGS and full-batch gradient descent work on all the data).
// A large batch runs its output layer and its whole backward pass in chunks of rows: each thread takes a contiguous
// block of the rows, and for each chunk of it computes the output layer, the loss, δ and the gradient terms while
// that chunk's output and δ (kChunkRows × 784 floats for the autoencoder: 0.8 MB) are still in its core's cache,
// adding the gradient into a buffer of its own; the buffers are then added in thread order. The whole batch's
// output and δ, as large as the data, never exist: on the sparse autoencoder's 784-196-784 gradient over 10,000
// samples (2 threads, Xeon), the output layer and the backward pass took 62.5 ms as whole-batch products and passes
// and 56.8 ms in chunks; the workspace shrinks from 165 MB to 17 MB. The hidden layers still run over the whole
// batch first, since the sparsity penalty needs every hidden unit's mean activation before any δ. train_epoch runs
// a batch this way when it needs no gather (full-batch gradient descent: 784-1024-10 over 60,000 samples, 0.92 ->
// 0.80 s an epoch, workspace 887 -> 244 MB).
#include <algorithm>
#include <exception>

#include "blas.h"
#include "finite_input.h"
#include "gathered_products.h"
#include "network.h"

namespace fastmlp {

namespace {

// Rows per chunk: the output layer's and δ's chunks stay in a core's L2 cache (measured on the autoencoder: 128
// rows 61 ms, 256 and 512 rows 57 ms).
constexpr int kChunkRows = 256;

}  // namespace

// One thread's chunk buffers for chunks of `rows` rows, from offset `at` of the workspace: output, two δ, targets,
// δ sums, unit gradient, partial sums, gradient. Fills r when given; returns the offset after them (ensure_capacity
// sizes the workspace with it, r null).
template <typename T>
std::ptrdiff_t Network<T>::chunk_buffers(std::ptrdiff_t at, std::ptrdiff_t rows, Rows* r) {
    const std::ptrdiff_t width = layout_.max_width(), k = layout_.sizes[layout_.n_layers];
    auto take = [&](std::ptrdiff_t count) {
        T* part = r ? work_.data() + at : nullptr;
        at += whole_cache_lines<T>(count);
        return part;
    };
    T* output = take(rows * k);
    T* delta0 = take(rows * width);
    T* delta1 = take(rows * width);
    T* targets = take(rows * k);
    T* delta_sums = take(width);
    T* unit_grad = take(width);
    T* sums = take(width);
    T* grads = take(layout_.size);
    if (r) {
        r->output = output;
        r->deltas[0] = delta0;
        r->deltas[1] = delta1;
        r->targets = targets;
        r->delta_sums = delta_sums;
        r->unit_grad = unit_grad;
        r->sums = {sums, 1, whole_cache_lines<T>(width)};
        r->grads = grads;
    }
    return at;
}

// Thread id's buffers for rows [first, first + n) of the batch (n <= chunk rows).
template <typename T>
typename Network<T>::Rows Network<T>::thread_chunk(int id, int first, int n) {
    Rows r;
    r.first = first;
    r.n = n;
    chunk_buffers(chunk_offset_ + id * chunk_stride_, chunk_capacity_, &r);
    r.products = chunk_products();
    return r;
}

// The products of a batch run in chunks, the hidden layers' forward products over the whole batch included: where
// they can, in fastmlp's own kernels on a CPU where they run wider vectors than the BLAS (gathered_outrun_blas:
// AVX-512 against AVX2 kernels), each thread's block of rows (gemm.cpp's Products::own). Measured on
// the sparse autoencoder's gradient (784-196-784 over 10,000 samples, 2 threads, 3 runs each; the 512-bit kernels
// against OpenBLAS's Haswell kernels, as OPENBLAS_CORETYPE=Haswell left them): 80.3-83.5 ms with every product
// through the BLAS, 72.7-77.8 with the encoder's weight gradient in the own kernels, 65.6-71.8 with its forward
// product too (the other three, at 196 values a row, stay with the BLAS: see gemm.cpp); the final build, in two more
// runs: 81.5-87.3 ms through the BLAS, 70.4-72.9 in the own kernels. A system BLAS keeps them
// all: it threads each product itself, where the own kernels run on the calling thread alone.
template <typename T>
Products Network<T>::chunk_products() const {
    return kGemmPerThread && gathered_outrun_blas() ? Products::own : Products::blas;
}

template <typename T>
bool Network<T>::runs_in_chunks(int n, int threads) const {
    return n >= 2 * kChunkRows * threads;
}

template <typename T>
void Network<T>::ensure_chunk_capacity(int whole_rows, int chunked_rows) {
    ensure_capacity(whole_rows, chunked_rows, kChunkRows);
}

template <typename T>
T Network<T>::loss_and_grad(const T* x, Targets<T> y, int n, bool want_grad, const T* theta, T* grad_out) {
    CallGuard guard(users_, CallGuard::exclusive);
    if (n < 1) throw std::invalid_argument("loss_and_grad: need at least one sample");
    if (!y.dense && !y.labels) throw std::invalid_argument("loss_and_grad: no targets given");
    if (y.labels && config_.output != Activation::softmax)
        throw std::invalid_argument("integer labels need a softmax output");
    const int d = layout_.sizes[0];
    const bool chunks = runs_in_chunks(n, omp_threads());
    // X's NaN/inf: in chunks, each chunk's rows as it starts (read then from cache by its loss and backward
    // products; the forward pass over all rows has run by then, but nothing is kept of it); otherwise, and before
    // theta replaces the parameters (so that a refused call leaves them as they were), all rows first.
    if (theta || !chunks) check_rows_finite(x, 0, n, d);
    if (theta && theta != params_.data()) std::copy(theta, theta + layout_.size, params_.begin());
    T loss;
    if (chunks) {
        ensure_chunk_capacity(0, n);
        FlushSubnormals flush(true);
        loss = chunked_loss_and_grad(x, y, 0, n, want_grad, !theta);
    } else {
        ensure_capacity(n);
        FlushSubnormals flush(loops_fork(n));
        const Rows all = whole_batch(n);
        const T* yd = dense_targets(y, nullptr, 0, n, all.targets);
        forward_layers(all, x, 0, layout_.n_layers - 1, output_form(want_grad), sparse());
        loss = add_penalties(output_loss(all, yd, want_grad), n);
        if (want_grad) {
            backward(all, x, grads_.data(), T(1), false);
            add_weight_decay_gradient();
        }
    }
    if (want_grad && grad_out && grad_out != grads_.data()) std::copy(grads_.begin(), grads_.end(), grad_out);
    return loss;
}

template <typename T>
T Network<T>::chunked_loss_and_grad(const T* x, Targets<T> y, std::ptrdiff_t first_row, int n, bool want_grad,
                                    bool check_x) {
    const int L = layout_.n_layers, d = layout_.sizes[0];
    x += first_row * d;
    Rows hidden;  // the whole batch's hidden layers: forward_layers reads nothing else of it below the output
    hidden.n = n;
    hidden.sums = thread_sums();
    hidden.products = chunk_products();
    forward_layers(hidden, x, 0, L - 2, OutputForm::activations, sparse());
    const T penalties = add_penalties(T(0), n);  // also turns the sparsity sums into the means backward reads

    // At most one thread per chunk buffer laid out (set_num_threads may have raised the count since), and one
    // thread in all with a system BLAS, which threads each product itself.
    constexpr int kMaxThreads = 64;
    const int threads = kGemmPerThread ? std::min({omp_threads(), thread_capacity_, kMaxThreads}) : 1;
    double data_loss[kMaxThreads] = {};  // Σ over each thread's chunks of (chunk mean loss)·(chunk rows)
    std::exception_ptr errors[kMaxThreads];
    const int used = on_team(threads, true, [&](int id, int team) {  // each in the caller's float mode (on_team)
        int begin, end;
        team_share(n, id, team, begin, end);
        try {
            T* grads = thread_chunk(id, 0, 0).grads;
            if (want_grad) std::fill(grads, grads + layout_.size, T(0));
            for (int first = begin; first < end; first += kChunkRows) {
                const Rows chunk = thread_chunk(id, first, std::min(kChunkRows, end - first));
                const T* xc = x + std::ptrdiff_t(first) * d;
                if (check_x && !all_finite_part(xc, 0, std::ptrdiff_t(chunk.n) * d)) {
                    const std::ptrdiff_t row = lowest_non_finite_row(x, first, first + chunk.n, d);
                    throw NonFiniteInput(row < 0 ? row : first_row + row);  // rows of all of x
                }
                forward_layers(chunk, xc, L - 1, L - 1, output_form(want_grad));
                const T* yc = dense_targets(y, nullptr, first_row + first, chunk.n, chunk.targets);
                data_loss[id] += double(output_loss(chunk, yc, want_grad)) * chunk.n;
                // The chunk's δ are those of its own mean loss; its share of the batch's mean is n_chunk / n.
                if (want_grad) backward(chunk, xc, grads, T(chunk.n) / T(n), true);
            }
        } catch (...) {
            errors[id] = std::current_exception();
        }
    });
    for (int id = 0; id < used; ++id)  // the first rows' error, whichever thread met its own first
        if (errors[id]) std::rethrow_exception(errors[id]);
    double total = 0;
    for (int id = 0; id < used; ++id) total += data_loss[id];
    if (want_grad) {
        // grads = Σ_id thread id's buffer, added in thread order (the same sums on every run with this many
        // threads); the threads split the parameters.
        on_team(used, layout_.size > kParallelMinElements, [&](int id, int team) {
            std::ptrdiff_t begin, end;
            team_share(layout_.size, id, team, begin, end);
            const T* first_buffer = thread_chunk(0, 0, 0).grads;
            std::copy(first_buffer + begin, first_buffer + end, grads_.data() + begin);
            for (int other = 1; other < used; ++other)
                add_into(grads_.data() + begin, thread_chunk(other, 0, 0).grads + begin, end - begin);
        });
        add_weight_decay_gradient();
    }
    return T(total / n) + penalties;
}

template float Network<float>::loss_and_grad(const float*, Targets<float>, int, bool, const float*, float*);
template double Network<double>::loss_and_grad(const double*, Targets<double>, int, bool, const double*,
                                                double*);
template float Network<float>::chunked_loss_and_grad(const float*, Targets<float>, std::ptrdiff_t, int, bool, bool);
template double Network<double>::chunked_loss_and_grad(const double*, Targets<double>, std::ptrdiff_t, int, bool,
                                                      bool);
template std::ptrdiff_t Network<float>::chunk_buffers(std::ptrdiff_t, std::ptrdiff_t, Rows*);
template std::ptrdiff_t Network<double>::chunk_buffers(std::ptrdiff_t, std::ptrdiff_t, Rows*);
template Network<float>::Rows Network<float>::thread_chunk(int, int, int);
template Network<double>::Rows Network<double>::thread_chunk(int, int, int);
template Products Network<float>::chunk_products() const;
template Products Network<double>::chunk_products() const;
template bool Network<float>::runs_in_chunks(int, int) const;
template bool Network<double>::runs_in_chunks(int, int) const;
template void Network<float>::ensure_chunk_capacity(int, int);
template void Network<double>::ensure_chunk_capacity(int, int);

}  // namespace fastmlp
