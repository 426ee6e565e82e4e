// Shared by every bind_<topic>.cpp: pybind11 includes and array helpers. No maths here.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "lstmcore/finite.hpp"

namespace lstmcore_py {

namespace py = pybind11;

// C-contiguous array of T (the Python layer converts once; here we only check).
template <typename T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

inline std::string shape_str(const std::vector<py::ssize_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// Throws ValueError "name: expected (a, b), got (c, d)" unless arr has exactly this shape.
template <typename T>
void require_shape(const CArray<T>& arr, const char* name, const std::vector<py::ssize_t>& expected) {
  std::vector<py::ssize_t> got(arr.shape(), arr.shape() + arr.ndim());
  if (got != expected)
    throw py::value_error(std::string(name) + ": expected shape " + shape_str(expected) + ", got " + shape_str(got));
}

// One sequence of a net with n_in inputs and n_out outputs.
// x: (T, n_in) -> T; ValueError naming x otherwise.
template <typename Scalar>
std::size_t sequence_length(const CArray<Scalar>& x, std::size_t n_in) {
  if (x.ndim() != 2 || std::size_t(x.shape(1)) != n_in)
    throw py::value_error("x: expected shape (T, " + std::to_string(n_in) + "), got " +
                          shape_str(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim())));
  return std::size_t(x.shape(0));
}
// target: (T, n_out), mask: (T,) or none; ValueError naming the one that differs.
template <typename Scalar>
void require_target_mask(const CArray<Scalar>& target, const std::optional<CArray<std::uint8_t>>& mask,
                         std::size_t T, std::size_t n_out) {
  require_shape(target, "target", {py::ssize_t(T), py::ssize_t(n_out)});
  if (mask) require_shape(*mask, "mask", {py::ssize_t(T)});
}

// The one-object-one-thread rule, enforced here and only here: the GIL is released while the
// core computes, and an object of the core is not thread-safe, so a call that finds its object in
// use by another thread is refused at once (RuntimeError; it does not wait). Separate objects run
// in parallel. The Python package's objects hold a BusyFlag (lstmcore._busy); the binding classes
// guard their own calls with BusyGuard. `what` names the call: "LSTM.forward", "LSTMStream.step".
inline std::string busy_message(const std::string& what) {
  return what + ": this object is in use by another thread; use one object per thread (or serialize the calls "
                "with a lock of your own)";
}

class BusyGuard {
 public:
  explicit BusyGuard(std::atomic<bool>& flag, const char* what = "this network") : flag_(flag) {
    if (flag_.exchange(true)) throw std::runtime_error(busy_message(what));
  }
  ~BusyGuard() { flag_.store(false); }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  std::atomic<bool>& flag_;
};

// The same rule for an object that spans several core calls (lstmcore._busy.exclusive): enter()
// takes the object or throws, exit() gives it back.
class BusyFlag {
 public:
  void enter(const std::string& what) {
    if (flag_.exchange(true)) throw std::runtime_error(busy_message(what));
  }
  void exit() { flag_.store(false); }

