// Bindings of lstmcore::Lstm1997<float|double>: argument checks and array marshalling only.
#include <cfloat>
#include <cmath>
#include <memory>

#include "common.hpp"
#include "lstmcore/lstm1997.hpp"
#include "lstmcore/lstm1997_batch.hpp"

namespace lstmcore_py {

using lstmcore::GradientMode;
using lstmcore::Lstm1997;
using lstmcore::Lstm1997Config;
using lstmcore::ParamView;
using lstmcore::UpdateSchedule;

namespace {

std::vector<py::ssize_t> view_shape(const ParamView& v) {
  if (v.cols == 0) return {py::ssize_t(v.rows)};
  return {py::ssize_t(v.rows), py::ssize_t(v.cols)};
}

// ---- the fast path of the public per-sequence methods ---------------------------------------
// Arguments that are already what the core takes pass with one check each (and one finiteness
// pass over the data); anything else makes the fast entry points return None, and the Python
// layer then converts and validates with its full error messages.

// x: an exact ndarray of Scalar, C-contiguous, aligned, (T, n_in) with T >= 0; its T, else -1.
template <typename Scalar>
py::ssize_t fast_rows(py::handle obj, std::size_t cols) {
  const auto& api = py::detail::npy_api::get();
  if (Py_TYPE(obj.ptr()) != api.PyArray_Type_) return -1;
  const auto* a = py::detail::array_proxy(obj.ptr());
  if (a->nd != 2 || a->dimensions[1] != py::ssize_t(cols)) return -1;
  const py::ssize_t shape[2] = {a->dimensions[0], py::ssize_t(cols)};
  return exact_array_data<Scalar>(obj, 2, shape) ? a->dimensions[0] : -1;
}

// mask: None (nullptr, ok) or an exact bool ndarray (T,), C-contiguous; false if anything else.
inline bool fast_mask(py::handle obj, py::ssize_t T, const std::uint8_t*& out) {
  out = nullptr;
  if (obj.is_none()) return true;
  const auto& api = py::detail::npy_api::get();
  if (Py_TYPE(obj.ptr()) != api.PyArray_Type_) return false;
  const auto* a = py::detail::array_proxy(obj.ptr());
  const int need = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  if ((a->flags & need) != need || a->nd != 1 || a->dimensions[0] != T) return false;
  if (py::detail::array_descriptor_proxy(a->descr)->type_num != py::detail::npy_api::NPY_BOOL_) return false;
  out = reinterpret_cast<const std::uint8_t*>(a->data);  // NumPy bools are single bytes 0 / 1
  return true;
}

// lr: a Python float, finite, >= 0 and finite in Scalar; false if anything else.
template <typename Scalar>
bool fast_lr(py::handle obj, Scalar& out) {
  if (!PyFloat_CheckExact(obj.ptr())) return false;
  const double v = PyFloat_AS_DOUBLE(obj.ptr());
  if (!(v >= 0.0) || !std::isfinite(v) || (sizeof(Scalar) == sizeof(float) && v > double(FLT_MAX))) return false;
  out = Scalar(v);
  return true;
}

template <typename Scalar>
class Network {
 public:
  explicit Network(const Lstm1997Config& cfg) : net_(cfg) {}

  const Lstm1997Config& config() const { return net_.config(); }
  std::size_t n_weights() const { return net_.layout().n_weights; }

  // [(name, shape)] in layout order
  py::list param_shapes() const {
    py::list out;
    for (const auto& v : net_.layout().views) out.append(py::make_tuple(v.name, py::tuple(py::cast(view_shape(v)))));
    return out;
  }

  py::dict get_params() const { return to_dict(net_.params()); }

  void set_param(const std::string& name, const CArray<Scalar>& value) {
    BusyGuard guard(busy_);
    const ParamView* v = net_.layout().find(name);
    if (!v) throw py::key_error("unknown parameter " + name);
    require_shape(value, name.c_str(), view_shape(*v));
    std::copy(value.data(), value.data() + v->size(), net_.params() + v->offset);
  }

  CArray<Scalar> forward(const CArray<Scalar>& x) {
    BusyGuard guard(busy_);
    const std::size_t T = check_x(x);
    CArray<Scalar> y({py::ssize_t(T), py::ssize_t(net_.config().n_out)});
    Scalar* yp = y.mutable_data();
    const Scalar* xp = x.data();
    {
      py::gil_scoped_release release;
      net_.forward(xp, T, yp);
    }
    return y;
  }

  py::tuple gradient(const CArray<Scalar>& x, const CArray<Scalar>& target,
                     const std::optional<CArray<std::uint8_t>>& mask, GradientMode mode) {
    BusyGuard guard(busy_);
    const std::size_t T = check_x(x);
    check_target_mask(target, mask, T);
    std::vector<Scalar> grad(net_.layout().total);
    const std::uint8_t* mp = mask ? mask->data() : nullptr;
    double loss;
    {
      py::gil_scoped_release release;
      loss = net_.gradient(x.data(), target.data(), mp, T, mode, grad.data());
    }
    return py::make_tuple(loss, to_dict(grad.data()));
  }

