// Internal (not API): vectorised tanh and logistic sigmoid for float and double alike.
// float: Eigen's vectorised tanh and exp. double: Eigen 3.4 has no packet tanh (it calls libm once
// per value), and its packet exp ends in a division, so a sigmoid built on it costs two divisions
// and a tanh three: the divider was the bottleneck of a double-precision LSTM step. Here every
// double squasher costs one division, using Cephes' rational exp split into numerator/denominator:
//   exp(y) = 2^n (q + p) / (q - p),  y = n ln2 + r, |r| <= ln2/2,  p = r P(r^2), q = Q(r^2)
//   sigmoid(x) = 1 / (1 + exp(-x))             = (q - p) / ((q - p) + 2^n (q + p))      at y = -x
//   tanh(x), |x| >  0.625: sign(x) (1 - e)/(1 + e), e = exp(-2|x|): the same ratio at y = -2|x|
//   tanh(x), |x| <= 0.625: x + x s P(s) / Q(s), s = x^2 (Cephes' rational fit) = x (Q + s P) / Q
// with numerator and denominator chosen per lane before the one division. y is clamped to
// [-40, 709.79] (exp(-40) is below half an ulp of 1; 2^n overflows to inf at the top, giving 0);
// NaN in gives NaN out. Within 4 ulp of libm (cpp/tests/test_streaming.cpp).
// The tail of an array that does not fill a packet goes through the same packet code (via a
// small buffer), so every value gets the same formula wherever it sits.
#pragma once

#include <Eigen/Core>

namespace lstmcore {
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

}  // namespace detail
}  // namespace lstmcore
