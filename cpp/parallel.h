// OpenMP helpers for the element-wise loops and the chunk teams (never around a BLAS call that threads itself:
// inside a team, gemm makes one single-threaded call of the vendored OpenBLAS on the calling thread).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "float_mode.h"
#ifdef _OPENMP
#include <omp.h>
#endif

// Element-wise kernels are compiled three times — for AVX-512 (x86-64-v4), AVX2+FMA (x86-64-v3) and any x86-64 —
// and the dynamic loader picks the best the CPU has (GCC function multiversioning through an ifunc). The package
// builds without -march, so that it runs on any x86-64, yet its loops run 16 floats wide where the CPU allows:
// measured on an AVX-512 machine, bias + sigmoid over 256×1024 floats took 1,063 µs at the baseline and 154 µs
// with AVX-512. GCC 12 or newer on x86-64 Linux (glibc ifuncs) only; elsewhere the kernels are compiled once.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && \
    !defined(FASTMLP_NO_SIMD_CLONES)
#define FASTMLP_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define FASTMLP_HAS_SIMD_CLONES 1
#else
#define FASTMLP_SIMD_CLONES
#endif

namespace fastmlp {

// Element-wise loops only fork past this many elements: below it the fork/join (a few microseconds with the
// pool already awake, since BLAS jobs run on it too) costs more than the loop.
constexpr std::ptrdiff_t kParallelMinElements = 1 << 14;

// Threads for an element-wise loop: what set_num_threads configured, in whichever thread calls (OpenMP's own
// omp_set_num_threads only changes the calling thread's setting, and Python threads are separate callers).
int omp_threads();

// Thread id's share [begin, end) of count items in a team of `team` threads.
template <typename Index>
inline void team_share(Index count, int id, int team, Index& begin, Index& end) {
    const Index chunk = (count + team - 1) / team;
    begin = id * chunk < count ? id * chunk : count;
    end = begin + chunk < count ? begin + chunk : count;
}

// Calls part(id, team) once for each thread id of a team of `threads` OpenMP threads when fork is true and the
// caller is not inside a region already; else part(0, 1) on the calling thread. So a kernel called from inside a
// team (a chunk of full_batch.cpp) runs whole on its caller's thread: a nested region would only add a team of
// one, which libgomp allocates anew on every call. part is a small lambda that calls a FASTMLP_SIMD_CLONES
// function with (id, team): the loop lives there, compiled for each instruction set (a lambda is not cloned).
// Every thread runs its part in the caller's floating-point mode (float_mode.h), whatever its own. Returns the
// team's size, which OpenMP may make smaller than asked.
template <typename Part>
inline int on_team(int threads, bool fork, Part&& part) {
#ifdef _OPENMP
    if (fork && threads > 1 && omp_get_level() == 0) {
        const unsigned caller_mode = read_float_mode();
        int team = 1;
#pragma omp parallel num_threads(threads)
        {
            InCallerFloatMode mode(caller_mode);
            const int id = omp_get_thread_num();
            if (id == 0) team = omp_get_num_threads();
            part(id, omp_get_num_threads());
        }
        return team;
    }
#else
    (void)threads;
    (void)fork;
#endif
    part(0, 1);
    return 1;
}

// Calls part(begin, end) on each thread's block of [0, count), forking only past kParallelMinElements (on_team).
template <typename Part>
inline void on_blocks(std::ptrdiff_t count, Part&& part) {
    on_team(omp_threads(), count > kParallelMinElements, [&](int id, int team) {
        std::ptrdiff_t begin, end;
        team_share(count, id, team, begin, end);
        part(begin, end);
    });
}

// out[0..count) += in[0..count)
template <typename T>
FASTMLP_SIMD_CLONES void add_into(T* out, const T* in, std::ptrdiff_t count) {
    for (std::ptrdiff_t i = 0; i < count; ++i) out[i] += in[i];
}

// Thread id's part of column_sums: columns team_share(m, id, team).
template <typename T>
FASTMLP_SIMD_CLONES void column_sums_part(T* out, const T* in, int n, int m, bool accumulate, T scale, int id,
                                          int team) {
    int begin, end;
    team_share(m, id, team, begin, end);
    if (!accumulate)
        for (int j = begin; j < end; ++j) out[j] = T(0);
    for (int t = 0; t < n; ++t) {
        const T* row = in + std::ptrdiff_t(t) * m;
        for (int j = begin; j < end; ++j) out[j] += scale * row[j];
    }
}

// out (m) = scale·Σ_t in[t, :] over in (n, m) (+ out when accumulate). Threads split the columns, each summing
// its own over every row in order, so the result does not depend on the thread count.
template <typename T>
void column_sums(T* out, const T* in, int n, int m, bool accumulate, T scale = T(1)) {
    on_team(omp_threads(), std::ptrdiff_t(n) * m > kParallelMinElements,
            [&](int id, int team) { column_sums_part(out, in, n, m, accumulate, scale, id, team); });
}

// Scratch for column sums that ride along a pass over rows: threads take contiguous blocks of rows (two threads
// each reading every other half-row ran at half the speed: the prefetchers follow whole rows) and sum into their
// own row of data (`rows` rows, `stride` values apart, so that no two threads write one cache line; at most `rows`
// threads run). add_thread_sums then adds those rows in thread order, so the sums are the same on every run with
// the same thread count.
template <typename T>
struct ThreadSums {
    T* data = nullptr;
    int rows = 0;
    std::ptrdiff_t stride = 0;
    T* row(int id) const { return data + id * stride; }
    // Threads for a pass that sums into these rows: what set_num_threads configured, at most `rows`.
    int threads() const {
        if (!data || rows < 1) throw std::invalid_argument("ThreadSums: no scratch rows for the partial sums");
        return omp_threads() < rows ? omp_threads() : rows;
    }
};

// out (k) = Σ_{id < team} sums.row(id)[0..k), in thread order.
template <typename T>
void add_thread_sums(T* out, ThreadSums<T> sums, int team, int k) {
    for (int j = 0; j < k; ++j) out[j] = sums.row(0)[j];
    for (int id = 1; id < team; ++id)
        for (int j = 0; j < k; ++j) out[j] += sums.row(id)[j];
}

// Σ_i term(i) over thread id's share of 0 <= i < count, in double.
template <typename F>
FASTMLP_SIMD_CLONES double partial_sum(std::ptrdiff_t count, F& term, int id, int team) {
    std::ptrdiff_t begin, end;
    team_share(count, id, team, begin, end);
    double sum = 0;
    for (std::ptrdiff_t i = begin; i < end; ++i) sum += term(i);
    return sum;
}

// Σ_i term(i) for 0 <= i < count, in double. Threads sum contiguous blocks and the blocks are added in order,
// so the result is identical on every run with the same thread count. `elements` is how many values the whole
// sum reads (a term may cover a row of many): the loop forks only past kParallelMinElements of them.
template <typename F>
double parallel_sum(std::ptrdiff_t count, F term, std::ptrdiff_t elements = -1) {
    constexpr int kMaxThreads = 64;
    double partial[kMaxThreads] = {};
    const int threads = omp_threads() < kMaxThreads ? omp_threads() : kMaxThreads;
    on_team(threads, (elements < 0 ? count : elements) > kParallelMinElements,
            [&](int id, int team) { partial[id] = partial_sum(count, term, id, team); });
    double total = 0;
    for (double p : partial) total += p;
    return total;
}

// The scans below read each float as an integer of its size and test bits, not values, so that their loops
// vectorise (a float test reduced across a loop would not without -ffast-math).
template <typename T>
using FloatBits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;

template <typename T>
inline FloatBits<T> bits_at(const T* value) {
    FloatBits<T> bits;
    std::memcpy(&bits, value, sizeof bits);
    return bits;
}

// Whether bits are those of NaN or ±inf: every exponent bit set.
template <typename T>
inline bool non_finite_bits(FloatBits<T> bits) {
    constexpr FloatBits<T> exponent = sizeof(T) == 4 ? FloatBits<T>(0x7f800000u) : FloatBits<T>(0x7ff0000000000000ull);
    return (bits & exponent) == exponent;
}

// Whether none of values[begin..end) is NaN or ±inf.
template <typename T>
FASTMLP_SIMD_CLONES bool all_finite_part(const T* values, std::ptrdiff_t begin, std::ptrdiff_t end) {
    unsigned bad = 0;
    for (std::ptrdiff_t i = begin; i < end; ++i) bad |= unsigned(non_finite_bits<T>(bits_at(values + i)));
    return bad == 0;
}

// out[0..count) = values[0..count), returning whether none of them is NaN or ±inf: the gather of a mini-batch's rows
// checks each value on its way through the registers instead of reading the copy again. Copied as bits, so that
// every NaN keeps its payload.
template <typename T>
FASTMLP_SIMD_CLONES bool copy_all_finite(T* out, const T* values, std::ptrdiff_t count) {
    unsigned bad = 0;
    for (std::ptrdiff_t i = 0; i < count; ++i) {
        const FloatBits<T> bits = bits_at(values + i);
        std::memcpy(out + i, &bits, sizeof bits);
        bad |= unsigned(non_finite_bits<T>(bits));
    }
    return bad == 0;
}

// Whether every value of values[begin..end) lies in [0, 1] (the binary cross-entropy's targets are probabilities):
// a number in [+0, 1] has a bit pattern no greater than 1's (non-negative floats order as their bits), −0 has the
// sign bit alone, and a negative number, NaN or ±inf fails (the caller tells those apart on its way to an error
// message).
template <typename T>
FASTMLP_SIMD_CLONES bool all_in_unit_interval_part(const T* values, std::ptrdiff_t begin, std::ptrdiff_t end) {
    using Bits = FloatBits<T>;
    constexpr Bits one = sizeof(T) == 4 ? Bits(0x3f800000u) : Bits(0x3ff0000000000000ull);
    constexpr Bits negative_zero = Bits(1) << (8 * sizeof(T) - 1);
    unsigned bad = 0;
    for (std::ptrdiff_t i = begin; i < end; ++i) {
        const Bits bits = bits_at(values + i);
        bad |= unsigned(bits > one) & unsigned(bits != negative_zero);
    }
    return bad == 0;
}

// Whether part(begin, end) holds on every block of [0, count): one read pass, split across threads (on_blocks),
// allocating nothing.
template <typename Part>
bool every_block(std::ptrdiff_t count, Part&& part) {
    std::atomic<bool> holds{true};
    on_blocks(count, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
        if (!part(begin, end)) holds.store(false, std::memory_order_relaxed);
    });
    return holds.load();
}

// Whether none of values[0..count) is NaN or ±inf (the input check at the Python boundary; np.isfinite(x).all()
// would build a boolean array as large as x first).
template <typename T>
bool all_finite(const T* values, std::ptrdiff_t count) {
    return every_block(count, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
        return all_finite_part(values, begin, end);
    });
}

// Whether all of values[0..count) lie in [0, 1]: one pass where min() and max() would make two.
template <typename T>
bool all_in_unit_interval(const T* values, std::ptrdiff_t count) {
    return every_block(count, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
        return all_in_unit_interval_part(values, begin, end);
    });
}

}  // namespace fastmlp
