// Single-kernel entry points, one overload per dtype, so every native kernel can be checked against its
// NumPy twin in reference.py. Arguments are never converted: a wrong dtype is a TypeError, not a copy.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <optional>
#include <vector>

#include "dense.h"
#include "gathered_products.h"
#include "binding_checks.h"
#include "kernels_api.h"
#include "losses.h"
#include "optimizers.h"
#include "shuffle.h"
#include "sparse_kl.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {

template <typename T>
int rows(const Array<T>& a) { return a.ndim() == 2 ? int(a.shape(0)) : 0; }
template <typename T>
int cols(const Array<T>& a) { return a.ndim() == 2 ? int(a.shape(1)) : 0; }

template <typename T>
void require_2d(const Array<T>& a, const char* name) {
    require_aligned(a, name);
    if (a.ndim() != 2 || a.shape(0) < 1 || a.shape(1) < 1)
        throw py::value_error(std::string(name) + " must be a non-empty 2-D array");
    // the kernels take int sizes (a view of a few bytes may still be that large: np.empty allocates lazily)
    if (a.shape(0) > std::numeric_limits<int>::max() || a.shape(1) > std::numeric_limits<int>::max())
        throw py::value_error(std::string(name) + " has more than 2**31 - 1 rows or columns");
}

template <typename T>
void require_same(const Array<T>& a, const Array<T>& b, const char* na, const char* nb) {
    require_2d(a, na);
    require_2d(b, nb);
    if (a.shape(0) != b.shape(0) || a.shape(1) != b.shape(1))
        throw py::value_error(std::string(na) + " and " + nb + " must have the same shape");
}

