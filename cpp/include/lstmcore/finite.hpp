// Whether every value of an array is finite (no NaN, no Inf): the input check of every call that
// takes data from Python, so it must cost little next to the call itself.
#pragma once

#include <cstddef>

namespace lstmcore {

// x - x is exactly 0 for a finite x and NaN for NaN or +-Inf; a sum of such terms is 0 only if
// every term is. Eight independent lanes (k mod 8), so the compiler vectorises the loop without
// reordering any floating-point sum.
template <typename Scalar>
bool all_finite(const Scalar* p, std::size_t n) {
  Scalar lane[8] = {};
  std::size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j) lane[j] += p[k + j] - p[k + j];
  Scalar acc = 0;
  for (; k < n; ++k) acc += p[k] - p[k];
  for (int j = 0; j < 8; ++j) acc += lane[j];
  return acc == Scalar(0);
}

}  // namespace lstmcore
