// pybind11 bindings: array checks, GIL release around the computation, and exception mapping. No logic:
// every computation is a call into the C++ core, which knows nothing of Python.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <memory>

#include "blas.h"
#include "build_info.h"
#include "binding_checks.h"
#include "float_mode.h"
#include "kernels_api.h"
#include "network.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {

// Python called back from inside a native call (a signal handler, a gradient hook) runs in Python's own
// floating-point mode, not in the core's flush-to-zero mode (float_mode.h): NumPy in a hook sees subnormals.
// python_mode is read before the call begins.
class InPython {
   public:
    explicit InPython(unsigned python_mode) : mode_(python_mode) {}

   private:
    InCallerFloatMode mode_;  // first in, last out: the GIL is released before the core's mode comes back
    py::gil_scoped_acquire gil_;
};

// Ctrl-C during a long native call: at most every 50 ms, and whenever forced, take the GIL and let Python run
// its signal handlers. A handler's exception (KeyboardInterrupt) is kept, the core is told to stop (it undoes
// what it must and throws Interrupted), and run() rethrows the handler's exception on the calling thread.
class SignalCheck {
   public:
    std::function<bool(bool)> callback() {
        return [this](bool force) {
            const auto now = std::chrono::steady_clock::now();
            if (!force && now - last_ < std::chrono::milliseconds(50)) return false;
            last_ = now;
            InPython python(python_mode_);
            if (PyErr_CheckSignals() == 0) return false;
            pending_ = std::make_unique<py::error_already_set>();
            return true;
        };
    }
    // Runs work() without the GIL; a stop it was asked for surfaces as the signal handler's exception.
    template <typename Work>
    auto run(Work&& work) {
        try {
            py::gil_scoped_release release;
            return work();
        } catch (const Interrupted&) {
            if (pending_) throw py::error_already_set(*pending_);
            throw;
        }
    }

    unsigned python_mode() const { return python_mode_; }

   private:
    std::unique_ptr<py::error_already_set> pending_;
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
    const unsigned python_mode_ = read_float_mode();  // constructed before the core's call changes it
};

// Shape (and alignment) check for an argument: expected dims, −1 means any size.
template <typename T>
void require_shape(const Array<T>& a, std::initializer_list<py::ssize_t> dims, const char* name) {
    require_aligned(a, name);
    bool ok = a.ndim() == py::ssize_t(dims.size());
    py::ssize_t i = 0;
    for (py::ssize_t want : dims) {
        if (ok && want >= 0 && a.shape(i) != want) ok = false;
        ++i;
    }
    if (!ok) {
        std::string want = "(";
        for (py::ssize_t d : dims) want += (d < 0 ? std::string("*") : std::to_string(d)) + ",";
        want.back() = ')';
        std::string got = "(";
        for (py::ssize_t k = 0; k < a.ndim(); ++k) got += std::to_string(a.shape(k)) + ",";
        if (a.ndim() == 0) got += ")"; else got.back() = ')';
        throw py::value_error(std::string(name) + " must have shape " + want + ", got " + got);
    }
}

// An optional argument of the parameter vector's size (None: null): theta to read or grad_out to write.
template <typename T>
T* flat_parameters(const py::object& obj, std::ptrdiff_t size, const char* name, bool written) {
    if (obj.is_none()) return nullptr;
    if (!py::isinstance<Array<T>>(obj))
        throw py::type_error(std::string(name) + " must be a C-contiguous array of the network's dtype");
    auto a = py::reinterpret_borrow<Array<T>>(obj);
    require_shape(a, {py::ssize_t(size)}, name);
    if (written && !a.writeable()) throw py::value_error(std::string(name) + " must be writable");
    return const_cast<T*>(a.data());
}

template <typename T>
Array<T> new_array(std::initializer_list<py::ssize_t> shape) {
    return Array<T>(std::vector<py::ssize_t>(shape));
}

// A NumPy view of n elements of the network's buffer; the view keeps the network alive.
template <typename T>
py::array_t<T> buffer_view(T* data, py::ssize_t n, py::handle owner) {
    return py::array_t<T>({n}, {py::ssize_t(sizeof(T))}, data, owner);
}

// Targets: a dense float matrix of the network's dtype, or int32 labels.
template <typename T>
Targets<T> as_targets(const py::array& y, py::ssize_t n, int k) {
    Targets<T> out;
    if (py::isinstance<py::array_t<std::int32_t>>(y) && y.ndim() == 1) {
        if (y.shape(0) != n) throw py::value_error("Y has " + std::to_string(y.shape(0)) + " labels for " +
                                                   std::to_string(n) + " samples");
        if (!(y.flags() & py::array::c_style) || !(y.flags() & kNumpyAligned))
            throw py::value_error("labels must be C-contiguous and aligned");
        out.labels = static_cast<const std::int32_t*>(y.data());
        return out;
    }
    if (!py::isinstance<Array<T>>(y) || !(y.flags() & py::array::c_style))
        throw py::type_error("Y must be a C-contiguous array of the network's dtype, or int32 labels");
    require_shape(py::cast<Array<T>>(y), {n, k}, "Y");
    out.dense = static_cast<const T*>(y.data());
    return out;
}

