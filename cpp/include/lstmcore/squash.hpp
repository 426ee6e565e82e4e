// Squashing functions and their derivatives, vectorised through Eigen's array expressions
// (Eigen evaluates exp with AVX2/AVX-512 packet maths when the build targets them).
//
// sigmoid(x) = 1/(1+exp(-x)) cannot overflow into NaN: exp(-x) = inf gives 0, exp(-x) = 0 gives 1.
#pragma once

#include <Eigen/Core>

#include "lstmcore/config.hpp"

namespace lstmcore {

template <typename Scalar>
using ArrayMap = Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>>;
template <typename Scalar>
using ConstArrayMap = Eigen::Map<const Eigen::Array<Scalar, Eigen::Dynamic, 1>>;

// y[i] = f(x[i]) for i < n.   x, y: [n]; y may alias x.
template <typename Scalar>
inline void squash(Squash kind, const Scalar* x, Scalar* y, Eigen::Index n) {
  ConstArrayMap<Scalar> X(x, n);
  ArrayMap<Scalar> Y(y, n);
  const Scalar one(1);
  switch (kind) {
    // f = 1/(1+e^-x)
    case Squash::Logistic: Y = one / (one + (-X).exp()); break;
    // g = 4/(1+e^-x) - 2
    case Squash::G2: Y = Scalar(4) / (one + (-X).exp()) - Scalar(2); break;
    // h = 2/(1+e^-x) - 1
    case Squash::H1: Y = Scalar(2) / (one + (-X).exp()) - one; break;
    case Squash::Tanh: Y = X.tanh(); break;
    case Squash::Identity: Y = X; break;
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

}  // namespace lstmcore
