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

inline int omp_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace fastmlp
