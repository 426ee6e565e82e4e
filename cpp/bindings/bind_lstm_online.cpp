// Bindings of online truncated-gradient training of one layer (lstmcore::LstmOnline, float and
// double): argument checks and array marshalling only. step() and accumulate() take the same fast
// path for their per-step arrays as the streaming layer (bind_lstm_stream.cpp).
#include <memory>

#include "common.hpp"
#include "layer_arrays.hpp"
#include "lstmcore/lstm_online.hpp"

namespace lstmcore_py {

using lstmcore::LstmLayerDims;
using lstmcore::LstmLayerGrads;
using lstmcore::LstmLayerParams;
using lstmcore::LstmOnline;

namespace {

template <typename Scalar>
class Online {
 public:
  // params, grads: [W_ih (4H, I), W_hh (4H, R), (b_ih, b_hh (4H,) if bias), (w_ci, w_cf, w_co (H,) if
  // peepholes), (W_hr (P, H) if proj_size P > 0)], used in place (kept alive here, never copied);
  // grads are accumulated into. R = P with a projection, else H: the width of h.
  Online(std::size_t input_size, std::size_t hidden_size, bool bias, bool peepholes, std::size_t batch,
         bool unbatched, const py::list& params, const py::list& grads, int num_threads, std::size_t proj_size) {
    LstmLayerDims dims;
    dims.proj_size = proj_size;
    dims.input_size = input_size;
    dims.hidden_size = hidden_size;
    dims.bias = bias;
    dims.peepholes = peepholes;
    try {
      dims.validate();
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
    if (batch < 1) throw py::value_error("batch_size: expected >= 1, got " + std::to_string(batch));
    if (unbatched && batch != 1) throw py::value_error("batch_size: an unbatched trainer has batch 1");
    const py::ssize_t I = py::ssize_t(input_size), H = py::ssize_t(hidden_size), N = py::ssize_t(batch);
    const py::ssize_t P = py::ssize_t(proj_size), R = py::ssize_t(dims.recurrent_size());
    const std::vector<py::array> pa =
        layer_arrays<Scalar>(params, "params", I, H, bias, peepholes, ArrayUse::Live, P);
    const std::vector<py::array> ga =
        layer_arrays<Scalar>(grads, "grads", I, H, bias, peepholes, ArrayUse::LiveWriteable, P);
    keep_.insert(keep_.end(), pa.begin(), pa.end());
    keep_.insert(keep_.end(), ga.begin(), ga.end());
    const auto p = layer_pointers<LstmLayerParams<Scalar>>(pa, bias, peepholes, P > 0);
    const auto g = layer_pointers<LstmLayerGrads<Scalar>>(ga, bias, peepholes, P > 0);
    core_ = std::make_unique<LstmOnline<Scalar>>(dims, p, g, batch);
    x_shape_ = unbatched ? std::vector<py::ssize_t>{I} : std::vector<py::ssize_t>{N, I};
    h_shape_ = unbatched ? std::vector<py::ssize_t>{R} : std::vector<py::ssize_t>{N, R};
    hidden_ = H;
    n_in_ = std::size_t(N * I);
    n_h_ = std::size_t(N * R);
    release_gil_ = core_->work_per_step() >= lstmcore::kLstmStepParallelWork;
    set_num_threads(num_threads);
  }

  // x_t: (N, I) or (I,) unbatched; out: None or a writeable array shaped like the result.
  // Returns h(t), (N, R) or (R,) (`out` itself when given).
  py::object step(py::handle x, py::handle out) {
    BusyGuard guard(busy_, "LSTMOnline.step");
    CArray<Scalar> converted;
    const Scalar* xp = step_input_data(x, "x_t", x_shape_, n_in_, converted);
    auto result = step_result<Scalar>(out, h_shape_);
    Scalar* op = result.second;
    call_released_if(release_gil_, [&] { core_->step(xp, op, num_threads_); });
    return result.first;
  }

  // grad_h: dL_t/dh(t), (N, R) or (R,) unbatched.
  void accumulate(py::handle grad_h) {
    BusyGuard guard(busy_, "LSTMOnline.accumulate");
    CArray<Scalar> converted;
    const Scalar* gp = step_input_data(grad_h, "grad_h", h_shape_, n_h_, converted);
    if (!core_->stepped()) throw std::runtime_error("accumulate: no step to accumulate (call step first)");
    call_released_if(release_gil_, [&] { core_->accumulate(gp, num_threads_); });
  }

  // x: (T, N, I), grad_output: (T, N, R) -> output (T, N, R)
  CArray<Scalar> run(const CArray<Scalar>& x, const CArray<Scalar>& grad_output) {
    BusyGuard guard(busy_, "LSTMOnline.run");
    const py::ssize_t N = py::ssize_t(core_->batch()), I = x_shape_.back(), H = h_shape_.back();
    if (x.ndim() != 3 || x.shape(1) != N || x.shape(2) != I)
      throw py::value_error("x: expected shape (T, " + std::to_string(N) + ", " + std::to_string(I) + "), got " +
                            shape_str({x.shape(), x.shape() + x.ndim()}));
    const py::ssize_t T = x.shape(0);
    require_shape(grad_output, "grad_output", {T, N, H});
    CArray<Scalar> out({T, N, H});
    const Scalar *xp = x.data(), *gp = grad_output.data();
    Scalar* op = out.mutable_data();
    {
      py::gil_scoped_release release;
      core_->run(xp, gp, std::size_t(T), op, num_threads_);
    }
    return out;
  }

  // h0: (N, R), c0: (N, H), or None (zeros); traces to zero
  void reset(const std::optional<CArray<Scalar>>& h0, const std::optional<CArray<Scalar>>& c0) {
    BusyGuard guard(busy_, "LSTMOnline.reset");
    if (h0) require_shape(*h0, "h0", {py::ssize_t(core_->batch()), h_shape_.back()});
    if (c0) require_shape(*c0, "c0", {py::ssize_t(core_->batch()), hidden_});
    core_->reset(h0 ? h0->data() : nullptr, c0 ? c0->data() : nullptr);
  }

  // copies of (h, c): (N, R), (N, H)
  py::tuple state() const {
    CArray<Scalar> h({py::ssize_t(core_->batch()), h_shape_.back()}), c({py::ssize_t(core_->batch()), hidden_});
    std::copy(core_->h(), core_->h() + h.size(), h.mutable_data());
    std::copy(core_->c(), core_->c() + c.size(), c.mutable_data());
    return py::make_tuple(h, c);
  }

  // The carried state (lstm_online.hpp: carried) as a flat array, and back.
  CArray<Scalar> carried() const {
    CArray<Scalar> out({py::ssize_t(core_->carried_size())});
    core_->carried(out.mutable_data());
    return out;
  }
  void set_carried(const CArray<Scalar>& in) {
    BusyGuard guard(busy_);
    require_shape(in, "carried", {py::ssize_t(core_->carried_size())});
    core_->set_carried(in.data());
  }

  bool stepped() const { return core_->stepped(); }
  std::size_t trace_size() const { return core_->trace_size(); }
  int num_threads() const { return num_threads_; }
  void set_num_threads(int n) {
    if (n < 1) throw py::value_error("num_threads: expected >= 1, got " + std::to_string(n));
    num_threads_ = n;
  }

 private:
  // The data of a per-step array: the fast path, or a converted copy kept in `converted`.
  std::vector<py::array> keep_;  // the parameter and gradient arrays the core uses
  std::unique_ptr<LstmOnline<Scalar>> core_;
  std::vector<py::ssize_t> x_shape_, h_shape_;
  std::size_t n_in_ = 0, n_h_ = 0;
  py::ssize_t hidden_ = 0;  // H, the width of c
  bool release_gil_ = false;
  int num_threads_ = 1;
  std::atomic<bool> busy_{false};
};

template <typename Scalar>
void bind_online(py::module_& m, const char* name) {
  using O = Online<Scalar>;
  py::class_<O>(m, name)
      .def(py::init<std::size_t, std::size_t, bool, bool, std::size_t, bool, const py::list&, const py::list&, int,
                    std::size_t>(),
           py::arg("input_size"), py::arg("hidden_size"), py::arg("bias"), py::arg("peepholes"), py::arg("batch"),
           py::arg("unbatched"), py::arg("params"), py::arg("grads"), py::arg("num_threads"),
           py::arg("proj_size") = 0)
      .def("step", &O::step, py::arg("x_t"), py::arg("out") = py::none(),
           "Advance state and traces by one step; x_t (N, I) or (I,) -> h (N, R) or (R,).")
      .def("accumulate", &O::accumulate, py::arg("grad_h"),
           "grads += the truncated gradient of this step's loss term, given dL/dh(t) (N, R) or (R,).")
      .def("run", &O::run, py::arg("x"), py::arg("grad_output"),
           "T steps of step + accumulate; x (T, N, I), grad_output (T, N, R) -> output (T, N, R).")
      .def("reset", &O::reset, py::arg("h0"), py::arg("c0"))
      .def("state", &O::state)
      .def("carried", &O::carried)
      .def("set_carried", &O::set_carried, py::arg("carried"))
      .def_property_readonly("stepped", &O::stepped)
      .def_property_readonly("trace_size", &O::trace_size)
      .def_property("num_threads", &O::num_threads, &O::set_num_threads);
}

}  // namespace

void bind_lstm_online(py::module_& m) {
  bind_online<double>(m, "LstmOnlineF64");
  bind_online<float>(m, "LstmOnlineF32");
}

}  // namespace lstmcore_py
