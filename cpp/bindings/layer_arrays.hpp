// The one marshalling helper for the parameters (or gradients) of a torch-style layer direction:
// a Python list of arrays in the fixed order
//   [W_ih (4H, I), W_hh (4H, R), b_ih, b_hh (4H,) if bias, w_ci, w_cf, w_co (H,) if peepholes,
//    W_hr (P, H) if proj_size P > 0]      (R = P with a projection, else H)
// checked against those shapes, and turned into the core's LstmLayerParams / LstmLayerGrads.
// No maths here.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common.hpp"
#include "lstmcore/lstm_layer.hpp"

namespace lstmcore_py {

// How the arrays reach the core.
enum class ArrayUse {
  Copy,           // converted to C-contiguous arrays of Scalar if needed (read during one call)
  Live,           // used in place, never copied: must already be C-contiguous arrays of Scalar
  LiveWriteable,  // as Live, and writeable (gradients the core accumulates into)
};

// Names and shapes of a layer direction's arrays, in list order.
inline std::vector<std::pair<const char*, std::vector<py::ssize_t>>> layer_array_shapes(py::ssize_t I, py::ssize_t H,
                                                                                       bool bias, bool peepholes,
                                                                                       py::ssize_t P = 0) {
  std::vector<std::pair<const char*, std::vector<py::ssize_t>>> shapes = {{"W_ih", {4 * H, I}},
                                                                          {"W_hh", {4 * H, P ? P : H}}};
  if (bias) {
    shapes.push_back({"b_ih", {4 * H}});
    shapes.push_back({"b_hh", {4 * H}});
  }
  if (peepholes) {
    shapes.push_back({"w_ci", {H}});
    shapes.push_back({"w_cf", {H}});
    shapes.push_back({"w_co", {H}});
  }
  if (P) shapes.push_back({"W_hr", {P, H}});
  return shapes;
}

// The checked arrays of `list` (named `what` in errors: "params: expected 4 arrays, got 3",
// "params W_ih: expected shape (8, 3), got (8, 2)").
template <typename Scalar>
std::vector<py::array> layer_arrays(const py::list& list, const std::string& what, py::ssize_t I, py::ssize_t H,
                                    bool bias, bool peepholes, ArrayUse use, py::ssize_t P = 0) {
  const auto shapes = layer_array_shapes(I, H, bias, peepholes, P);
  if (list.size() != shapes.size())
    throw py::value_error(what + ": expected " + std::to_string(shapes.size()) + " arrays, got " +
                          std::to_string(list.size()));
  std::vector<py::array> arrays;
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    const std::string name = what + " " + shapes[k].first;
    if (use == ArrayUse::Copy) {
      auto a = py::cast<CArray<Scalar>>(list[k]);
      require_shape(a, name.c_str(), shapes[k].second);
      arrays.push_back(std::move(a));
    } else {
      arrays.push_back(live_array<Scalar>(list[k], name, shapes[k].second, use == ArrayUse::LiveWriteable));
    }
  }
  return arrays;
}

// LstmLayerParams<Scalar> (Target's pointers const) or LstmLayerGrads<Scalar> over arrays in
// list order (as checked by layer_arrays with the same bias, peepholes and projection).
template <typename Target>
Target layer_pointers(const std::vector<py::array>& arrays, bool bias, bool peepholes, bool proj = false) {
  using Ptr = decltype(Target{}.W_ih);
  auto at = [&](std::size_t k) { return static_cast<Ptr>(const_cast<void*>(arrays[k].data())); };
  Target t;
  t.W_ih = at(0);
  t.W_hh = at(1);
  std::size_t k = 2;
  if (bias) {
    t.b_ih = at(k++);
    t.b_hh = at(k++);
  }
  if (peepholes) {
    t.w_ci = at(k++);
    t.w_cf = at(k++);
    t.w_co = at(k++);
  }
  if (proj) t.W_hr = at(k++);
  return t;
}

}  // namespace lstmcore_py
