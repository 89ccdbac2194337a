// The epoch shuffle: Fisher-Yates driven by splitmix64, j = ⌊u·(i+1)/2⁶⁴⌋ (Lemire's multiply, no modulo bias
// worth measuring). Written out rather than std::shuffle so the permutation is the same on every platform and
// reference.py can reproduce it exactly.
#pragma once
#include <cstdint>
#include <numeric>

namespace fastmlp {

inline std::uint64_t splitmix64(std::uint64_t& state) {
    state += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// order (n) = a permutation of 0..n−1 drawn from state (advanced).
template <typename Index>
void shuffle_permutation(Index* order, Index n, std::uint64_t& state) {
    std::iota(order, order + n, Index(0));
    for (Index i = n - 1; i > 0; --i) {
        const std::uint64_t u = splitmix64(state);
        const Index j = Index((static_cast<unsigned __int128>(u) * std::uint64_t(i + 1)) >> 64);
        const Index tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

}  // namespace fastmlp
