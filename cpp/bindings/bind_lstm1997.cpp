// Bindings of lstmcore::Lstm1997<float|double>: argument checks and array marshalling only.
#include <memory>

#include "common.hpp"
#include "lstmcore/lstm1997.hpp"

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
  std::size_t check_x(const CArray<Scalar>& x) const {
    if (x.ndim() != 2 || std::size_t(x.shape(1)) != net_.config().n_in)
      throw py::value_error("x: expected shape (T, " + std::to_string(net_.config().n_in) + "), got " +
                            shape_str(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim())));
    return std::size_t(x.shape(0));
  }
  void check_target_mask(const CArray<Scalar>& target, const std::optional<CArray<std::uint8_t>>& mask,
                         std::size_t T) const {
    require_shape(target, "target", {py::ssize_t(T), py::ssize_t(net_.config().n_out)});
    if (mask) require_shape(*mask, "mask", {py::ssize_t(T)});
  }

  Lstm1997<Scalar> net_;
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
           py::arg("mask"), py::arg("lr"));
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
