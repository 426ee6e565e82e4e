// Bindings of online truncated-gradient training of one layer (lstmcore::LstmOnline, float and
// double): argument checks and array marshalling only. step() and accumulate() take the same fast
// path for their per-step arrays as the streaming layer (bind_lstm_stream.cpp).
#include <memory>

#include "common.hpp"
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
  // params, grads: [W_ih (4H, I), W_hh (4H, H), (b_ih, b_hh (4H,) if bias), (w_ci, w_cf, w_co (H,) if
  // peepholes)], used in place (kept alive here, never copied); grads are accumulated into.
  Online(std::size_t input_size, std::size_t hidden_size, bool bias, bool peepholes, std::size_t batch,
         bool unbatched, const py::list& params, const py::list& grads, int num_threads) {
    LstmLayerDims dims;
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
    std::vector<std::pair<const char*, std::vector<py::ssize_t>>> expected = {{"W_ih", {4 * H, I}},
                                                                              {"W_hh", {4 * H, H}}};
    if (bias) {
      expected.push_back({"b_ih", {4 * H}});
      expected.push_back({"b_hh", {4 * H}});
    }
    if (peepholes) {
      expected.push_back({"w_ci", {H}});
      expected.push_back({"w_cf", {H}});
      expected.push_back({"w_co", {H}});
    }
    auto collect = [&](const py::list& list, const std::string& what, bool writeable) {
      if (list.size() != expected.size())
        throw py::value_error(what + ": expected " + std::to_string(expected.size()) + " arrays, got " +
                              std::to_string(list.size()));
      std::vector<Scalar*> ptrs;
      for (std::size_t k = 0; k < expected.size(); ++k) {
        keep_.push_back(live_array<Scalar>(list[k], what + " " + expected[k].first, expected[k].second, writeable));
        ptrs.push_back(static_cast<Scalar*>(const_cast<void*>(keep_.back().data())));  // params only read
      }
      return ptrs;
    };
    const std::vector<Scalar*> pp = collect(params, "params", false), gp = collect(grads, "grads", true);
    LstmLayerParams<Scalar> p;
    LstmLayerGrads<Scalar> g;
    p.W_ih = pp[0];
    p.W_hh = pp[1];
    g.W_ih = gp[0];
    g.W_hh = gp[1];
    std::size_t k = 2;
    if (bias) {
      p.b_ih = pp[k];
      g.b_ih = gp[k++];
      p.b_hh = pp[k];
      g.b_hh = gp[k++];
    }
    if (peepholes) {
      p.w_ci = pp[k];
      g.w_ci = gp[k++];
      p.w_cf = pp[k];
      g.w_cf = gp[k++];
      p.w_co = pp[k];
      g.w_co = gp[k++];
    }
    core_ = std::make_unique<LstmOnline<Scalar>>(dims, p, g, batch);
    x_shape_ = unbatched ? std::vector<py::ssize_t>{I} : std::vector<py::ssize_t>{N, I};
    h_shape_ = unbatched ? std::vector<py::ssize_t>{H} : std::vector<py::ssize_t>{N, H};
    n_in_ = std::size_t(N * I);
    n_h_ = std::size_t(N * H);
    release_gil_ = core_->work_per_step() >= lstmcore::detail::kParallelWork;
    set_num_threads(num_threads);
  }

  // x_t: (N, I) or (I,) unbatched; out: None or a writeable array shaped like the result.
  // Returns h(t), (N, H) or (H,) (`out` itself when given).
  py::object step(py::handle x, py::handle out) {
    BusyGuard guard(busy_);
    CArray<Scalar> converted;
    const Scalar* xp = step_input_data(x, "x_t", x_shape_, n_in_, converted);
    auto result = step_result<Scalar>(out, h_shape_);
    Scalar* op = result.second;
    call_released_if(release_gil_, [&] { core_->step(xp, op, num_threads_); });
    return result.first;
  }

  // grad_h: dL_t/dh(t), (N, H) or (H,) unbatched.
  void accumulate(py::handle grad_h) {
    BusyGuard guard(busy_);
    CArray<Scalar> converted;
    const Scalar* gp = step_input_data(grad_h, "grad_h", h_shape_, n_h_, converted);
    if (!core_->stepped()) throw std::runtime_error("accumulate: no step to accumulate (call step first)");
    call_released_if(release_gil_, [&] { core_->accumulate(gp, num_threads_); });
  }

  // x: (T, N, I), grad_output: (T, N, H) -> output (T, N, H)
  CArray<Scalar> run(const CArray<Scalar>& x, const CArray<Scalar>& grad_output) {
    BusyGuard guard(busy_);
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

  // h0, c0: (N, H) or None (zeros); traces to zero
  void reset(const std::optional<CArray<Scalar>>& h0, const std::optional<CArray<Scalar>>& c0) {
    BusyGuard guard(busy_);
    const std::vector<py::ssize_t> shape = {py::ssize_t(core_->batch()), h_shape_.back()};
    if (h0) require_shape(*h0, "h0", shape);
    if (c0) require_shape(*c0, "c0", shape);
    core_->reset(h0 ? h0->data() : nullptr, c0 ? c0->data() : nullptr);
  }

  // copies of (h, c), each (N, H)
  py::tuple state() const {
    const std::vector<py::ssize_t> shape = {py::ssize_t(core_->batch()), h_shape_.back()};
    CArray<Scalar> h(shape), c(shape);
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
  bool release_gil_ = false;
  int num_threads_ = 1;
  std::atomic<bool> busy_{false};
};

template <typename Scalar>
void bind_online(py::module_& m, const char* name) {
  using O = Online<Scalar>;
  py::class_<O>(m, name)
      .def(py::init<std::size_t, std::size_t, bool, bool, std::size_t, bool, const py::list&, const py::list&, int>(),
           py::arg("input_size"), py::arg("hidden_size"), py::arg("bias"), py::arg("peepholes"), py::arg("batch"),
           py::arg("unbatched"), py::arg("params"), py::arg("grads"), py::arg("num_threads"))
      .def("step", &O::step, py::arg("x_t"), py::arg("out") = py::none(),
           "Advance state and traces by one step; x_t (N, I) or (I,) -> h (N, H) or (H,).")
      .def("accumulate", &O::accumulate, py::arg("grad_h"),
           "grads += the truncated gradient of this step's loss term, given dL/dh(t) (N, H) or (H,).")
      .def("run", &O::run, py::arg("x"), py::arg("grad_output"),
           "T steps of step + accumulate; x (T, N, I), grad_output (T, N, H) -> output (T, N, H).")
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
