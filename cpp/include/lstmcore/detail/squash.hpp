// Internal (not API): the squashing functions, all of them in one place.
//
// 1. The 1997 network's squashers by kind (Squash in config.hpp: logistic, g2, h1, tanh, identity)
//    over arrays, through Eigen's array expressions (Eigen evaluates exp with AVX2/AVX-512 packet
//    maths when the build targets them): squash(), squash_derivative(), sigmoid_affine(),
//    sigmoid_packets(), sigmoid_derivative_from_value(). sigmoid(x) = 1/(1+exp(-x)) cannot
//    overflow into NaN: exp(-x) = inf gives 0, exp(-x) = 0 gives 1.
// 2. The torch-style cell's sigmoid and tanh on single SIMD packets (the layer, the stream and the
//    online trainer): sigmoid_packet(), tanh_any(). float: Eigen's vectorised tanh and exp. double: Eigen 3.4 has no packet tanh (it calls libm once
//    per value), and its packet exp ends in a division, so a sigmoid built on it costs two divisions
//    and a tanh three: the divider was the bottleneck of a double-precision LSTM step. Here every
//    double squasher costs one division, using Cephes' rational exp split into numerator/denominator:
//      exp(y) = 2^n (q + p) / (q - p),  y = n ln2 + r, |r| <= ln2/2,  p = r P(r^2), q = Q(r^2)
//      sigmoid(x) = 1 / (1 + exp(-x))             = (q - p) / ((q - p) + 2^n (q + p))      at y = -x
//      tanh(x), |x| >  0.625: sign(x) (1 - e)/(1 + e), e = exp(-2|x|): the same ratio at y = -2|x|
//      tanh(x), |x| <= 0.625: x + x s P(s) / Q(s), s = x^2 (Cephes' rational fit) = x (Q + s P) / Q
//    with numerator and denominator chosen per lane before the one division. y is clamped to
//    [-40, 709.79] (exp(-40) is below half an ulp of 1; 2^n overflows to inf at the top, giving 0);
//    NaN in gives NaN out. Within 4 ulp of libm (cpp/tests/test_streaming.cpp).
//    The tail of an array that does not fill a packet goes through the same packet code (via a
//    small buffer), so every value gets the same formula wherever it sits.
// 3. The logistic units of the conventional recurrent nets (recurrent_net.cpp): logistic_array(), an
//    Eigen array expression 1 / (1 + exp(-x)) with Eigen's own vectorised exp.
#pragma once

#include <Eigen/Core>
#include <algorithm>

#include "lstmcore/config.hpp"