  double train_sequence(const CArray<Scalar>& x, const CArray<Scalar>& target,
                        const std::optional<CArray<std::uint8_t>>& mask, Scalar lr, UpdateSchedule update) {
    BusyGuard guard(busy_);
    const std::size_t T = check_x(x);
    check_target_mask(target, mask, T);
    const std::uint8_t* mp = mask ? mask->data() : nullptr;
    py::gil_scoped_release release;
    return net_.train_sequence(x.data(), target.data(), mp, T, lr, update);
  }

  double train_sequence_full(const CArray<Scalar>& x, const CArray<Scalar>& target,
                             const std::optional<CArray<std::uint8_t>>& mask, Scalar lr) {
    BusyGuard guard(busy_);
    const std::size_t T = check_x(x);
    check_target_mask(target, mask, T);
    const std::uint8_t* mp = mask ? mask->data() : nullptr;
    py::gil_scoped_release release;
    return net_.train_sequence_full(x.data(), target.data(), mp, T, lr);
  }

  // Fast paths of LSTM1997.forward / train_sequence / gradient: None unless every argument is
  // already a C-contiguous array of Scalar with the right shape and finite values.
  py::object forward_fast(py::handle x) {
    const std::size_t K = net_.config().n_out;
    const py::ssize_t T = fast_rows<Scalar>(x, net_.config().n_in);
    if (T < 0) return py::none();
    const Scalar* xp = reinterpret_cast<const Scalar*>(py::detail::array_proxy(x.ptr())->data);
    if (!all_finite(xp, std::size_t(T) * net_.config().n_in)) return py::none();
    BusyGuard guard(busy_);
    const py::ssize_t shape[2] = {T, py::ssize_t(K)};
    py::object y = new_step_array<Scalar>(2, shape);
    Scalar* yp = reinterpret_cast<Scalar*>(py::detail::array_proxy(y.ptr())->data);
    {
      py::gil_scoped_release release;
      net_.forward(xp, std::size_t(T), yp);
    }
    return y;
  }

  py::object train_sequence_fast(py::handle x, py::handle target, py::handle mask, py::handle lr,
                                 UpdateSchedule update) {
    const Scalar *xp, *tp;
    const std::uint8_t* mp;
    Scalar rate;
    const py::ssize_t T = sequence_args(x, target, mask, xp, tp, mp);
    if (T < 0 || !fast_lr(lr, rate)) return py::none();
    BusyGuard guard(busy_);
    double loss;
    {
      py::gil_scoped_release release;
      loss = net_.train_sequence(xp, tp, mp, std::size_t(T), rate, update);
    }
    return py::float_(loss);
  }

  py::object gradient_fast(py::handle x, py::handle target, py::handle mask, GradientMode mode) {
    const Scalar *xp, *tp;
    const std::uint8_t* mp;
    const py::ssize_t T = sequence_args(x, target, mask, xp, tp, mp);
    if (T < 0) return py::none();
    BusyGuard guard(busy_);
    std::vector<Scalar> grad(net_.layout().total);
    double loss;
    {
      py::gil_scoped_release release;
      loss = net_.gradient(xp, tp, mp, std::size_t(T), mode, grad.data());
    }
    return py::make_tuple(loss, to_dict(grad.data()));
  }

  // Packed batches (lstm1997_batch.hpp); the Python layer has validated shapes and offsets.
  // x: [R, n_in], target: [R, n_out], mask: [R] or None, offsets: [n + 1]
  // -> (loss [n], last_abs_error [n] or None)
  py::tuple train_batch(const CArray<Scalar>& x, const CArray<Scalar>& target,
                        const std::optional<CArray<std::uint8_t>>& mask, const CArray<std::int64_t>& offsets,
                        Scalar lr, UpdateSchedule update, bool last_error) {
    BusyGuard guard(busy_);
    const std::size_t n = check_offsets(offsets, x.ndim() == 2 ? x.shape(0) : -1);
    require_shape(x, "x", {offsets.data()[n], py::ssize_t(net_.config().n_in)});
    require_shape(target, "target", {offsets.data()[n], py::ssize_t(net_.config().n_out)});
    if (mask) require_shape(*mask, "mask", {offsets.data()[n]});
    CArray<double> loss({py::ssize_t(n)});
    py::object err = py::none();
    double* ep = nullptr;
    if (last_error) {
      CArray<double> e({py::ssize_t(n)});
      ep = e.mutable_data();
      err = e;
    }
    double* lp = loss.mutable_data();
    const std::uint8_t* mp = mask ? mask->data() : nullptr;
    {
      py::gil_scoped_release release;
      lstmcore::train_batch(net_, x.data(), target.data(), mp, offsets.data(), n, lr, update, lp, ep);
    }
    return py::make_tuple(loss, err);
  }

