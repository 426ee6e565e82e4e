// Bindings of the streaming layer stack (lstmcore::LstmStream, float and double): argument checks
// and array marshalling only. step() is the hot path: one Python call per time step, so its input
// check is a few pointer comparisons for the common case (a C-contiguous array of the right dtype
// and shape), an optional `out` array avoids allocating the result, and the GIL is released only
// when the step's work is worth the cost of releasing it.
#include <memory>

#include "common.hpp"
#include "layer_arrays.hpp"
#include "lstmcore/lstm_stream.hpp"

namespace lstmcore_py {

using lstmcore::LstmLayerParams;
using lstmcore::LstmStackDims;
using lstmcore::LstmStream;

namespace {

template <typename Scalar>
class Stream {
 public:
  // params: [L] lists [W_ih (4H, I or R), W_hh (4H, R), (b_ih, b_hh (4H,) if bias),
  // (w_ci, w_cf, w_co (H,) if peepholes), (W_hr (P, H) if proj_size P > 0)], used in place (kept
  // alive here, never copied); R = P with a projection, else H.
  // unbatched: steps take x_t (I,) and return (R,) (batch must be 1).
  Stream(std::size_t input_size, std::size_t hidden_size, std::size_t num_layers, bool bias, bool peepholes,
         std::size_t batch, bool unbatched, const py::list& params, int num_threads, std::size_t proj_size) {
    LstmStackDims dims;
    dims.proj_size = proj_size;
    dims.input_size = input_size;
    dims.hidden_size = hidden_size;
    dims.num_layers = num_layers;
    dims.bias = bias;
    dims.peepholes = peepholes;
    try {
      dims.validate();
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
    if (batch < 1) throw py::value_error("batch_size: expected >= 1, got " + std::to_string(batch));
    if (unbatched && batch != 1) throw py::value_error("batch_size: an unbatched stream has batch 1");
    if (params.size() != num_layers)
      throw py::value_error("params: expected " + std::to_string(num_layers) + " layers, got " +
                            std::to_string(params.size()));
    const py::ssize_t I = py::ssize_t(input_size), H = py::ssize_t(hidden_size), N = py::ssize_t(batch);
    const py::ssize_t P = py::ssize_t(proj_size), R = py::ssize_t(dims.recurrent_size());
    std::vector<LstmLayerParams<Scalar>> ps(num_layers);
    for (std::size_t k = 0; k < num_layers; ++k) {
      const py::list layer = py::cast<py::list>(params[k]);
      const std::vector<py::array> arrays = layer_arrays<Scalar>(
          layer, "params[" + std::to_string(k) + "]", k == 0 ? I : R, H, bias, peepholes, ArrayUse::Live, P);
      ps[k] = layer_pointers<LstmLayerParams<Scalar>>(arrays, bias, peepholes, P > 0);
      keep_.insert(keep_.end(), arrays.begin(), arrays.end());
    }
    core_ = std::make_unique<LstmStream<Scalar>>(dims, ps, batch);
    x_shape_ = unbatched ? std::vector<py::ssize_t>{I} : std::vector<py::ssize_t>{N, I};
    out_shape_ = unbatched ? std::vector<py::ssize_t>{R} : std::vector<py::ssize_t>{N, R};
    n_in_ = std::size_t(N * I);
    release_gil_ = core_->work_per_step() >= lstmcore::kLstmStepParallelWork;
    set_num_threads(num_threads);
  }

  // x_t: (N, I) or (I,) unbatched; out: None or a writeable array shaped like the result.
  // Returns h of the top layer, (N, R) or (R,) (`out` itself when given).
  py::object step(py::handle x, py::handle out) {
    BusyGuard guard(busy_, "LSTMStream.step");
    CArray<Scalar> converted;
    const Scalar* xp = step_input_data(x, "x_t", x_shape_, n_in_, converted);
    auto result = step_result<Scalar>(out, out_shape_);
    Scalar* op = result.second;
    call_released_if(release_gil_, [&] { core_->step(xp, op, num_threads_); });
    return result.first;
  }

  // x: (T, N, I) -> (T, N, R)
  CArray<Scalar> run(const CArray<Scalar>& x) {
    BusyGuard guard(busy_, "LSTMStream.run");
    const py::ssize_t N = py::ssize_t(core_->batch()), I = py::ssize_t(core_->dims().input_size),
                      R = py::ssize_t(core_->dims().recurrent_size());
    if (x.ndim() != 3 || x.shape(1) != N || x.shape(2) != I)
      throw py::value_error("x: expected shape (T, " + std::to_string(N) + ", " + std::to_string(I) + "), got " +
                            shape_str({x.shape(), x.shape() + x.ndim()}));
    const py::ssize_t T = x.shape(0);
    CArray<Scalar> out({T, N, R});
    const Scalar* xp = x.data();
    Scalar* op = out.mutable_data();
    {
      py::gil_scoped_release release;
      core_->run(xp, std::size_t(T), op, num_threads_);
    }
    return out;
  }

  // h0: (L, N, R), c0: (L, N, H), or None (zeros)
  void reset(const std::optional<CArray<Scalar>>& h0, const std::optional<CArray<Scalar>>& c0) {
    BusyGuard guard(busy_, "LSTMStream.reset");
    if (h0) require_shape(*h0, "h0", state_shape(true));
    if (c0) require_shape(*c0, "c0", state_shape(false));
    core_->reset(h0 ? h0->data() : nullptr, c0 ? c0->data() : nullptr);
  }

  // copies of (h, c): (L, N, R), (L, N, H)
  py::tuple state() const {
    CArray<Scalar> h(state_shape(true)), c(state_shape(false));
    std::copy(core_->h(), core_->h() + h.size(), h.mutable_data());
    std::copy(core_->c(), core_->c() + c.size(), c.mutable_data());
    return py::make_tuple(h, c);
  }

  int num_threads() const { return num_threads_; }
  void set_num_threads(int n) {
    if (n < 1) throw py::value_error("num_threads: expected >= 1, got " + std::to_string(n));
    num_threads_ = n;
  }

 private:
  // (L, N, R) for h, (L, N, H) for c
  std::vector<py::ssize_t> state_shape(bool of_h) const {
    const auto& d = core_->dims();
    return {py::ssize_t(d.num_layers), py::ssize_t(core_->batch()),
            py::ssize_t(of_h ? d.recurrent_size() : d.hidden_size)};
  }

  std::vector<py::array> keep_;  // the parameter arrays the core reads
  std::unique_ptr<LstmStream<Scalar>> core_;
  std::vector<py::ssize_t> x_shape_, out_shape_;
  std::size_t n_in_ = 0;
  bool release_gil_ = false;
  int num_threads_ = 1;
  std::atomic<bool> busy_{false};
};

template <typename Scalar>
void bind_stream(py::module_& m, const char* name) {
  using S = Stream<Scalar>;
  py::class_<S>(m, name)
      .def(py::init<std::size_t, std::size_t, std::size_t, bool, bool, std::size_t, bool, const py::list&, int,
                    std::size_t>(),
           py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers"), py::arg("bias"),
           py::arg("peepholes"), py::arg("batch"), py::arg("unbatched"), py::arg("params"), py::arg("num_threads"),
           py::arg("proj_size") = 0)
      .def("step", &S::step, py::arg("x_t"), py::arg("out") = py::none(),
           "Advance every stream by one step; x_t (N, I) or (I,) -> h of the top layer (N, R) or (R,).")
      .def("run", &S::run, py::arg("x"), "Advance by T steps; x (T, N, I) -> output (T, N, R).")
      .def("reset", &S::reset, py::arg("h0"), py::arg("c0"))
      .def("state", &S::state)
      .def_property("num_threads", &S::num_threads, &S::set_num_threads);
}

}  // namespace

void bind_lstm_stream(py::module_& m) {
  bind_stream<double>(m, "LstmStreamF64");
  bind_stream<float>(m, "LstmStreamF32");
}

}  // namespace lstmcore_py
