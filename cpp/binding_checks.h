// What both binding files check on incoming NumPy arrays.
#pragma once

// NumPy's NPY_ARRAY_ALIGNED flag: a misaligned buffer (np.frombuffer at an odd offset) is no valid T*.
constexpr int kNumpyAligned = 0x0100;
