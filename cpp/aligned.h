// Cache-line aligned vectors for the buffers whose parts different threads write at the same time (a GEMM's
// output split between threads, the per-thread partial sums). From malloc a buffer starts wherever the heap is
// (16-byte aligned), so the line where one thread's part ends and the next one's begins could be shared, and its
// ownership would then bounce between the cores on every write.
#pragma once
#include <cstddef>
#include <new>
#include <vector>

namespace fastmlp {

constexpr std::size_t kCacheLine = 64;

template <typename T>
struct CacheLineAllocator {
    using value_type = T;
    CacheLineAllocator() = default;
    template <typename U>
    CacheLineAllocator(const CacheLineAllocator<U>&) {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kCacheLine))); }
    void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(kCacheLine)); }
    template <typename U>
    bool operator==(const CacheLineAllocator<U>&) const { return true; }
    template <typename U>
    bool operator!=(const CacheLineAllocator<U>&) const { return false; }
};

template <typename T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

// n rounded up to a whole number of cache lines of T.
template <typename T>
constexpr std::ptrdiff_t whole_cache_lines(std::ptrdiff_t n) {
    constexpr std::ptrdiff_t per_line = kCacheLine / sizeof(T);
    return (n + per_line - 1) / per_line * per_line;
}

}  // namespace fastmlp