  // x: [R, n_in], offsets: [n + 1] -> y: [R, n_out]
  CArray<Scalar> forward_batch(const CArray<Scalar>& x, const CArray<std::int64_t>& offsets, int num_threads) {
    BusyGuard guard(busy_);
    const std::size_t n = check_offsets(offsets, x.ndim() == 2 ? x.shape(0) : -1);
    require_shape(x, "x", {offsets.data()[n], py::ssize_t(net_.config().n_in)});
    CArray<Scalar> y({offsets.data()[n], py::ssize_t(net_.config().n_out)});
    Scalar* yp = y.mutable_data();
    {
      py::gil_scoped_release release;
      lstmcore::forward_batch(net_, workers_, x.data(), offsets.data(), n, yp, num_threads);
    }
    return y;
  }

  // Whole flat parameter buffer (layout order, structural zeros included): fast snapshots.
  CArray<Scalar> get_flat() const {
    const std::size_t n = net_.layout().total;
    CArray<Scalar> out({py::ssize_t(n)});
    std::copy(net_.params(), net_.params() + n, out.mutable_data());
    return out;
  }
  void set_flat(const CArray<Scalar>& flat) {
    BusyGuard guard(busy_);
    require_shape(flat, "flat", {py::ssize_t(net_.layout().total)});
    const auto& present = net_.layout().present;
    for (std::size_t i = 0; i < present.size(); ++i)
      if (!present[i] && flat.data()[i] != Scalar(0))
        throw py::value_error("flat: entry " + std::to_string(i) + " is a structural zero and must be 0");
    std::copy(flat.data(), flat.data() + flat.size(), net_.params());
  }

 private:
  py::dict to_dict(const Scalar* buffer) const {
    py::dict out;
    for (const auto& v : net_.layout().views) {
      CArray<Scalar> a(view_shape(v));
      std::copy(buffer + v.offset, buffer + v.offset + v.size(), a.mutable_data());
      out[py::str(v.name)] = a;
    }
    return out;
  }
  std::size_t check_x(const CArray<Scalar>& x) const { return sequence_length(x, net_.config().n_in); }
  void check_target_mask(const CArray<Scalar>& target, const std::optional<CArray<std::uint8_t>>& mask,
                         std::size_t T) const {
    require_target_mask(target, mask, T, net_.config().n_out);
  }

  // x, target, mask of one sequence on the fast path: T, else -1 (see forward_fast)
  py::ssize_t sequence_args(py::handle x, py::handle target, py::handle mask, const Scalar*& xp, const Scalar*& tp,
                            const std::uint8_t*& mp) const {
    const py::ssize_t T = fast_rows<Scalar>(x, net_.config().n_in);
    if (T < 0 || fast_rows<Scalar>(target, net_.config().n_out) != T || !fast_mask(mask, T, mp)) return -1;
    xp = reinterpret_cast<const Scalar*>(py::detail::array_proxy(x.ptr())->data);
    tp = reinterpret_cast<const Scalar*>(py::detail::array_proxy(target.ptr())->data);
    if (!all_finite(xp, std::size_t(T) * net_.config().n_in) || !all_finite(tp, std::size_t(T) * net_.config().n_out))
      return -1;
    return T;
  }
  // offsets [n + 1]: 0 = offsets[0] < offsets[1] < ... < offsets[n] = rows; returns n
  static std::size_t check_offsets(const CArray<std::int64_t>& offsets, py::ssize_t rows) {
    if (offsets.ndim() != 1 || offsets.shape(0) < 1)
      throw py::value_error("offsets: expected a 1-d array [n + 1], got shape " +
                            shape_str(std::vector<py::ssize_t>(offsets.shape(), offsets.shape() + offsets.ndim())));
    const std::int64_t* o = offsets.data();
    const std::size_t n = std::size_t(offsets.shape(0) - 1);
    if (o[0] != 0) throw py::value_error("offsets: expected offsets[0] == 0, got " + std::to_string(o[0]));
    for (std::size_t i = 0; i < n; ++i)
      if (o[i + 1] <= o[i])
        throw py::value_error("offsets: expected strictly increasing offsets (every sequence at least one step), got " +
                              std::to_string(o[i]) + " then " + std::to_string(o[i + 1]) + " at " + std::to_string(i));
    if (rows >= 0 && o[n] != rows)
      throw py::value_error("offsets: expected offsets[-1] == " + std::to_string(rows) + " (the rows of x), got " +
                            std::to_string(o[n]));
    return n;
  }

