// Registers the single-kernel entry points (used by the parity tests against reference.py).
#pragma once
#include <pybind11/pybind11.h>

void bind_kernels(pybind11::module_& m);
