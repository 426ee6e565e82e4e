// Input checks the Python layer calls on every array it passes on (lstmcore.all_finite).
#include "common.hpp"

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
}

}  // namespace lstmcore_py