  Lstm1997<Scalar> net_;
  std::vector<std::unique_ptr<Lstm1997<Scalar>>> workers_;  // forward_batch's threads 1..
  std::atomic<bool> busy_{false};
};

template <typename Scalar>
void bind_network(py::module_& m, const char* name) {
  py::class_<Network<Scalar>>(m, name)
      .def(py::init<const Lstm1997Config&>(), py::arg("config"))
      .def_property_readonly("config", &Network<Scalar>::config)
      .def_property_readonly("n_weights", &Network<Scalar>::n_weights)
      .def("param_shapes", &Network<Scalar>::param_shapes)
      .def("get_params", &Network<Scalar>::get_params)
      .def("set_param", &Network<Scalar>::set_param, py::arg("name"), py::arg("value"))
      .def("get_flat", &Network<Scalar>::get_flat)
      .def("set_flat", &Network<Scalar>::set_flat, py::arg("flat"))
      .def("forward", &Network<Scalar>::forward, py::arg("x"))
      .def("gradient", &Network<Scalar>::gradient, py::arg("x"), py::arg("target"), py::arg("mask"), py::arg("mode"))
      .def("train_sequence", &Network<Scalar>::train_sequence, py::arg("x"), py::arg("target"), py::arg("mask"),
           py::arg("lr"), py::arg("update"))
      .def("train_sequence_full", &Network<Scalar>::train_sequence_full, py::arg("x"), py::arg("target"),
           py::arg("mask"), py::arg("lr"))
      .def("forward_fast", &Network<Scalar>::forward_fast, py::arg("x"))
      .def("train_sequence_fast", &Network<Scalar>::train_sequence_fast, py::arg("x"), py::arg("target"),
           py::arg("mask"), py::arg("lr"), py::arg("update"))
      .def("gradient_fast", &Network<Scalar>::gradient_fast, py::arg("x"), py::arg("target"), py::arg("mask"),
           py::arg("mode"))
      .def("train_batch", &Network<Scalar>::train_batch, py::arg("x"), py::arg("target"), py::arg("mask"),
           py::arg("offsets"), py::arg("lr"), py::arg("update"), py::arg("last_error"))
      .def("forward_batch", &Network<Scalar>::forward_batch, py::arg("x"), py::arg("offsets"),
           py::arg("num_threads"));
}

}  // namespace

void bind_lstm1997(py::module_& m) {
  py::enum_<lstmcore::Squash>(m, "Squash")
      .value("logistic", lstmcore::Squash::Logistic)
      .value("g2", lstmcore::Squash::G2)
      .value("h1", lstmcore::Squash::H1)
      .value("tanh", lstmcore::Squash::Tanh)
      .value("identity", lstmcore::Squash::Identity);
  py::enum_<lstmcore::Recurrence>(m, "Recurrence")
      .value("cells_and_gates", lstmcore::Recurrence::CellsAndGates)
      .value("cells", lstmcore::Recurrence::Cells)
      .value("none", lstmcore::Recurrence::None);
  py::enum_<GradientMode>(m, "GradientMode")
      .value("full", GradientMode::Full)
      .value("truncated_bptt", GradientMode::TruncatedBptt)
      .value("truncated_rtrl", GradientMode::TruncatedRtrl);
  py::enum_<UpdateSchedule>(m, "UpdateSchedule")
      .value("step", UpdateSchedule::Step)
      .value("sequence", UpdateSchedule::Sequence);

  py::class_<Lstm1997Config>(m, "Lstm1997Config")
      .def(py::init<>())
      .def_readwrite("n_in", &Lstm1997Config::n_in)
      .def_readwrite("n_out", &Lstm1997Config::n_out)
      .def_readwrite("blocks", &Lstm1997Config::blocks)
      .def_readwrite("cells_per_block", &Lstm1997Config::cells_per_block)
      .def_readwrite("recurrent", &Lstm1997Config::recurrent)
      .def_readwrite("shortcut", &Lstm1997Config::shortcut)
      .def_readwrite("bias_gates", &Lstm1997Config::bias_gates)
      .def_readwrite("bias_cells", &Lstm1997Config::bias_cells)
      .def_readwrite("bias_outputs", &Lstm1997Config::bias_outputs)
      .def_readwrite("output_gate", &Lstm1997Config::output_gate)
      .def_readwrite("forget_gate", &Lstm1997Config::forget_gate)
      .def_readwrite("peepholes", &Lstm1997Config::peepholes)
      .def_readwrite("g", &Lstm1997Config::g)
      .def_readwrite("h", &Lstm1997Config::h)
      .def_readwrite("out", &Lstm1997Config::out)
      .def("validate", &Lstm1997Config::validate)
      .def_property_readonly("n_src", &Lstm1997Config::n_src);

  bind_network<double>(m, "Lstm1997F64");
  bind_network<float>(m, "Lstm1997F32");
}

}  // namespace lstmcore_py