namespace lstmcore {

// ---- 1. the 1997 network's squashers

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

// f'(x) of the logistic sigmoid from its value y = f(x).
template <typename Scalar>
inline Scalar sigmoid_derivative_from_value(Scalar y) {
  return y * (Scalar(1) - y);
}

// ---- 2. packet sigmoid and tanh of the torch-style cell

namespace detail {

// exp(y) = num / den for y in [-40, 709.79] (clamp y first): num = 2^n (q + p), den = q - p > 0.
struct ExpRatio {
  Eigen::internal::packet_traits<double>::type num, den;
};

inline ExpRatio exp_ratio(const Eigen::internal::packet_traits<double>::type& y) {
  using namespace Eigen::internal;
  using P = packet_traits<double>::type;
  // n = floor(y / ln2 + 1/2);  r = y - n ln2, with ln2 = C1 + C2 split so that n C1 is exact
  const P n = pfloor(pmadd(y, pset1<P>(1.4426950408889634073599), pset1<P>(0.5)));
  const P r = psub(psub(y, pmul(n, pset1<P>(0.693145751953125))), pmul(n, pset1<P>(1.42860682030941723212e-6)));
  const P rr = pmul(r, r);
  // p = r ((P0 r^2 + P1) r^2 + P2);  q = ((Q0 r^2 + Q1) r^2 + Q2) r^2 + Q3
  const P p = pmul(pmadd(pmadd(pset1<P>(1.26177193074810590878e-4), rr, pset1<P>(3.02994407707441961300e-2)), rr,
                         pset1<P>(9.99999999999999999910e-1)),
                   r);
  const P q = pmadd(pmadd(pmadd(pset1<P>(3.00198505138664455042e-6), rr, pset1<P>(2.52448340349684104192e-3)), rr,
                          pset1<P>(2.27265548208155028766e-1)),
                    rr, pset1<P>(2.00000000000000000009e0));
  return {pldexp(padd(q, p), n), psub(q, p)};
}

// x where x is NaN, else v
template <typename P>
inline P keep_nan(const P& x, const P& v) {
  using namespace Eigen::internal;
  return pselect(pcmp_eq(x, x), v, x);
}

inline Eigen::internal::packet_traits<double>::type sigmoid_packet(
    const Eigen::internal::packet_traits<double>::type& x) {
  using namespace Eigen::internal;
  using P = packet_traits<double>::type;
  // exp(-x) = num / den  =>  1 / (1 + exp(-x)) = den / (den + num)
  const ExpRatio e = exp_ratio(pmin(pmax(pnegate(x), pset1<P>(-40.0)), pset1<P>(709.79)));
  return keep_nan(x, pdiv(e.den, padd(e.den, e.num)));
}

inline Eigen::internal::packet_traits<double>::type tanh_packet(
    const Eigen::internal::packet_traits<double>::type& x) {
  using namespace Eigen::internal;
  using P = packet_traits<double>::type;
  const P ax = pabs(x);
  // small |x|: x + x s P(s) / Q(s) = x (Q(s) + s P(s)) / Q(s),  P(s) = (P0 s + P1) s + P2,  Q(s) = ((s + Q0) s + Q1) s + Q2
  const P s = pmul(x, x);
  const P ps = pmadd(pmadd(pset1<P>(-9.64399179425052238628E-1), s, pset1<P>(-9.92877231001918586564E1)), s,
                     pset1<P>(-1.61468768441708447952E3));
  const P qs = pmadd(pmadd(padd(s, pset1<P>(1.12811678491632931402E2)), s, pset1<P>(2.23548839060100448583E3)), s,
                     pset1<P>(4.84406305325125486048E3));
  // large |x|: e = exp(-2|x|) = num / den,  tanh|x| = (1 - e) / (1 + e) = (den - num) / (den + num)
  const ExpRatio e = exp_ratio(pmax(pnegate(padd(ax, ax)), pset1<P>(-40.0)));
  P big_num = psub(e.den, e.num);
  big_num = pselect(pcmp_lt(x, pzero(x)), pnegate(big_num), big_num);
  const P small = pcmp_le(ax, pset1<P>(0.625));
  const P num = pselect(small, pmul(x, pmadd(s, ps, qs)), big_num);
  const P den = pselect(small, qs, padd(e.den, e.num));
  return keep_nan(x, pdiv(num, den));
}

template <typename Scalar>
using Packet = typename Eigen::internal::packet_traits<Scalar>::type;

// float: sigmoid(x) = 1/2 + tanh(x / 2) / 2 with Eigen's rational packet tanh (one division, no exp:
// about half the instructions of 1 / (1 + exp(-x))). Eigen's float tanh saturates at |x| = 8, so the
// result stays within [1.2e-7, 1 - 1.2e-7]: an absolute error below float32's resolution near 1.
// double: the one-division sigmoid_packet above.
inline Packet<float> sigmoid_packet(const Packet<float>& x) {
  using namespace Eigen::internal;
  const Packet<float> half = pset1<Packet<float>>(0.5f);
  return pmadd(half, ptanh(pmul(half, x)), half);
}

inline Packet<float> tanh_any(const Packet<float>& x) { return Eigen::internal::ptanh(x); }
inline Packet<double> tanh_any(const Packet<double>& x) { return tanh_packet(x); }

}  // namespace detail

// ---- 3. the conventional recurrent nets' logistic units

// The expression 1 / (1 + exp(-x)) of an array expression x, for assignment in the same statement
// (`a.array() = logistic_array(net.array());` may write into x itself: it is coefficient-wise).
template <typename Derived>
inline auto logistic_array(const Eigen::ArrayBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  return (Scalar(1) + (-x).exp()).inverse();
}

}  // namespace lstmcore