template <typename T>
Array<T> like(const Array<T>& a) {
    return Array<T>(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
}

template <typename T>
void require_flat(const Array<T>& a, py::ssize_t n, const char* name) {
    require_aligned(a, name);
    if (a.ndim() != 1 || a.shape(0) != n)
        throw py::value_error(std::string(name) + " must be 1-D of length " + std::to_string(n));
}

// A kernel's column sums (k) to return, and the per-thread scratch it sums them in (see ThreadSums).
template <typename T>
struct ColumnSums {
    explicit ColumnSums(int k)
        : sums(std::vector<py::ssize_t>{k}), threads(omp_threads()), scratch(std::size_t(threads) * k), k(k) {}
    T* out() { return sums.mutable_data(); }
    ThreadSums<T> thread_sums() { return {scratch.data(), threads, k}; }

    Array<T> sums;
    int threads;
    std::vector<T> scratch;
    int k;
};

// The rows of X a gathered kernel reads: all of them in order (rows None) or rows[t], each in [0, rows(X)). The
// indices are checked, then copied, so that no array passed alongside (an update's W, say) can change them under
// the kernel.
using RowIndex = py::array_t<std::int64_t, py::array::c_style>;
template <typename T>
GatheredRows<T> gathered_rows(const Array<T>& x, const std::optional<RowIndex>& index, std::vector<std::int64_t>& copy,
                              int& m) {
    require_2d(x, "X");
    if (!index) {
        m = rows(x);
        return {x.data(), nullptr, cols(x)};
    }
    if (index->ndim() != 1 || index->shape(0) < 1 || index->shape(0) > std::numeric_limits<int>::max())
        throw py::value_error("rows must be a non-empty 1-D array of row indices");
    copy.assign(index->data(), index->data() + index->shape(0));
    for (std::size_t t = 0; t < copy.size(); ++t)
        if (copy[t] < 0 || copy[t] >= x.shape(0))
            throw py::value_error("rows[" + std::to_string(t) + "] = " + std::to_string(copy[t]) +
                                  " is not a row of X (0.." + std::to_string(x.shape(0) - 1) + ")");
    m = int(copy.size());
    return {x.data(), copy.data(), cols(x)};
}

// The vector width a gathered kernel is asked to run in: None for the widest this CPU has (what the split step
// uses), or 32 or 64 bytes where the CPU has them, so that the tests reach both widths on one machine.
inline int gathered_vector_width(const std::optional<int>& requested) {
    const int widest = gathered_vector_bytes();
    if (!requested) return widest;
    if (*requested != 32 && *requested != 64)
        throw py::value_error("vector_bytes must be None, 32 or 64, not " + std::to_string(*requested));
    if (*requested > widest)
        throw py::value_error("vector_bytes=" + std::to_string(*requested) + ": this CPU (or build) has vectors of " +
                              std::to_string(widest) + " bytes at most");
    return *requested;
}

// Whether two arrays share any byte: an in-place update must not read what it writes.
template <typename T>
bool overlap(const Array<T>& a, const Array<T>& b) {
    const auto a0 = reinterpret_cast<std::uintptr_t>(a.data()), b0 = reinterpret_cast<std::uintptr_t>(b.data());
    return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

template <typename T>
void bind_for(py::module_& m) {
    auto nc = [](const char* name) { return py::arg(name).noconvert(); };
    // Whole-array scans at the Python boundary, with the GIL released.
    const auto scan = [&](const char* name, bool (*holds)(const T*, std::ptrdiff_t)) {
        m.def(name, [holds](const Array<T>& values) {
            require_aligned(values, "values");
            const T* data = values.data();
            const std::ptrdiff_t count = values.size();
            py::gil_scoped_release release;
            return holds(data, count);
        }, nc("values"));
    };
    scan("all_finite", &all_finite<T>);
    scan("all_in_unit_interval", &all_in_unit_interval<T>);
    m.def("activation_forward", [](const Array<T>& z, const std::string& act, bool with_sums) -> py::object {
        require_2d(z, "Z");
        auto out = like(z);
        ColumnSums<T> sums(cols(z));
        bias_activation_forward(out.mutable_data(), z.data(), static_cast<const T*>(nullptr), rows(z), cols(z),
                                parse_activation(act), with_sums ? sums.out() : nullptr, sums.thread_sums());
        if (with_sums) return py::make_tuple(out, sums.sums);
        return std::move(out);
    }, nc("Z"), py::arg("activation"), py::arg("with_sums") = false);
    m.def("activation_backward", [](const Array<T>& da, const Array<T>& a, const std::string& act,
                                    std::optional<Array<T>> per_unit, bool with_sums) -> py::object {
        require_same(da, a, "dA", "A");
        if (per_unit) require_flat(*per_unit, a.shape(1), "per_unit_grad");
        auto out = like(da);
        ColumnSums<T> sums(cols(a));
        activation_backward(out.mutable_data(), da.data(), a.data(), per_unit ? per_unit->data() : nullptr, rows(a),
                            cols(a), parse_activation(act), with_sums ? sums.out() : nullptr, sums.thread_sums());
        if (with_sums) return py::make_tuple(out, sums.sums);
        return std::move(out);
    }, nc("dA"), nc("A"), py::arg("activation"), py::arg("per_unit_grad").noconvert() = py::none(),
       py::arg("with_sums") = false);
    m.def("softmax_forward", [](const Array<T>& z) {
        require_2d(z, "Z");
        auto out = like(z);
        bias_activation_forward(out.mutable_data(), z.data(), static_cast<const T*>(nullptr), rows(z), cols(z),
                                Activation::softmax);
        return out;
    }, nc("Z"));
    m.def("softmax_backward", [](const Array<T>& dy, const Array<T>& y) {
        require_same(dy, y, "dYhat", "Yhat");
        auto out = like(dy);
        softmax_backward(out.mutable_data(), dy.data(), y.data(), rows(y), cols(y));
        return out;
    }, nc("dYhat"), nc("Yhat"));
    // own_kernels: the products the own kernels compute run in them (Products::own, as a chunk's products where those
    // kernels outrun the BLAS: full_batch.cpp), in the widest vectors this CPU has; a system BLAS runs them all.
    m.def("dense_forward", [](const Array<T>& x, const Array<T>& w, const Array<T>& b, const std::string& act,
                              bool transposed, bool own_kernels) {
        require_2d(x, "X");
        require_2d(w, "W");
        const int n_in = transposed ? rows(w) : cols(w), n_out = transposed ? cols(w) : rows(w);
        if (cols(x) != n_in) throw py::value_error("X columns must match W's input size");
        require_flat(b, n_out, "b");
        Array<T> out({py::ssize_t(rows(x)), py::ssize_t(n_out)});
        dense_forward(out.mutable_data(), x.data(), w.data(), b.data(), rows(x), n_in, n_out, parse_activation(act),
                      transposed, static_cast<T*>(nullptr), ThreadSums<T>{},
                      own_kernels ? Products::own : Products::blas);
        return out;
    }, nc("X"), nc("W"), nc("b"), py::arg("activation"), py::arg("transpose_w") = false,
       py::arg("own_kernels") = false);
    m.def("dense_backward", [](const Array<T>& dz, const Array<T>& x, const Array<T>& w, bool transposed,
                               bool own_kernels) {
        require_2d(dz, "dZ");
        require_2d(x, "X");
        require_2d(w, "W");
        const int n_in = transposed ? rows(w) : cols(w), n_out = transposed ? cols(w) : rows(w);
        if (cols(x) != n_in || cols(dz) != n_out || rows(x) != rows(dz))
            throw py::value_error("dZ (n, n_out), X (n, n_in) and W do not fit together");
        auto dw = like(w);
        Array<T> db(std::vector<py::ssize_t>{n_out}), dx(std::vector<py::ssize_t>{rows(x), n_in});
        dense_backward(dx.mutable_data(), dw.mutable_data(), db.mutable_data(), dz.data(), x.data(), w.data(), rows(x),
                       n_in, n_out, transposed, false, T(1), false, static_cast<const T*>(nullptr),
                       own_kernels ? Products::own : Products::blas);
        return py::make_tuple(dw, db, dx);
    }, nc("dZ"), nc("X"), nc("W"), py::arg("transpose_w") = false, py::arg("own_kernels") = false);
    m.def("gathered_dense_forward", [](const Array<T>& x, const std::optional<RowIndex>& index, const Array<T>& w,
                                       std::optional<int> vector_bytes) {
        const int bytes = gathered_vector_width(vector_bytes);
        int m = 0;
        std::vector<std::int64_t> index_copy;
        const GatheredRows<T> xr = gathered_rows(x, index, index_copy, m);
        require_2d(w, "W");
        if (cols(w) != cols(x)) throw py::value_error("W (h, d) must have as many columns as X (n, d)");
        Array<T> z({py::ssize_t(m), py::ssize_t(rows(w))});
        gathered_dense_forward(z.mutable_data(), xr, w.data(), m, rows(w), rows(w), cols(w), bytes);
        return z;
    }, nc("X"), py::arg("rows").noconvert(), nc("W"), py::arg("vector_bytes") = py::none());
    m.def("gathered_weight_update", [](Array<T>& w, const Array<T>& delta, const Array<T>& x,
                                       const std::optional<RowIndex>& index, double alpha,
                                       std::optional<int> vector_bytes) {
        const int bytes = gathered_vector_width(vector_bytes);
        int m = 0;
        std::vector<std::int64_t> index_copy;
        const GatheredRows<T> xr = gathered_rows(x, index, index_copy, m);
        require_2d(w, "W");
        require_2d(delta, "delta");
        if (cols(w) != cols(x) || rows(delta) != m || cols(delta) != rows(w))
            throw py::value_error("W (h, d), delta (m, h) and X[rows] (m, d) do not fit together");
        if (overlap(w, x) || overlap(w, delta)) throw py::value_error("W must not share memory with X or delta");
        gathered_weight_update(w.mutable_data(), delta.data(), xr, T(alpha), m, rows(w), cols(w), cols(delta), bytes);
    }, nc("W"), nc("delta"), nc("X"), py::arg("rows").noconvert(), py::arg("alpha"),
       py::arg("vector_bytes") = py::none());
    m.def("softmax_cross_entropy_forward", [](const Array<T>& z, const Array<T>& y) {
        require_same(z, y, "Z", "Y");
        auto probs = like(z);
        T loss = softmax_cross_entropy_forward(probs.mutable_data(), z.data(), y.data(), rows(z), cols(z));
        return py::make_tuple(loss, probs);
    }, nc("Z"), nc("Y"));
    m.def("sigmoid_binary_cross_entropy_forward", [](const Array<T>& z, const Array<T>& y) {
        require_same(z, y, "Z", "Y");
        auto probs = like(z);
        T loss = sigmoid_binary_cross_entropy_forward(probs.mutable_data(), z.data(), y.data(), rows(z), cols(z));
        return py::make_tuple(loss, probs);
    }, nc("Z"), nc("Y"));
    m.def("squared_error_forward", [](const Array<T>& yhat, const Array<T>& y) {
        require_same(yhat, y, "Yhat", "Y");
        return squared_error_forward(yhat.data(), y.data(), rows(y), cols(y));
    }, nc("Yhat"), nc("Y"));
    m.def("squared_error_forward_backward", [](const Array<T>& z, const Array<T>& b, const Array<T>& y,
                                                const std::string& act) {
        require_same(z, y, "Z", "Y");
        require_flat(b, cols(z), "b");
        auto delta = like(z);
        ColumnSums<T> sums(cols(y));
        const T loss = squared_error_forward_backward(delta.mutable_data(), sums.out(), sums.thread_sums(), z.data(),
                                                      b.data(), y.data(), rows(z), cols(z), parse_activation(act));
        return py::make_tuple(loss, delta, sums.sums);
    }, nc("Z"), nc("b"), nc("Y"), py::arg("activation"));
    m.def("output_error_backward", [](const Array<T>& yhat, const Array<T>& y) {
        require_same(yhat, y, "Yhat", "Y");
        auto delta = like(y);
        ColumnSums<T> sums(cols(y));
        output_error_backward(delta.mutable_data(), sums.out(), sums.thread_sums(), yhat.data(), y.data(), rows(y),
                              cols(y));
        return py::make_tuple(delta, sums.sums);
    }, nc("Yhat"), nc("Y"));
    m.def("sparse_kl_penalty_forward", [](const Array<T>& h, double target, double weight) {
        require_2d(h, "H");
        std::vector<T> mean(cols(h));
        return sparse_kl_penalty_forward(mean.data(), h.data(), T(target), T(weight), rows(h), cols(h));
    }, nc("H"), py::arg("target"), py::arg("weight"));
    m.def("sparse_kl_penalty_backward", [](const Array<T>& h, double target, double weight) {
        require_2d(h, "H");
        std::vector<T> mean(cols(h));
        sparse_kl_penalty_forward(mean.data(), h.data(), T(target), T(weight), rows(h), cols(h));
        Array<T> grad(std::vector<py::ssize_t>{cols(h)});
        sparse_kl_penalty_backward(grad.mutable_data(), mean.data(), T(target), T(weight), rows(h), cols(h));
        return grad;
    }, nc("H"), py::arg("target"), py::arg("weight"));
    m.def("weight_decay_forward", [](const Array<T>& w, double decay) {
        require_aligned(w, "W");
        return weight_decay_forward(w.data(), w.size(), T(decay));
    }, nc("W"), py::arg("weight_decay"));
    m.def("weight_decay_backward", [](const Array<T>& w, double decay) {
        require_aligned(w, "W");
        auto g = like(w);
        std::fill(g.mutable_data(), g.mutable_data() + g.size(), T(0));
        weight_decay_backward(g.mutable_data(), w.data(), w.size(), T(decay));
        return g;
    }, nc("W"), py::arg("weight_decay"));
    m.def("sgd_update", [](Array<T>& theta, const Array<T>& g, double lr) {
        require_flat(theta, theta.size(), "theta");
        require_flat(g, theta.size(), "grad");
        sgd_update(theta.mutable_data(), g.data(), theta.size(), T(lr));
    }, nc("theta"), nc("grad"), py::arg("learning_rate"));
    m.def("momentum_update", [](Array<T>& theta, Array<T>& vel, const Array<T>& g, double lr, double mu, bool nesterov) {
        require_flat(theta, theta.size(), "theta");
        require_flat(g, theta.size(), "grad");
        require_flat(vel, theta.size(), "velocity");
        momentum_update(theta.mutable_data(), vel.mutable_data(), g.data(), theta.size(), T(lr), T(mu), nesterov);
    }, nc("theta"), nc("velocity"), nc("grad"), py::arg("learning_rate"), py::arg("momentum"),
       py::arg("nesterov") = false);
    m.def("adam_update", [](Array<T>& theta, Array<T>& mm, Array<T>& vv, const Array<T>& g, double lr, double b1,
                            double b2, double eps, long step) {
        require_flat(theta, theta.size(), "theta");
        for (auto* a : {&mm, &vv}) require_flat(*a, theta.size(), "adam state");
        require_flat(g, theta.size(), "grad");
        if (step < 1) throw py::value_error("step must be >= 1");
        adam_update(theta.mutable_data(), mm.mutable_data(), vv.mutable_data(), g.data(), theta.size(), T(lr), T(b1),
                    T(b2), T(eps), step);
    }, nc("theta"), nc("m"), nc("v"), nc("grad"), py::arg("learning_rate"), py::arg("beta1"), py::arg("beta2"),
       py::arg("eps"), py::arg("step"));
}

}  // namespace

void bind_kernels(py::module_& m) {
    bind_for<float>(m);
    bind_for<double>(m);
    m.def("shuffle_permutation", [](std::int64_t n, std::uint64_t state) {
        if (n < 0) throw py::value_error("n must be >= 0");
        py::array_t<std::int64_t> order(n);
        if (n > 0) shuffle_permutation<std::int64_t>(order.mutable_data(), n, state);
        return py::make_tuple(order, state);
    }, py::arg("n"), py::arg("state"));
}
