// Bindings of lstmcore::RecurrentNet<float|double>: argument checks and array marshalling only.
#include <map>

#include "common.hpp"
#include "lstmcore/recurrent_net.hpp"

namespace lstmcore_py {

using lstmcore::RecurrentGradient;
using lstmcore::RecurrentLayout;
using lstmcore::RecurrentNet;
using lstmcore::RecurrentNetConfig;
using lstmcore::RecurrentParam;
using lstmcore::RecurrentUpdate;

namespace {

template <typename E>
E parse_choice(const std::map<std::string, E>& choices, const std::string& value, const char* name) {
  auto it = choices.find(value);
  if (it != choices.end()) return it->second;
  std::string expected;
  for (const auto& kv : choices) expected += (expected.empty() ? "'" : ", '") + kv.first + "'";
  throw py::value_error(std::string(name) + ": expected one of " + expected + ", got '" + value + "'");
}

RecurrentGradient parse_method(const std::string& method) {
  return parse_choice<RecurrentGradient>(
      {{"rtrl", RecurrentGradient::Rtrl}, {"bptt", RecurrentGradient::Bptt}, {"elman", RecurrentGradient::Elman}},
      method, "method");
}

std::vector<py::ssize_t> param_shape(const RecurrentParam& p) {
  if (p.is_vector) return {py::ssize_t(p.rows)};
  return {py::ssize_t(p.rows), py::ssize_t(p.cols)};
}

template <typename Scalar>
class Net {
 public:
  Net(std::size_t n_in, std::size_t n_hidden, std::size_t n_out, const std::string& recurrence, bool shortcut,
      bool bias, bool linear_outputs)
      : net_(make_config(n_in, n_hidden, n_out, recurrence, shortcut, bias, linear_outputs)) {}

  std::size_t n_weights() const { return net_.n_weights(); }
  std::size_t n_trace() const { return net_.config().n_trace(); }
  std::size_t n_sources() const { return net_.config().n_sources(); }
  std::size_t n_units() const { return net_.config().n_units(); }

  py::list param_shapes() const {
    py::list out;
    for (const auto& p : net_.params()) out.append(py::make_tuple(p.name, py::tuple(py::cast(param_shape(p)))));
    return out;
  }

  py::dict get_params() const { return to_dict(false); }
  py::dict get_grads() const { return to_dict(true); }

  void set_param(const std::string& name, const CArray<Scalar>& value) {
    BusyGuard guard(busy_);
    const auto& ps = net_.params();
    for (std::size_t i = 0; i < ps.size(); ++i) {
      if (ps[i].name != name) continue;
      require_shape(value, name.c_str(), param_shape(ps[i]));
      if (!all_finite(value.data(), std::size_t(value.size())))
        throw py::value_error(name + ": expected finite values, got NaN or Inf");
      net_.set_param(i, value.data());
      return;
    }
    throw py::key_error("unknown parameter " + name);
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

  CArray<Scalar> forward_batch(const CArray<Scalar>& x, const std::optional<CArray<std::int64_t>>& lengths) {
    BusyGuard guard(busy_);
    const std::size_t n_in = net_.config().n_in;
    if (x.ndim() != 3 || std::size_t(x.shape(2)) != n_in)
      throw py::value_error("x: expected shape (T, N, " + std::to_string(n_in) + "), got " +
                            shape_str(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim())));
    const std::size_t T = std::size_t(x.shape(0)), N = std::size_t(x.shape(1));
    const std::int64_t* lp = nullptr;
    if (lengths) {
      require_shape(*lengths, "lengths", {py::ssize_t(N)});
      lp = lengths->data();
      for (std::size_t n = 0; n < N; ++n)
        if (lp[n] < 0 || std::size_t(lp[n]) > T)
          throw py::value_error("lengths: expected values in [0, " + std::to_string(T) + "], got " +
                                std::to_string(lp[n]) + " at index " + std::to_string(n));
    }
    CArray<Scalar> y({py::ssize_t(T), py::ssize_t(N), py::ssize_t(net_.config().n_out)});
    Scalar* yp = y.mutable_data();
    const Scalar* xp = x.data();
    {
      py::gil_scoped_release release;
      net_.forward_batch(xp, T, N, lp, yp);
    }
    return y;
  }

  py::tuple gradient(const CArray<Scalar>& x, const CArray<Scalar>& target,
                     const std::optional<CArray<std::uint8_t>>& mask, const std::string& method) {
    BusyGuard guard(busy_);
    const RecurrentGradient m = parse_method(method);
    const std::size_t T = check_x(x);
    check_target_mask(target, mask, T);
    const std::uint8_t* mp = mask ? mask->data() : nullptr;
    double loss;
    {
      py::gil_scoped_release release;
      loss = net_.gradient(x.data(), target.data(), mp, T, m);
    }
    return py::make_tuple(loss, to_dict(true));
  }

