// What both binding files share: the array type they accept and the alignment check on incoming arrays.
#pragma once
#include <pybind11/numpy.h>

#include <string>

// C-contiguous arrays of T; arguments are declared noconvert, so a wrong dtype is a TypeError, not a copy.
template <typename T>
using Array = pybind11::array_t<T, pybind11::array::c_style>;

// NumPy's NPY_ARRAY_ALIGNED flag: a misaligned buffer (np.frombuffer at an odd offset) is no valid T*.
constexpr int kNumpyAligned = 0x0100;

inline void require_aligned(const pybind11::array& a, const char* name) {
    if (!(a.flags() & kNumpyAligned))
        throw pybind11::value_error(std::string(name) + " is not aligned for its dtype; pass np.require(a, requirements='A')");
}
