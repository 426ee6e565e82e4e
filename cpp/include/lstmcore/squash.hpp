// Squashing functions and their derivatives, vectorised through Eigen's array expressions
// (Eigen evaluates exp with AVX2/AVX-512 packet maths when the build targets them).
//
// sigmoid(x) = 1/(1+exp(-x)) cannot overflow into NaN: exp(-x) = inf gives 0, exp(-x) = 0 gives 1.
#pragma once

#include <Eigen/Core>
#include <algorithm>

#include "lstmcore/config.hpp"

namespace lstmcore {

template <typename Scalar>
using ArrayMap = Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>>;
template <typename Scalar>
using ConstArrayMap = Eigen::Map<const Eigen::Array<Scalar, Eigen::Dynamic, 1>>;

// Applies f(X, Y) to x, y: [n] in whole SIMD packets: the bulk in place, the tail (n % P elements)
// through a zero-padded packet on the stack. Eigen evaluates exp for whole packets only, and the
// paper's layers have 1-12 units, fewer than one AVX-512 packet: without the padding every exp
// would be a scalar libm call.
template <typename Scalar, typename F>
inline void in_packets(const Scalar* x, Scalar* y, Eigen::Index n, F&& f) {
  constexpr Eigen::Index P = Eigen::internal::packet_traits<Scalar>::size;
  const Eigen::Index bulk = n - n % P;
  if (bulk > 0) f(ConstArrayMap<Scalar>(x, bulk), ArrayMap<Scalar>(y, bulk));
  if (bulk < n) {
    alignas(64) Scalar px[P] = {};
    alignas(64) Scalar py[P];
    std::copy(x + bulk, x + n, px);
    f(Eigen::Map<const Eigen::Array<Scalar, P, 1>, Eigen::Aligned>(px),
      Eigen::Map<Eigen::Array<Scalar, P, 1>, Eigen::Aligned>(py));
    std::copy(py, py + (n - bulk), y + bulk);
  }
}

// y[i] = f(x[i]) for i < n.   x, y: [n]; y may alias x.
template <typename Scalar>
inline void squash(Squash kind, const Scalar* x, Scalar* y, Eigen::Index n) {
  const Scalar one(1);
  switch (kind) {
    // f = 1/(1+e^-x)
    case Squash::Logistic:
      in_packets(x, y, n, [&](const auto& X, auto&& Y) { Y = one / (one + (-X).exp()); });
      break;
    // g = 4/(1+e^-x) - 2
    case Squash::G2:
      in_packets(x, y, n, [&](const auto& X, auto&& Y) { Y = Scalar(4) / (one + (-X).exp()) - Scalar(2); });
      break;
    // h = 2/(1+e^-x) - 1
    case Squash::H1:
      in_packets(x, y, n, [&](const auto& X, auto&& Y) { Y = Scalar(2) / (one + (-X).exp()) - one; });
      break;
    case Squash::Tanh:
      in_packets(x, y, n, [&](const auto& X, auto&& Y) { Y = X.tanh(); });
      break;
    case Squash::Identity:
      std::copy(x, x + n, y);
      break;
  }
}

// d[i] = f'(x[i]), written through the value y[i] = f(x[i]).   y, d: [n]; d may alias y.
template <typename Scalar>
inline void squash_derivative(Squash kind, const Scalar* y, Scalar* d, Eigen::Index n) {
  ConstArrayMap<Scalar> Y(y, n);
  ArrayMap<Scalar> D(d, n);
  const Scalar one(1);
  switch (kind) {
    // f' = f (1 - f)
    case Squash::Logistic: D = Y * (one - Y); break;
    // g = 4s-2 with s = sigmoid: g' = 4 s (1-s) = (2+g)(2-g)/4
    case Squash::G2: D = (Scalar(2) + Y) * (Scalar(2) - Y) * Scalar(0.25); break;
    // h = 2s-1: h' = 2 s (1-s) = (1+h)(1-h)/2
    case Squash::H1: D = (one + Y) * (one - Y) * Scalar(0.5); break;
    // tanh' = (1+t)(1-t)
    case Squash::Tanh: D = (one + Y) * (one - Y); break;
    case Squash::Identity: D.setOnes(); break;
  }
}

// The squashers that are affine in the sigmoid, f = a sigma + b (logistic: a=1, b=0; g2: 4, -2;
// h1: 2, -1), have f' = a sigma (1 - sigma). Returns false for the others (tanh, identity).
template <typename Scalar>
inline bool sigmoid_affine(Squash kind, Scalar& a, Scalar& b) {
  switch (kind) {
    case Squash::Logistic: a = Scalar(1); b = Scalar(0); return true;
    case Squash::G2: a = Scalar(4); b = Scalar(-2); return true;
    case Squash::H1: a = Scalar(2); b = Scalar(-1); return true;
    default: return false;
  }
}

// y = sigmoid(x) over n scalars, n a multiple of the SIMD packet size (whole packets: every exp
// is a packet exp).
template <typename Scalar>
inline void sigmoid_packets(const Scalar* x, Scalar* y, Eigen::Index n) {
  constexpr Eigen::Index P = Eigen::internal::packet_traits<Scalar>::size;
  const Scalar one(1);
  using Packet = Eigen::Array<Scalar, P, 1>;
  for (Eigen::Index i = 0; i < n; i += P)
    Eigen::Map<Packet>(y + i) = one / (one + (-Eigen::Map<const Packet>(x + i)).exp());
}

}  // namespace lstmcore
