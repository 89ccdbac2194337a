// OpenMP helpers for the element-wise loops (never around a BLAS call: OpenBLAS has its own threads).
#pragma once
#include <cstddef>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastmlp {

// Element-wise loops only fork past this many elements: below it the fork/join (a few microseconds with the
// pool already awake, since BLAS jobs run on it too) costs more than the loop.
constexpr std::ptrdiff_t kParallelMinElements = 1 << 14;

// Threads for an element-wise loop: what set_num_threads configured, in whichever thread calls (OpenMP's own
// omp_set_num_threads only changes the calling thread's setting, and Python threads are separate callers).
int omp_threads();

}  // namespace fastmlp
