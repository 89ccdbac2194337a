// NaN/±inf in a batch's input X, checked by the native calls themselves where the rows are read anyway (a mini-batch
// or a chunk of rows at a time, in cache), rather than by a separate pass over all of X before each call.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "parallel.h"

namespace fastmlp {

// Row `row` of X holds a NaN or ±inf (std::invalid_argument: a ValueError in Python). `after` completes the
// message with what became of the call's state.
struct NonFiniteInput : std::invalid_argument {
    NonFiniteInput(std::ptrdiff_t row, const std::string& after = "")
        : std::invalid_argument("X contains NaN or infinity (row " + std::to_string(row) + ")" + after), row(row) {}
    std::ptrdiff_t row;
};

// The lowest row of x among the batch's (x[rows[t]] for begin <= t < end when rows is given, else x[t]) holding a
// NaN or ±inf, or -1. Only on the way to an error message.
template <typename T>
std::ptrdiff_t lowest_non_finite_row(const T* x, const std::int64_t* rows, std::ptrdiff_t begin, std::ptrdiff_t end,
                                     int d) {
    std::ptrdiff_t lowest = -1;
    for (std::ptrdiff_t t = begin; t < end; ++t) {
        const std::ptrdiff_t row = rows ? std::ptrdiff_t(rows[t]) : t;
        if ((lowest < 0 || row < lowest) && !all_finite_part(x + row * d, 0, d)) lowest = row;
    }
    return lowest;
}

// Throws NonFiniteInput for rows [begin, end) of x (n × d) unless all are finite: one pass, on the team if large.
template <typename T>
void check_rows_finite(const T* x, std::ptrdiff_t begin, std::ptrdiff_t end, int d) {
    const std::int64_t* no_rows = nullptr;  // x's own rows, in order
    if (!all_finite(x + begin * d, (end - begin) * d))
        throw NonFiniteInput(lowest_non_finite_row(x, no_rows, begin, end, d));
}

}  // namespace fastmlp
