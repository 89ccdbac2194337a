// NaN/±inf in a batch's input X, checked by the native calls themselves where the rows are read anyway (a mini-batch
// or a chunk of rows at a time, in cache), rather than by a separate pass over all of X before each call.
#pragma once
#include <stdexcept>
#include <string>

#include "parallel.h"

namespace fastmlp {

// Row `row` of X holds a NaN or ±inf (std::invalid_argument: a ValueError in Python); row -1 when the second look
// found none (another thread changed X in between). `after` completes the message with what became of the call's
// state.
struct NonFiniteInput : std::invalid_argument {
    NonFiniteInput(std::ptrdiff_t row, const std::string& after = "")
        : std::invalid_argument("X contains NaN or infinity (" +
                                (row >= 0 ? "row " + std::to_string(row) : std::string("X changed while read")) +
                                ")" + after),
          row(row) {}
    std::ptrdiff_t row;
};

// The lowest of rows [begin, end) of x (rows of d values) holding a NaN or ±inf, or -1. Only on the way to an error
// message.
template <typename T>
std::ptrdiff_t lowest_non_finite_row(const T* x, std::ptrdiff_t begin, std::ptrdiff_t end, int d) {
    for (std::ptrdiff_t row = begin; row < end; ++row)
        if (!all_finite_part(x + row * d, 0, d)) return row;
    return -1;
}

// Throws NonFiniteInput for rows [begin, end) of x (n × d) unless all are finite: one pass, on the team if large.
template <typename T>
void check_rows_finite(const T* x, std::ptrdiff_t begin, std::ptrdiff_t end, int d) {
    if (!all_finite(x + begin * d, (end - begin) * d)) throw NonFiniteInput(lowest_non_finite_row(x, begin, end, d));
}

}  // namespace fastmlp
