// Bindings of one direction of the torch-style LSTM layer (lstmcore::LstmLayer, float and double):
// argument checks and array marshalling only, one method per core method.
#include <cstdint>

#include "common.hpp"
#include "layer_arrays.hpp"
#include "lstmcore/lstm_layer.hpp"

namespace lstmcore_py {

using lstmcore::LstmBackwardArgs;
using lstmcore::LstmForwardArgs;
using lstmcore::LstmLayer;
using lstmcore::LstmLayerDims;
using lstmcore::LstmLayerGrads;
using lstmcore::LstmLayerParams;

namespace {

std::vector<py::ssize_t> shape_of(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

// The dims, validated: a field out of range is a ValueError naming it.
LstmLayerDims checked_dims(const LstmLayerDims& d) {
  try {
    d.validate();
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
  return d;
}

LstmLayerDims layer_dims(std::size_t input_size, std::size_t hidden_size, bool bias, bool peepholes, bool reverse,
                         std::size_t proj_size) {
  LstmLayerDims d;
  d.proj_size = proj_size;
  d.input_size = input_size;
  d.hidden_size = hidden_size;
  d.bias = bias;
  d.peepholes = peepholes;
  d.reverse = reverse;
  return d;
}

// LstmLayer plus the parameter arrays of its most recent forward, kept (referenced) for its backward.
template <typename Scalar>
class LayerDirection {
 public:
  LayerDirection(std::size_t input_size, std::size_t hidden_size, bool bias, bool peepholes, bool reverse,
                 std::size_t proj_size)
      : core_(checked_dims(layer_dims(input_size, hidden_size, bias, peepholes, reverse, proj_size))) {}

  // params: [W_ih (4H, I), W_hh (4H, R), b_ih (4H,), b_hh (4H,) if bias, w_ci, w_cf, w_co (H,) if peepholes,
  // W_hr (P, H) if proj_size P > 0]   (R = P with a projection, else H)
  // x: (T, N, I); h0: (N, R), c0: (N, H) or None; lengths: (N,) int64 or None. Returns (out, h_n, c_n).
  py::tuple forward(const py::list& params, const CArray<Scalar>& x, const std::optional<CArray<Scalar>>& h0,
                    const std::optional<CArray<Scalar>>& c0,
                    const std::optional<CArray<std::int64_t>>& lengths, int num_threads) {
    BusyGuard guard(busy_, "LstmLayer.forward");
    const LstmLayerDims& d = core_.dims();
    const py::ssize_t I = py::ssize_t(d.input_size), H = py::ssize_t(d.hidden_size);
    const py::ssize_t P = py::ssize_t(d.proj_size), R = py::ssize_t(d.recurrent_size());
    if (x.ndim() != 3 || x.shape(2) != I || x.shape(0) < 1 || x.shape(1) < 1)
      throw py::value_error("x: expected shape (T, N, " + std::to_string(I) + ") with T, N >= 1, got " +
                            shape_str(shape_of(x)));
    const py::ssize_t T = x.shape(0), N = x.shape(1);
    std::vector<py::array> ps =
        layer_arrays<Scalar>(params, "params", I, H, d.bias, d.peepholes, ArrayUse::Copy, P);
    if (h0) require_shape(*h0, "h0", {N, R});
    if (c0) require_shape(*c0, "c0", {N, H});
    if (lengths) require_shape(*lengths, "lengths", {N});
    CArray<Scalar> out({T, N, R}), hn({N, R}), cn({N, H});
    LstmForwardArgs<Scalar> a;
    a.x = x.data();
    a.steps = std::size_t(T);
    a.batch = std::size_t(N);
    a.h0 = h0 ? h0->data() : nullptr;
    a.c0 = c0 ? c0->data() : nullptr;
    a.lengths = lengths ? lengths->data() : nullptr;
    a.out = out.mutable_data();
    a.h_n = hn.mutable_data();
    a.c_n = cn.mutable_data();
    const auto p = layer_pointers<LstmLayerParams<Scalar>>(ps, d.bias, d.peepholes, P > 0);
    {
      py::gil_scoped_release release;
      core_.forward(p, a, num_threads);
    }
    params_ = std::move(ps);
    return py::make_tuple(out, hn, cn);
  }

  // grad_out: (T, N, R) or None; grad_hn: (N, R), grad_cn: (N, H) or None.
  // Returns (grad_x (T, N, I), grad_h0 (N, R), grad_c0 (N, H), [grads in the order of params]).
  py::tuple backward(const std::optional<CArray<Scalar>>& grad_out, const std::optional<CArray<Scalar>>& grad_hn,
                     const std::optional<CArray<Scalar>>& grad_cn, bool truncated, int num_threads) {
    BusyGuard guard(busy_, "LstmLayer.backward");
    if (!core_.has_forward()) throw py::value_error("backward: no forward pass to differentiate");
    const LstmLayerDims& d = core_.dims();
    const py::ssize_t I = py::ssize_t(d.input_size), H = py::ssize_t(d.hidden_size);
    const py::ssize_t R = py::ssize_t(d.recurrent_size());
    const py::ssize_t T = py::ssize_t(core_.steps()), N = py::ssize_t(core_.batch());
    if (grad_out) require_shape(*grad_out, "grad_output", {T, N, R});
    if (grad_hn) require_shape(*grad_hn, "grad_h_n", {N, R});
    if (grad_cn) require_shape(*grad_cn, "grad_c_n", {N, H});
    CArray<Scalar> gx({T, N, I}), gh0({N, R}), gc0({N, H});
    std::vector<py::array> gs;
    for (const auto& a : params_) gs.push_back(CArray<Scalar>(shape_of(a)));
    LstmBackwardArgs<Scalar> a;
    a.grad_out = grad_out ? grad_out->data() : nullptr;
    a.grad_h_n = grad_hn ? grad_hn->data() : nullptr;
    a.grad_c_n = grad_cn ? grad_cn->data() : nullptr;
    a.truncated = truncated;
    a.grad_x = gx.mutable_data();
    a.grad_h0 = gh0.mutable_data();
    a.grad_c0 = gc0.mutable_data();
    const bool proj = d.proj_size > 0;
    const auto p = layer_pointers<LstmLayerParams<Scalar>>(params_, d.bias, d.peepholes, proj);
    const auto g = layer_pointers<LstmLayerGrads<Scalar>>(gs, d.bias, d.peepholes, proj);
    {
      py::gil_scoped_release release;
      core_.backward(p, a, g, num_threads);
    }
    py::list grads;
    for (auto& arr : gs) grads.append(arr);
    return py::make_tuple(gx, gh0, gc0, grads);
  }

 private:
  LstmLayer<Scalar> core_;
  std::vector<py::array> params_;  // the parameters of the cached forward
  std::atomic<bool> busy_{false};
};

template <typename Scalar>
void bind_direction(py::module_& m, const char* name) {
  py::class_<LayerDirection<Scalar>>(m, name)
      .def(py::init<std::size_t, std::size_t, bool, bool, bool, std::size_t>(), py::arg("input_size"),
           py::arg("hidden_size"), py::arg("bias"), py::arg("peepholes"), py::arg("reverse"),
           py::arg("proj_size") = 0)
      .def("forward", &LayerDirection<Scalar>::forward, py::arg("params"), py::arg("x"), py::arg("h0"),
           py::arg("c0"), py::arg("lengths"), py::arg("num_threads"))
      .def("backward", &LayerDirection<Scalar>::backward, py::arg("grad_output"), py::arg("grad_h_n"),
           py::arg("grad_c_n"), py::arg("truncated"), py::arg("num_threads"));
}

}  // namespace

void bind_lstm_layer(py::module_& m) {
  bind_direction<double>(m, "LstmLayerF64");
  bind_direction<float>(m, "LstmLayerF32");
  m.def("gemm_kernel", &lstmcore::lstm_layer_gemm_kernel,
        "The GEMM micro-kernel the layer runs in this process (chosen by the build or at run time).");
}

}  // namespace lstmcore_py
