// Shared by every bind_<topic>.cpp: pybind11 includes and array helpers. No maths here.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

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

// Refuses concurrent use of one object from several Python threads (the GIL is released while
// the core computes, and a network object is not thread-safe).
class BusyGuard {
 public:
  explicit BusyGuard(std::atomic<bool>& flag) : flag_(flag) {
    if (flag_.exchange(true))
      throw std::runtime_error(
          "this network is in use by another thread; use one network object per thread");
  }
  ~BusyGuard() { flag_.store(false); }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  std::atomic<bool>& flag_;
};

void bind_lstm1997(py::module_& m);
void bind_lstm_layer(py::module_& m);

}  // namespace lstmcore_py
