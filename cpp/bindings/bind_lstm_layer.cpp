// Bindings of one direction of the torch-style LSTM layer (lstmcore::lstm_layer_forward/backward,
// float and double): argument checks and array marshalling only.
#include <cstdint>

#include "common.hpp"
#include "lstmcore/lstm_layer.hpp"

namespace lstmcore_py {

using lstmcore::LstmLayerCache;
using lstmcore::LstmLayerDims;
using lstmcore::LstmLayerGrads;
using lstmcore::LstmLayerParams;

namespace {

std::vector<py::ssize_t> shape_of(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

// One layer direction with the cache of its most recent forward pass. The parameter arrays of that
// forward are kept (referenced) for its backward.
template <typename Scalar>
class LayerDirection {
 public:
  LayerDirection(std::size_t input_size, std::size_t hidden_size, bool bias, bool peepholes, bool reverse) {
    dims_.input_size = input_size;
    dims_.hidden_size = hidden_size;
    dims_.bias = bias;
    dims_.peepholes = peepholes;
    dims_.reverse = reverse;
    dims_.validate();
  }

  // params: [W_ih (4H, I), W_hh (4H, H), b_ih (4H,), b_hh (4H,) if bias, w_ci, w_cf, w_co (H,) if peepholes]
  // x: (T, N, I); h0, c0: (N, H) or None; lengths: (N,) int64 or None.
  py::tuple forward(const py::list& params, const CArray<Scalar>& x, const std::optional<CArray<Scalar>>& h0,
                    const std::optional<CArray<Scalar>>& c0,
                    const std::optional<CArray<std::int64_t>>& lengths, int num_threads) {
    BusyGuard guard(busy_);
    const py::ssize_t I = py::ssize_t(dims_.input_size), H = py::ssize_t(dims_.hidden_size);
    if (x.ndim() != 3 || x.shape(2) != I || x.shape(0) < 1 || x.shape(1) < 1)
      throw py::value_error("x: expected shape (T, N, " + std::to_string(I) + ") with T, N >= 1, got " +
                            shape_str(shape_of(x)));
    const py::ssize_t T = x.shape(0), N = x.shape(1);
    std::vector<CArray<Scalar>> ps = check_params(params);
    if (h0) require_shape(*h0, "h0", {N, H});
    if (c0) require_shape(*c0, "c0", {N, H});
    if (lengths) require_shape(*lengths, "lengths", {N});
    CArray<Scalar> out({T, N, H}), hn({N, H}), cn({N, H});
    const LstmLayerParams<Scalar> p = to_params(ps);
    const Scalar* xp = x.data();
    const Scalar* h0p = h0 ? h0->data() : nullptr;
    const Scalar* c0p = c0 ? c0->data() : nullptr;
    const std::int64_t* lp = lengths ? lengths->data() : nullptr;
    Scalar *op = out.mutable_data(), *hp = hn.mutable_data(), *cp = cn.mutable_data();
    has_forward_ = false;
    {
      py::gil_scoped_release release;
      lstmcore::lstm_layer_forward<Scalar>(dims_, p, xp, std::size_t(T), std::size_t(N), h0p, c0p, lp, op, hp, cp,
                                           cache_, num_threads);
    }
    params_ = std::move(ps);
    has_forward_ = true;
    return py::make_tuple(out, hn, cn);
  }

  // grad_out: (T, N, H) or None; grad_hn, grad_cn: (N, H) or None.
  // Returns (grad_x (T, N, I), grad_h0 (N, H), grad_c0 (N, H), [grads in the order of params]).
  py::tuple backward(const std::optional<CArray<Scalar>>& grad_out, const std::optional<CArray<Scalar>>& grad_hn,
                     const std::optional<CArray<Scalar>>& grad_cn, bool truncated, int num_threads) {
    BusyGuard guard(busy_);
    if (!has_forward_) throw py::value_error("backward: no forward pass to differentiate");
    const py::ssize_t I = py::ssize_t(dims_.input_size), H = py::ssize_t(dims_.hidden_size);
    const py::ssize_t T = py::ssize_t(cache_.T), N = py::ssize_t(cache_.N);
    if (grad_out) require_shape(*grad_out, "grad_output", {T, N, H});
    if (grad_hn) require_shape(*grad_hn, "grad_h_n", {N, H});
    if (grad_cn) require_shape(*grad_cn, "grad_c_n", {N, H});
    CArray<Scalar> gx({T, N, I}), gh0({N, H}), gc0({N, H});
    std::vector<CArray<Scalar>> gs;
    for (const auto& a : params_) gs.emplace_back(shape_of(a));
    LstmLayerGrads<Scalar> g;
    g.W_ih = gs[0].mutable_data();
    g.W_hh = gs[1].mutable_data();
    std::size_t k = 2;
    if (dims_.bias) {
      g.b_ih = gs[k++].mutable_data();
      g.b_hh = gs[k++].mutable_data();
    }
    if (dims_.peepholes) {
      g.w_ci = gs[k++].mutable_data();
      g.w_cf = gs[k++].mutable_data();
      g.w_co = gs[k++].mutable_data();
    }
    const LstmLayerParams<Scalar> p = to_params(params_);
    const Scalar* gop = grad_out ? grad_out->data() : nullptr;
    const Scalar* ghp = grad_hn ? grad_hn->data() : nullptr;
    const Scalar* gcp = grad_cn ? grad_cn->data() : nullptr;
    Scalar *gxp = gx.mutable_data(), *gh0p = gh0.mutable_data(), *gc0p = gc0.mutable_data();
    {
      py::gil_scoped_release release;
      lstmcore::lstm_layer_backward<Scalar>(dims_, p, cache_, gop, ghp, gcp, truncated, gxp, gh0p, gc0p, g,
                                            num_threads);
    }
    py::list grads;
    for (auto& a : gs) grads.append(a);
    return py::make_tuple(gx, gh0, gc0, grads);
  }

 private:
  std::vector<CArray<Scalar>> check_params(const py::list& params) const {
    const py::ssize_t I = py::ssize_t(dims_.input_size), H = py::ssize_t(dims_.hidden_size);
    std::vector<std::pair<const char*, std::vector<py::ssize_t>>> expected = {{"W_ih", {4 * H, I}},
                                                                              {"W_hh", {4 * H, H}}};
    if (dims_.bias) {
      expected.push_back({"b_ih", {4 * H}});
      expected.push_back({"b_hh", {4 * H}});
    }
    if (dims_.peepholes) {
      expected.push_back({"w_ci", {H}});
      expected.push_back({"w_cf", {H}});
      expected.push_back({"w_co", {H}});
    }
    if (params.size() != expected.size())
      throw py::value_error("params: expected " + std::to_string(expected.size()) + " arrays, got " +
                            std::to_string(params.size()));
    std::vector<CArray<Scalar>> out;
    for (std::size_t k = 0; k < expected.size(); ++k) {
      auto a = py::cast<CArray<Scalar>>(params[k]);
      require_shape(a, expected[k].first, expected[k].second);
      out.push_back(std::move(a));
    }
    return out;
  }

  LstmLayerParams<Scalar> to_params(const std::vector<CArray<Scalar>>& ps) const {
    LstmLayerParams<Scalar> p;
    p.W_ih = ps[0].data();
    p.W_hh = ps[1].data();
    std::size_t k = 2;
    if (dims_.bias) {
      p.b_ih = ps[k++].data();
      p.b_hh = ps[k++].data();
    }
    if (dims_.peepholes) {
      p.w_ci = ps[k++].data();
      p.w_cf = ps[k++].data();
      p.w_co = ps[k++].data();
    }
    return p;
  }

  LstmLayerDims dims_;
  LstmLayerCache<Scalar> cache_;
  std::vector<CArray<Scalar>> params_;
  bool has_forward_ = false;
  std::atomic<bool> busy_{false};
};

template <typename Scalar>
void bind_direction(py::module_& m, const char* name) {
  py::class_<LayerDirection<Scalar>>(m, name)
      .def(py::init<std::size_t, std::size_t, bool, bool, bool>(), py::arg("input_size"), py::arg("hidden_size"),
           py::arg("bias"), py::arg("peepholes"), py::arg("reverse"))
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