template <typename T>
void bind_network(py::module_& m, const char* name) {
    using Net = Network<T>;
    py::class_<Net>(m, name)
        .def(py::init([](std::vector<int> sizes, const std::string& hidden, const std::string& output,
                         const std::string& loss, double target, double weight, double decay, bool tied,
                         std::uint64_t shuffle_state) {
                 NetworkConfig c;
                 c.layer_sizes = std::move(sizes);
                 c.hidden = parse_activation(hidden);
                 c.output = parse_activation(output);
                 c.loss = parse_loss(loss);
                 c.sparsity_target = target;
                 c.sparsity_weight = weight;
                 c.weight_decay = decay;
                 c.tied_weights = tied;
                 c.shuffle_state = shuffle_state;
                 return std::make_unique<Net>(c);
             }),
             py::arg("layer_sizes"), py::arg("hidden"), py::arg("output"), py::arg("loss"), py::arg("sparsity_target"),
             py::arg("sparsity_weight"), py::arg("weight_decay"), py::arg("tied_weights"), py::arg("shuffle_state"))
        .def_property_readonly("params", [](py::object self) {
            Net& net = self.cast<Net&>();
            return buffer_view(net.params(), net.layout().size, self);
        })
        .def_property_readonly("grads", [](py::object self) {
            Net& net = self.cast<Net&>();
            return buffer_view(net.grads(), net.layout().size, self);
        })
        .def_property_readonly("layout", [](const Net& net) {
            const Layout& l = net.layout();
            py::dict d;
            d["weight_offsets"] = l.weight_offset;
            d["bias_offsets"] = l.bias_offset;
            d["n_weights"] = l.n_weights;
            d["size"] = l.size;
            return d;
        })
        .def_property_readonly("shuffle_state", &Net::shuffle_state)
        .def_property_readonly("workspace_bytes", &Net::workspace_bytes)
        .def("forward", [](Net& net, const Array<T>& x, int layer) {
            const Layout& l = net.layout();
            require_shape(x, {-1, l.sizes[0]}, "X");
            if (layer < 0 || layer >= l.n_layers) throw py::value_error("layer index out of range");
            const py::ssize_t n = x.shape(0);
            auto out = new_array<T>({n, l.sizes[layer + 1]});
            T* o = out.mutable_data();
            const T* xp = x.data();
            SignalCheck signals;
            signals.run([&] { net.forward(o, xp, int(n), layer, signals.callback()); });
            return out;
        }, py::arg("X").noconvert(), py::arg("layer"))
        .def("set_flat", [](Net& net, const py::object& theta) {
            if (theta.is_none()) throw py::type_error("theta must be an array, got None");
            const T* th = flat_parameters<T>(theta, net.layout().size, "theta", false);
            py::gil_scoped_release release;
            net.set_parameters(th);
        }, py::arg("theta"))
        .def("loss_and_grad", [](Net& net, const Array<T>& x, const py::array& y, bool want_grad,
                                 const py::object& theta, const py::object& grad_out) {
            const Layout& l = net.layout();
            require_shape(x, {-1, l.sizes[0]}, "X");
            Targets<T> t = as_targets<T>(y, x.shape(0), l.sizes[l.n_layers]);
            const T* xp = x.data();
            const T* th = flat_parameters<T>(theta, l.size, "theta", false);
            T* go = flat_parameters<T>(grad_out, l.size, "grad_out", true);
            if (go && !want_grad) throw py::value_error("grad_out is only filled with want_grad=True");
            py::gil_scoped_release release;
            return net.loss_and_grad(xp, t, int(x.shape(0)), want_grad, th, go);
        }, py::arg("X").noconvert(), py::arg("Y"), py::arg("want_grad"), py::arg("theta") = py::none(),
           py::arg("grad_out") = py::none())
        .def("train_epoch", [](py::object self, const Array<T>& x, const py::array& y, int batch_size,
                               const std::string& optimizer, double lr, double momentum, bool nesterov, double beta1,
                               double beta2, double eps, bool shuffle, py::object gradient_hook) {
            Net& net = self.cast<Net&>();
            const Layout& l = net.layout();
            require_shape(x, {-1, l.sizes[0]}, "X");
            Targets<T> t = as_targets<T>(y, x.shape(0), l.sizes[l.n_layers]);
            TrainOptions o;
            o.batch_size = batch_size;
            o.optimizer = parse_optimizer(optimizer);
            o.learning_rate = lr;
            o.momentum = momentum;
            o.nesterov = nesterov;
            o.beta1 = beta1;
            o.beta2 = beta2;
            o.eps = eps;
            o.shuffle = shuffle;
            SignalCheck signals;  // checked after every mini-batch, forced after the last one
            // Data-parallel training: the hook (e.g. an MPI allreduce) gets the flat gradient buffer itself,
            // zero-copy, after every backward pass. This is the one mode that takes the GIL once per step.
            std::function<void(T*, std::ptrdiff_t)> reduce;
            py::array_t<T> grads_view;
            if (!gradient_hook.is_none()) {
                grads_view = buffer_view(net.grads(), net.layout().size, self);
                reduce = [&](T*, std::ptrdiff_t) {
                    InPython python(signals.python_mode());
                    gradient_hook(grads_view);
                };
            }
            const T* xp = x.data();
            return signals.run([&] { return net.train_epoch(xp, t, int(x.shape(0)), o, signals.callback(), reduce); });
        }, py::arg("X").noconvert(), py::arg("Y"), py::arg("batch_size"), py::arg("optimizer"),
           py::arg("learning_rate"), py::arg("momentum"), py::arg("nesterov"), py::arg("beta1"), py::arg("beta2"),
           py::arg("eps"), py::arg("shuffle"), py::arg("gradient_hook") = py::none());
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "fastmlp native core (private: use the fastmlp package)";
    share_blas_and_openmp_threads();
    py::register_exception<DivergenceError>(m, "DivergenceError", PyExc_FloatingPointError);
    py::register_exception<Interrupted>(m, "Interrupted", PyExc_KeyboardInterrupt);
    bind_network<float>(m, "NetworkF32");
    bind_network<double>(m, "NetworkF64");
    bind_kernels(m);
    m.def("build_info", &build_info);
    m.def("set_num_threads", &set_num_threads, py::arg("n"));
    m.def("get_num_threads", &get_num_threads);
}
