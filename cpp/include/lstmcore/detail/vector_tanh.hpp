// Internal (not API): tanh of an array in place, vectorised for float and double alike.
// float: Eigen's vectorised tanh. double: Eigen 3.4 has none (it calls libm once per value, the
// largest cost of a small double-precision LSTM step), so Cephes' tanh, in Eigen's packets:
//   |x| >  0.625: tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1))
//   |x| <= 0.625: tanh(x) = x + x s P(s) / Q(s),  s = x^2    (Cephes' rational fit, ~1e-16 relative)
// The tail of an array that does not fill a packet goes through the same packet code (via a
// small buffer), so every value gets the same formula wherever it sits.
#pragma once

#include <Eigen/Core>
#include <algorithm>

namespace lstmcore {
namespace detail {

inline Eigen::internal::packet_traits<double>::type tanh_packet(
    const Eigen::internal::packet_traits<double>::type& x) {
  using namespace Eigen::internal;
  using P = packet_traits<double>::type;
  const P one = pset1<P>(1.0), two = pset1<P>(2.0);
  const P ax = pabs(x);
  // small: x + x s P(s) / Q(s),  P(s) = (P0 s + P1) s + P2,  Q(s) = ((s + Q0) s + Q1) s + Q2
  const P s = pmul(x, x);
  const P num = pmadd(pmadd(pset1<P>(-9.64399179425052238628E-1), s, pset1<P>(-9.92877231001918586564E1)), s,
                      pset1<P>(-1.61468768441708447952E3));
  const P den = pmadd(pmadd(padd(s, pset1<P>(1.12811678491632931402E2)), s, pset1<P>(2.23548839060100448583E3)), s,
                      pset1<P>(4.84406305325125486048E3));
  const P small = pmadd(pmul(x, s), pdiv(num, den), x);
  // big: 1 - 2 / (exp(2|x|) + 1), with the sign of x
  P big = psub(one, pdiv(two, padd(pexp(padd(ax, ax)), one)));
  big = pselect(pcmp_lt(x, pzero(x)), pnegate(big), big);
  return pselect(pcmp_le(ax, pset1<P>(0.625)), small, big);
}

// v[0 .. n) = tanh(v[0 .. n))
inline void tanh_inplace(double* v, Eigen::Index n) {
  using namespace Eigen::internal;
  using P = packet_traits<double>::type;
  constexpr Eigen::Index L = packet_traits<double>::size;
  Eigen::Index k = 0;
  for (; k + L <= n; k += L) pstoreu(v + k, tanh_packet(ploadu<P>(v + k)));
  if (k < n) {
    double buf[L] = {};
    std::copy(v + k, v + n, buf);
    pstoreu(buf, tanh_packet(ploadu<P>(buf)));
    std::copy(buf, buf + (n - k), v + k);
  }
}

inline void tanh_inplace(float* v, Eigen::Index n) {
  Eigen::Map<Eigen::Array<float, Eigen::Dynamic, 1>> a(v, n);
  a = a.tanh();
}

}  // namespace detail
}  // namespace lstmcore