 private:
  std::atomic<bool> flag_{false};
};

// ---- per-step arguments (streaming): a fast path that costs a few pointer checks -------------

// The data of `obj` if it is exactly a NumPy ndarray (not a subclass) of Scalar, native byte order,
// C-contiguous and aligned (and writeable if asked), with exactly this shape; else nullptr.
template <typename Scalar>
Scalar* exact_array_data(py::handle obj, int ndim, const py::ssize_t* shape, bool writeable = false) {
  const auto& api = py::detail::npy_api::get();
  if (Py_TYPE(obj.ptr()) != api.PyArray_Type_) return nullptr;
  const auto* a = py::detail::array_proxy(obj.ptr());
  int need = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  if (writeable) need |= py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  if ((a->flags & need) != need || a->nd != ndim) return nullptr;
  const auto* d = py::detail::array_descriptor_proxy(a->descr);
  if (d->type_num != py::detail::npy_format_descriptor<Scalar>::value || d->byteorder == '>') return nullptr;
  for (int k = 0; k < ndim; ++k)
    if (a->dimensions[k] != shape[k]) return nullptr;
  return reinterpret_cast<Scalar*>(a->data);
}

using lstmcore::all_finite;

// The slow path of a per-step input: anything array-like of real numbers with exactly `shape`,
// converted to a C-contiguous array of Scalar, finite. TypeError / ValueError name the argument.
template <typename Scalar>
CArray<Scalar> step_input(py::handle obj, const char* name, const std::vector<py::ssize_t>& shape) {
  if (obj.is_none() || py::isinstance<py::str>(obj) || py::isinstance<py::bytes>(obj))
    throw py::type_error(std::string(name) + ": expected a real numeric array, got " +
                         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  py::array arr = py::array::ensure(obj);
  if (!arr) throw py::type_error(std::string(name) + ": expected a real numeric array of shape " + shape_str(shape));
  const char kind = arr.dtype().kind();
  if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f')
    throw py::type_error(std::string(name) + ": expected a real numeric array, got dtype " +
                         std::string(py::str(arr.dtype())));
  std::vector<py::ssize_t> got(arr.shape(), arr.shape() + arr.ndim());
  if (got != shape)
    throw py::value_error(std::string(name) + ": expected shape " + shape_str(shape) + ", got " + shape_str(got));
  CArray<Scalar> out = CArray<Scalar>::ensure(arr);
  if (!out)
    throw py::type_error(std::string(name) + ": cannot convert to " + std::string(py::str(py::dtype::of<Scalar>())));
  if (!all_finite(out.data(), std::size_t(out.size())))
    throw py::value_error(std::string(name) + ": expected finite values, got NaN or Inf");
  return out;
}

// A new C-contiguous ndarray of Scalar (uninitialised) straight from NumPy's C API: no shape
// vectors, no dtype lookup (the descriptor is cached), so a step's result costs one allocation.
template <typename Scalar>
py::object new_step_array(int ndim, const py::ssize_t* shape) {
  const auto& api = py::detail::npy_api::get();
  static PyObject* const descr = py::dtype::of<Scalar>().release().ptr();  // kept for the process
  Py_INCREF(descr);  // stolen by PyArray_NewFromDescr
  PyObject* arr = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, ndim, shape, nullptr, nullptr, 0, nullptr);
  if (!arr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(arr);
}

// The `out` argument of a step: None (a new array is returned) or a writeable, C-contiguous array
// of Scalar with exactly `shape`, which is filled and returned.
template <typename Scalar>
Scalar* step_output(py::handle out, const std::vector<py::ssize_t>& shape) {
  if (Scalar* p = exact_array_data<Scalar>(out, int(shape.size()), shape.data(), true)) return p;
  if (!py::isinstance<py::array>(out))
    throw py::type_error("out: expected None or a numpy array, got " +
                         std::string(py::str(py::type::handle_of(out).attr("__name__"))));
  py::array arr = py::reinterpret_borrow<py::array>(out);
  std::vector<py::ssize_t> got(arr.shape(), arr.shape() + arr.ndim());
  throw py::value_error("out: expected a writeable C-contiguous " + std::string(py::str(py::dtype::of<Scalar>())) +
                        " array of shape " + shape_str(shape) + ", got " + std::string(py::str(arr.dtype())) +
                        " array of shape " + shape_str(got) + (arr.writeable() ? "" : " (read-only)"));
}

// The input of a step: a pointer to obj's data when it is already a C-contiguous array of Scalar with
// exactly `shape` (checked for NaN/Inf: n values), else to `converted`, filled by step_input.
template <typename Scalar>
const Scalar* step_input_data(py::handle obj, const char* name, const std::vector<py::ssize_t>& shape, std::size_t n,
                              CArray<Scalar>& converted) {
  const Scalar* p = exact_array_data<Scalar>(obj, int(shape.size()), shape.data());
  if (!p) {
    converted = step_input<Scalar>(obj, name, shape);
    return converted.data();
  }
  if (!all_finite(p, n)) throw py::value_error(std::string(name) + ": expected finite values, got NaN or Inf");
  return p;
}

// The result of a step: a new array of `shape` when out is None, else `out` itself (step_output),
// with the pointer the core writes to.
template <typename Scalar>
std::pair<py::object, Scalar*> step_result(py::handle out, const std::vector<py::ssize_t>& shape) {
  if (out.is_none()) {
    py::object result = new_step_array<Scalar>(int(shape.size()), shape.data());
    return {result, reinterpret_cast<Scalar*>(py::detail::array_proxy(result.ptr())->data)};
  }
  Scalar* p = step_output<Scalar>(out, shape);
  return {py::reinterpret_borrow<py::object>(out), p};
}

// f(), with the GIL released when `release` (worth it only for steps with enough work).
template <typename F>
void call_released_if(bool release, F&& f) {
  if (release) {
    py::gil_scoped_release unlocked;
    f();
  } else {
    f();
  }
}

// A parameter array the core will read at every call (not copied: in-place updates must reach
// the core): a C-contiguous ndarray of Scalar with exactly `shape`.
template <typename Scalar>
py::array live_array(py::handle obj, const std::string& name, const std::vector<py::ssize_t>& shape,
                     bool writeable = false) {
  if (!exact_array_data<Scalar>(obj, int(shape.size()), shape.data(), writeable))
    throw py::value_error(name + ": expected a C-contiguous " + std::string(py::str(py::dtype::of<Scalar>())) +
                          " array of shape " + shape_str(shape) + " (used in place, never copied)");
  return py::reinterpret_borrow<py::array>(obj);
}

void bind_lstm1997(py::module_& m);
void bind_lstm_layer(py::module_& m);
void bind_lstm_stream(py::module_& m);
void bind_lstm_online(py::module_& m);
void bind_checks(py::module_& m);
void bind_threads(py::module_& m);

}  // namespace lstmcore_py