  double train_sequence(const CArray<Scalar>& x, const CArray<Scalar>& target,
                        const std::optional<CArray<std::uint8_t>>& mask, Scalar lr, const std::string& method,
                        const std::string& update) {
    BusyGuard guard(busy_);
    const RecurrentGradient m = parse_method(method);
    const RecurrentUpdate u = parse_choice<RecurrentUpdate>(
        {{"step", RecurrentUpdate::Step}, {"sequence", RecurrentUpdate::Sequence}}, update, "update");
    if (m == RecurrentGradient::Bptt && u == RecurrentUpdate::Step)
      throw py::value_error(
          "update: method 'bptt' computes the gradient of the whole sequence; expected update='sequence', got 'step'");
    const std::size_t T = check_x(x);
    check_target_mask(target, mask, T);
    const std::uint8_t* mp = mask ? mask->data() : nullptr;
    py::gil_scoped_release release;
    return net_.train_sequence(x.data(), target.data(), mp, T, lr, m, u);
  }

 private:
  static RecurrentNetConfig make_config(std::size_t n_in, std::size_t n_hidden, std::size_t n_out,
                                        const std::string& recurrence, bool shortcut, bool bias,
                                        bool linear_outputs) {
    RecurrentNetConfig c;
    c.n_in = n_in;
    c.n_hidden = n_hidden;
    c.n_out = n_out;
    c.layout = parse_choice<RecurrentLayout>(
        {{"full", RecurrentLayout::Full}, {"hidden", RecurrentLayout::Hidden}, {"self", RecurrentLayout::Self}},
        recurrence, "recurrence");
    c.shortcut = shortcut;
    c.bias = bias;
    c.linear_outputs = linear_outputs;
    c.validate();
    return c;
  }
  py::dict to_dict(bool gradient) const {
    py::dict out;
    const auto& ps = net_.params();
    for (std::size_t i = 0; i < ps.size(); ++i) {
      CArray<Scalar> a(param_shape(ps[i]));
      if (gradient)
        net_.get_grad(i, a.mutable_data());
      else
        net_.get_param(i, a.mutable_data());
      out[py::str(ps[i].name)] = a;
    }
    return out;
  }
  std::size_t check_x(const CArray<Scalar>& x) const { return sequence_length(x, net_.config().n_in); }
  void check_target_mask(const CArray<Scalar>& target, const std::optional<CArray<std::uint8_t>>& mask,
                         std::size_t T) const {
    require_target_mask(target, mask, T, net_.config().n_out);
  }

  RecurrentNet<Scalar> net_;
  std::atomic<bool> busy_{false};
};

template <typename Scalar>
void bind_net(py::module_& m, const char* name) {
  py::class_<Net<Scalar>>(m, name)
      .def(py::init<std::size_t, std::size_t, std::size_t, const std::string&, bool, bool, bool>(), py::arg("n_in"),
           py::arg("n_hidden"), py::arg("n_out"), py::arg("recurrence"), py::arg("shortcut"), py::arg("bias"),
           py::arg("linear_outputs"))
      .def_property_readonly("n_weights", &Net<Scalar>::n_weights)
      .def_property_readonly("n_trace", &Net<Scalar>::n_trace)
      .def_property_readonly("n_sources", &Net<Scalar>::n_sources)
      .def_property_readonly("n_units", &Net<Scalar>::n_units)
      .def("param_shapes", &Net<Scalar>::param_shapes)
      .def("get_params", &Net<Scalar>::get_params)
      .def("get_grads", &Net<Scalar>::get_grads)
      .def("set_param", &Net<Scalar>::set_param, py::arg("name"), py::arg("value"))
      .def("forward", &Net<Scalar>::forward, py::arg("x"))
      .def("forward_batch", &Net<Scalar>::forward_batch, py::arg("x"), py::arg("lengths"))
      .def("gradient", &Net<Scalar>::gradient, py::arg("x"), py::arg("target"), py::arg("mask"), py::arg("method"))
      .def("train_sequence", &Net<Scalar>::train_sequence, py::arg("x"), py::arg("target"), py::arg("mask"),
           py::arg("lr"), py::arg("method"), py::arg("update"));
}

}  // namespace

void bind_recurrent_net(py::module_& m) {
  bind_net<double>(m, "RecurrentNetF64");
  bind_net<float>(m, "RecurrentNetF32");
}

}  // namespace lstmcore_py
