// Input checks the Python layer calls on every array it passes on (lstmcore.all_finite), and the
// core's size limits and memory estimates (the Python package's only source of them).
#include "common.hpp"
#include "lstmcore/config.hpp"
#include "lstmcore/lstm_layer.hpp"

namespace lstmcore_py {

namespace {

// Arrays of at least this many values are checked without the GIL.
constexpr std::size_t kReleaseGil = std::size_t(1) << 16;

template <typename Scalar>
bool finite_values(const py::array& arr) {
  const auto* p = static_cast<const Scalar*>(arr.data());
  const auto n = std::size_t(arr.size());
  if (n < kReleaseGil) return all_finite(p, n);
  py::gil_scoped_release release;
  return all_finite(p, n);
}

}  // namespace

void bind_checks(py::module_& m) {
  // arr: any ndarray. True/False for a C-contiguous, aligned float32/float64 array in native byte
  // order; None for anything else (the caller checks those itself).
  m.def(
      "all_finite",
      [](const py::array& arr) -> py::object {
        const auto* a = py::detail::array_proxy(arr.ptr());
        const int need = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
        const auto* d = py::detail::array_descriptor_proxy(a->descr);
        if ((a->flags & need) != need || d->byteorder == '>') return py::none();
        if (d->type_num == py::detail::npy_format_descriptor<float>::value) return py::bool_(finite_values<float>(arr));
        if (d->type_num == py::detail::npy_format_descriptor<double>::value) return py::bool_(finite_values<double>(arr));
        return py::none();
      },
      py::arg("arr"), "Whether every value of a C-contiguous float32/float64 array is finite; None for other arrays.");

  py::class_<BusyFlag>(m, "BusyFlag", "One object, one thread at a time (see common.hpp): enter(what) or RuntimeError.")
      .def(py::init<>())
      .def("enter", &BusyFlag::enter, py::arg("what"))
      .def("exit", &BusyFlag::exit);

  m.attr("MAX_SIZE") = lstmcore::kMaxSize;
  m.attr("MAX_LAYERS") = lstmcore::kMaxLayers;
  m.def(
      "lstm1997_sizes",
      [](const lstmcore::Lstm1997Config& cfg) {
        return py::make_tuple(cfg.buffer_values(), cfg.history_values_per_step());
      },
      py::arg("config"),
      "(values of the flat parameter buffer, values per step of a backward pass's history) of a 1997 "
      "network; floats, valid for any sizes.");
  m.def(
      "layer_sizes",
      [](std::size_t input_size, std::size_t hidden_size, bool bias, bool peepholes, std::size_t proj_size) {
        lstmcore::LstmLayerDims d;
        d.input_size = input_size;
        d.hidden_size = hidden_size;
        d.bias = bias;
        d.peepholes = peepholes;
        d.proj_size = proj_size;
        return py::make_tuple(d.param_values(), d.forward_values_per_item());
      },
      py::arg("input_size"), py::arg("hidden_size"), py::arg("bias"), py::arg("peepholes"), py::arg("proj_size") = 0,
      "(parameter values, values a forward keeps per step and sequence) of one layer direction; floats.");
}

}  // namespace lstmcore_py
