// The plain-SGD step of a one-hidden-layer network on a small mini-batch (or a wide layer's, up to 512 rows: see
// kWideUnits; or, where its own kernels outrun the BLAS, any of up to 1024 rows read in place: see
// kGatheredWideMaxRows), on one OpenMP team whose threads each own a block of hidden units: rows of W1 and b1, columns
// of W2.
// Why: at 784-64-10 and batch 32 the products are too small to split well one by one. Each split product forks and
// joins, and between them the output layer, the loss and the small products ran on one thread while the others
// waited (perf, 2 threads: one thread idle a third of the time; 2 threads only 1.5x faster than 1). Owning units, a
// thread runs its whole share of the step on its own: its rows of W1 stay in its core's cache from the forward
// product to the update, and only the output layer needs the others, as a sum of the threads' partial products
// Z2 = Σ_threads A1[:, own]·W2[:, own]ᵀ. One fork and two barriers per step, no gradient to add up across threads,
// and no line of the workspace written by one core and read by another but the small partial products and δ2.
// A small mini-batch's rows are not even copied: the hidden layer's two products read them where they lie in X.
// train_epoch takes this path where it is faster (unit_split_team).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>

#include "blas.h"
#include "finite_input.h"
#include "gathered_products.h"
#include "network.h"

namespace fastmlp {

namespace {

// Hidden units are handed out in blocks of this many: the BLAS kernels' register tiles are 8–32 wide.
constexpr int kUnitBlock = 16;

// Mini-batches of up to this many rows take the split step (more below: wide layers, and batches read in place).
// Measured on 2 cores (AMD EPYC VM, OpenBLAS Haswell kernels), epoch time split products ÷ split step, alternating
// in one process: batch 16, H 1024: 1.07; batch 32, H 32/64/128/256: 1.08/1.07/1.11/1.04; batch 64, H 64/128/256:
// 1.06/1.03/1.02; batch 128, H 64/256/1024: 0.97/1.00/1.01; batch 256, H 1024: 1.01; batch 512, H 1024: 0.98.
constexpr int kUnitSplitMaxRows = 64;
// Larger ones take it too when each thread owns at least kWideUnits hidden units, up to kWideMaxRows rows. Its
// products are then large enough to pay for a thread's private copy of the batch, and the step keeps each thread's
// activations and deltas in its own core's cache, where the split products pass them between cores at every pass.
// Measured once the next batch's prefetch really ran (076b437), same VM, median epoch time split products ÷ split
// step over alternating processes (2 threads): batch 128, H 1024: 0.98–1.09 (7 pairs); batch 256, H 1024: 0.96–1.04
// while the machine was in its fast state (10 pairs), 1.06–1.13 in its slow one (8 pairs); batch 512, H 1024:
// 1.04–1.08 (7 pairs); batch 1024, H 1024: 0.94–0.97 (3 pairs); batch 128, H 64 (32 units a thread): 0.82–0.86.
constexpr int kWideUnits = 256;
constexpr int kWideMaxRows = 512;

// Steps of up to this many rows read them where they lie, with the gathered products (gathered_products.h). The kernels
// run on blocks of the thread's units whose rows of W1 take at most kGatheredBlockBytes (gathered_products.h), so that
// a block stays in the core's L2 cache (1 MiB here) while every row of the batch passes through it. Measured on the
// 2-core AMD EPYC VM (float32, shuffled), median epoch time over alternating processes, gathered products ÷ gather +
// BLAS. Where the kernels' vectors are no wider than the BLAS's (kGatheredMaxRows; measured in 256-bit vectors against
// OpenBLAS's Haswell kernels), and only while a thread's rows of W1 take at most kGatheredMaxWeightBytes (so: in one
// block): batch 32, H 64: 0.84–0.89 (3 pairs); batch 32, H 256 (392 KiB a thread): 0.83–0.84; batch 16, H 64:
// 0.86–0.94; but batch 32, H 1024 (1.53 MiB a thread, unblocked): 0.99–1.18; batch 64, H 256: 1.11–1.14; batch 64, H
// 1024: 1.16–1.20. float64, batch 32, H 64: 0.90–0.93. In-order batches (no gather to leave out, only the packing),
// batch 32, H 64: 0.85–0.92 (6 pairs). Where they are wider (gathered_outrun_blas: 512 bits against OpenBLAS's AVX2
// kernels; kGatheredWideMaxRows; 2 runs each, against the step without them, which at batch 128+ and H 256 is the split
// products path): batch 32, H 64: 0.62–0.64; batch 64, H 64: 0.56–0.66; batch 128, H 64: 0.73–0.77; batch 64, H 256:
// 0.64–0.69; batch 128, H 256: 0.63–0.76; batch 256, H 256: 0.68–0.78; batch 512, H 256: 0.63–0.77, H 128: 0.72–0.75;
// batch 1024, H 256: 0.79; batch 2048, H 256: 0.88–0.94 (not taken: not measured enough). float64: batch 32, H 64:
// 0.55–0.57; batch 128, H 64: 0.69; batch 256, H 128: 0.72–0.79. (Then the 512-bit update's tiles went from 4×4 to 6×4
// with the δ broadcast folded: batch 128, H 256 a further 0.83–0.92, batch 32, H 64 0.89–1.03; 3 pairs.) Then in blocks
// of units, at shares of W1 past 512 KiB, against the split step with BLAS products (2–3 runs each, 9–15 epochs; 256
// KiB blocks at H 1024, batch 128 and 256, 512 KiB elsewhere): H 1024 (1.53 MiB a thread), batch 32: 0.54–0.57; 64:
// 0.58–0.59; 128: 0.63–0.73; 256: 0.65–0.73; 512: 0.61–0.81; 1024: 0.81–0.83; H 512, batch 128/256:
// 0.65–0.67/0.70–0.71; H 2048, batch 256: 0.74–0.76; H 4096, batch 128: 0.72–0.76; float64, H 256 (784 KiB a thread),
// batch 128: 0.67–0.77; H 1024, batch 128/256: 0.68–0.86/0.86–0.87. (Block sizes: gathered_products.h.)
constexpr int kGatheredMaxRows = 32;
constexpr int kGatheredWideMaxRows = 1024;
constexpr std::size_t kGatheredMaxWeightBytes = std::size_t(512) << 10;

// The gathered products' row limit in the widest vectors this CPU has.
int gathered_max_rows() { return gathered_outrun_blas() ? kGatheredWideMaxRows : kGatheredMaxRows; }

int unit_blocks(int hidden) { return (hidden + kUnitBlock - 1) / kUnitBlock; }

// Starts rows[first..first+count) of x (rows null: rows first..first+count) on their way into this core's L2.
// The empty asm that takes each row's address is what keeps the loop: GCC 12 judges a function that only
// prefetches free of side effects and deletes its calls, and so it had silently deleted this loop when it sat in a
// lambda of its own (738f066 to 3d6d89e: no prefetch instruction in the built library).
template <typename T>
void prefetch_rows(const T* x, const std::int64_t* rows, std::ptrdiff_t first, int count, int d) {
    for (int t = 0; t < count; ++t) {
        const char* row = reinterpret_cast<const char*>(x + (rows ? rows[first + t] : first + t) * d);
        for (std::size_t byte = 0; byte < sizeof(T) * d; byte += 64) __builtin_prefetch(row + byte, 0, 2);
        __asm__ __volatile__("" : : "r"(row));
    }
}

}  // namespace

template <typename T>
bool Network<T>::unit_split_gathers(int rows, int team) const {
    const int blocks = unit_blocks(layout_.sizes[1]);
    const int h_own_max = std::min(layout_.sizes[1], (blocks + team - 1) / team * kUnitBlock);  // the largest share
    if (rows > gathered_max_rows()) return false;
    return gathered_outrun_blas() ||
           std::size_t(h_own_max) * std::size_t(layout_.sizes[0]) * sizeof(T) <= kGatheredMaxWeightBytes;
}

template <typename T>
int Network<T>::unit_split_team(int batch, int threads) const {
    if (!kGemmPerThread || threads < 2 || layout_.n_layers != 2 || sparse() || layout_.transposed[1]) return 0;
#ifdef _OPENMP
    if (omp_get_level() > 0) return 0;  // inside a caller's region: the step's barriers would bind to its team
#endif
    const int blocks = unit_blocks(layout_.sizes[1]);
    if (blocks < 2) return 0;
    // As many threads as share the blocks with none left idle: 4 blocks on 3 threads go 2 + 2 on 2.
    const int per_thread = (blocks + threads - 1) / threads;
    const int team = (blocks + per_thread - 1) / per_thread;
    const bool wide = layout_.sizes[1] >= kWideUnits * threads && batch <= kWideMaxRows;
    return batch <= kUnitSplitMaxRows || wide || unit_split_gathers(batch, team) ? team : 0;
}

// W ← W − ρ·∂E/∂W for the rows rows[first..first+m) of x (rows null: x's rows first..first+m) and their dense
// targets y (m, k). Returns false, changing nothing, if those rows of x hold NaN or inf; loss receives the batch's
// mean loss. next_m: the size of the next mini-batch (rows[first+m..], or x's rows from first+m on), whose rows are
// prefetched. Forward: A1 = act(X·W1ᵀ + b1), Z2 = A1·W2ᵀ + b2; backward: δ2 from the loss, δ1 = δ2·W2 ⊙ act'(A1).
template <typename T>
bool Network<T>::unit_split_sgd_step(const T* x, const std::int64_t* rows, std::ptrdiff_t first, int m, const T* y,
                                     int team_size, T learning_rate, T& loss, int next_m) {
    const int d = layout_.sizes[0], h_all = layout_.sizes[1], k = layout_.sizes[2];
    const int blocks = unit_blocks(h_all);
    T* w1 = weight(0);
    T* b1 = bias(0);
    T* w2 = weight(1);
    T* b2 = bias(1);
    const Rows r = whole_batch(m);
    std::atomic<bool> finite{true};
    // No exception may leave the team, and every thread must reach both barriers: the first error is kept, later
    // phases are skipped, and it is rethrown after the team.
    std::exception_ptr error, output_error;
    std::atomic<bool> failed{false}, output_failed{false};
    const auto guarded = [&](auto&& phase) {
        if (failed.load(std::memory_order_relaxed)) return;
        try {
            phase();
        } catch (...) {
            if (!failed.exchange(true)) error = std::current_exception();
        }
    };
    // The next mini-batch's rows start on their way into each core's cache while this step computes: its gather, or
    // its gathered products, then read them from cache, not from memory (a thread's gather in a 784-64-10 step at
    // batch 32: 8.5 -> 5.2 µs, the epoch 3% faster). The threads but the first do it while they wait for the output
    // layer, the first after it (before the first barrier instead, where it often waits too: the epoch 2% slower).
    const auto prefetch_next_batch = [&] { prefetch_rows(x, rows, first + m, next_m, d); };
    on_team(team_size, true, [&](int id, int team) {
        // This thread's hidden units [u0, u1), and its share of the batch rows for the NaN check.
        int block0, block1, row0, row1;
        team_share(blocks, id, team, block0, block1);
        team_share(m, id, team, row0, row1);
        const int u0 = block0 * kUnitBlock, u1 = block1 * kUnitBlock < h_all ? block1 * kUnitBlock : h_all;
        const int h = u1 - u0;
        // Small mini-batches are read where they lie, by the gathered products (see kGatheredMaxRows). Otherwise
        // each thread gathers the whole mini-batch into a copy of its own: a copy shared by the threads would have
        // each core write rows that the other's products had just read, every line a cross-core transfer.
        // Alike on every thread; in place also where the workspace holds no copies (a smaller team than asked for
        // can give each thread more units than the workspace was laid out for).
        const bool gathered = !split_copies_ || unit_split_gathers(m, team);
        T* batch_x = id == 0 ? work_.data() + batch_x_offset_ : split_x(id);
        const T* xb = rows && !gathered ? batch_x : x + first * d;
        const GatheredRows<T> x_rows{rows ? x : xb, rows ? rows + first : nullptr, d};
        bool ok = true;
        for (int t = 0; t < m && !gathered; ++t) {
            const bool check = t >= row0 && t < row1;
            if (rows && check)
                ok &= copy_all_finite(batch_x + std::ptrdiff_t(t) * d, x + rows[first + t] * d, d);
            else if (rows)
                std::memcpy(batch_x + std::ptrdiff_t(t) * d, x + rows[first + t] * d, sizeof(T) * d);
            else if (check)
                ok &= all_finite_part(xb + std::ptrdiff_t(t) * d, 0, d);
        }
        if (!ok) finite.store(false, std::memory_order_relaxed);
        // The thread's activations A1[:, own] and δ1[:, own] are contiguous (m, h) blocks of the layer's buffers.
        T* a1 = act(0) + std::ptrdiff_t(m) * u0;
        T* delta1 = r.deltas[1] + std::ptrdiff_t(m) * u0;
        T* partial = id == 0 ? r.output : split_partial_output(id);
        guarded([&] {
            if (h == 0) {  // a smaller team than asked for can leave a thread without units
                std::fill(partial, partial + std::ptrdiff_t(m) * k, T(0));
                return;
            }
            if (gathered) {
                gathered_dense_forward(a1, x_rows, w1 + std::ptrdiff_t(u0) * d, m, h, h, d);
                // A NaN or ±inf in a row of X makes every product of that row NaN or ±inf (NaN·w, ±inf·0 and
                // inf − inf are NaN, ±inf·w ≠ 0 is ±inf, and adding finite values keeps both), so each thread's
                // own columns show every such row; only those rows are then looked at. (A product can also overflow,
                // or meet a weight that did: the row itself decides.)
                for (int t = 0; t < m; ++t)
                    if (!all_finite_part(a1 + std::ptrdiff_t(t) * h, 0, h) && !all_finite_part(x_rows[t], 0, d))
                        finite.store(false, std::memory_order_relaxed);
            } else {
                blas_gemm(Trans::no, Trans::yes, m, h, d, T(1), xb, d, w1 + std::ptrdiff_t(u0) * d, d, T(0), a1, h);
            }
            bias_activation_forward(a1, a1, b1 + u0, m, h, config_.hidden);
            blas_gemm(Trans::no, Trans::yes, m, k, h, T(1), a1, h, w2 + u0, h_all, T(0), partial, k);
        });
#pragma omp barrier
        // Each decision below reads only what was written before the barrier it follows, so that every thread takes
        // it alike: thread 0's output layer reports to output_failed, read after the second barrier.
        const bool go = finite.load(std::memory_order_relaxed) && !failed.load(std::memory_order_relaxed);
        if (go && id == 0) {  // the output layer on the summed partial products, and b2's update
            try {
                for (int other = 1; other < team; ++other)
                    add_into(r.output, split_partial_output(other), std::ptrdiff_t(m) * k);
                const OutputForm form = output_form(true);
                const T* b2_pass = pass_bias(1, form);  // as forward_layers would apply them after the product
                const Activation output_act = pass_activation(1, form);
                if (b2_pass || output_act != Activation::identity)
                    bias_activation_forward(r.output, r.output, b2_pass, m, k, output_act);
                loss = output_loss(r, y, true);
                for (int j = 0; j < k; ++j) b2[j] -= learning_rate * r.delta_sums[j];
            } catch (...) {
                output_error = std::current_exception();
                output_failed.store(true, std::memory_order_relaxed);
            }
        }
        if (go && id != 0) prefetch_next_batch();  // while thread 0 runs the output layer: it would only wait
#pragma omp barrier
        if (!go || output_failed.load(std::memory_order_relaxed) || h == 0) return;
        if (id == 0) prefetch_next_batch();
        // δ1[:, own] = δ2·W2[:, own] ⊙ act'(A1[:, own]) before W2[:, own] changes; its column sums are b1's gradient.
        guarded([&] {
            const T* delta2 = output_delta(r);
            T* delta1_sums = r.unit_grad + u0;  // free: no sparsity penalty on this path
            blas_gemm(Trans::no, Trans::no, m, h, k, T(1), delta2, k, w2 + u0, h_all, T(0), delta1, h);
            blas_gemm(Trans::yes, Trans::no, k, h, m, -learning_rate, delta2, k, a1, h, T(1), w2 + u0, h_all);
            activation_backward(delta1, delta1, a1, static_cast<const T*>(nullptr), m, h, config_.hidden,
                                delta1_sums, ThreadSums<T>{r.sums.row(id), 1, r.sums.stride});
            for (int j = 0; j < h; ++j) b1[u0 + j] -= learning_rate * delta1_sums[j];
            if (gathered)
                gathered_weight_update(w1 + std::ptrdiff_t(u0) * d, delta1, x_rows, -learning_rate, m, h, d, h);
            else
                blas_gemm(Trans::yes, Trans::no, h, d, m, -learning_rate, delta1, h, xb, d, T(1),
                          w1 + std::ptrdiff_t(u0) * d, d);
        });
    });
    if (error || output_error) std::rethrow_exception(error ? error : output_error);
    return finite.load();
}

template int Network<float>::unit_split_team(int, int) const;
template int Network<double>::unit_split_team(int, int) const;
template bool Network<float>::unit_split_gathers(int, int) const;
template bool Network<double>::unit_split_gathers(int, int) const;
template bool Network<float>::unit_split_sgd_step(const float*, const std::int64_t*, std::ptrdiff_t, int,
                                                  const float*, int, float, float&, int);
template bool Network<double>::unit_split_sgd_step(const double*, const std::int64_t*, std::ptrdiff_t, int,
                                                   const double*, int, double, double&, int);

}  // namespace fastmlp
