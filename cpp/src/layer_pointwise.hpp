// The pointwise part of one forward step of the torch-style layer (lstm_layer.hpp), for one row of
// the batch, fused into a single pass over the hidden units in SIMD packets (Eigen's packet math:
// AVX2, SSE2, NEON, ... as built). Per packet of units j:
//   i = sigmoid(a_i + w_ci * c(t-1)),  f = sigmoid(a_f + w_cf * c(t-1)),  g = tanh(a_g)
//   c = f * c(t-1) + i * g,  o = sigmoid(a_o + w_co * c),  h = o * tanh(c)
// with sigmoid(x) = 1 / (1 + exp(-x)) (exp(-x) = inf for very negative x gives 0, never NaN) and the
// vectorised tanh of detail/vector_tanh.hpp. A tail of fewer than a packet of units goes through the
// same packet code via small buffers, so every unit gets the same formula wherever it sits.
#pragma once

#include <Eigen/Core>
#include <algorithm>

#include "lstmcore/detail/vector_tanh.hpp"

namespace lstmcore {
namespace detail {

template <typename Scalar>
using Packet = typename Eigen::internal::packet_traits<Scalar>::type;

template <typename P>
inline P sigmoid_packet(const P& x) {
  using namespace Eigen::internal;
  const P one = pset1<P>(1);
  // 1 / (1 + exp(-x))
  return pdiv(one, padd(one, pexp(pnegate(x))));
}

inline Packet<float> tanh_any(const Packet<float>& x) { return Eigen::internal::ptanh(x); }
inline Packet<double> tanh_any(const Packet<double>& x) { return tanh_packet(x); }

// One packet of units. ai, af, ag, ao: pre-activations in, activated gates out; c: c(t-1) in, c(t)
// out; h: out. w_ci, w_cf, w_co: peephole weights, or nullptr.
template <typename Scalar>
inline void cell_packet(Scalar* ai, Scalar* af, Scalar* ag, Scalar* ao, Scalar* c, Scalar* h, const Scalar* w_ci,
                        const Scalar* w_cf, const Scalar* w_co) {
  using namespace Eigen::internal;
  using P = Packet<Scalar>;
  const P cp = ploadu<P>(c);
  P xi = ploadu<P>(ai), xf = ploadu<P>(af);
  if (w_ci) {
    // a_i += w_ci * c(t-1);  a_f += w_cf * c(t-1)
    xi = pmadd(ploadu<P>(w_ci), cp, xi);
    xf = pmadd(ploadu<P>(w_cf), cp, xf);
  }
  // i = sigmoid(a_i);  f = sigmoid(a_f);  g = tanh(a_g)
  const P i = sigmoid_packet(xi), f = sigmoid_packet(xf), g = tanh_any(ploadu<P>(ag));
  // c = f * c(t-1) + i * g
  const P cn = pmadd(f, cp, pmul(i, g));
  // o = sigmoid(a_o [+ w_co * c])
  P xo = ploadu<P>(ao);
  if (w_co) xo = pmadd(ploadu<P>(w_co), cn, xo);
  const P o = sigmoid_packet(xo);
  pstoreu(ai, i);
  pstoreu(af, f);
  pstoreu(ag, g);
  pstoreu(ao, o);
  pstoreu(c, cn);
  // h = o * tanh(c)
  pstoreu(h, pmul(o, tanh_any(cn)));
}

// One row: a [4H] pre-activations in (i, f, g, o blocks), activated gates out; c [H]: c(t-1) in,
// c(t) out; h [H] out.
template <typename Scalar>
inline void cell_row(Eigen::Index H, const Scalar* w_ci, const Scalar* w_cf, const Scalar* w_co, Scalar* a,
                     Scalar* c, Scalar* h) {
  constexpr Eigen::Index L = Eigen::internal::packet_traits<Scalar>::size;
  Eigen::Index j = 0;
  for (; j + L <= H; j += L)
    cell_packet<Scalar>(a + j, a + H + j, a + 2 * H + j, a + 3 * H + j, c + j, h + j, w_ci ? w_ci + j : nullptr,
                        w_cf ? w_cf + j : nullptr, w_co ? w_co + j : nullptr);
  if (j < H) {
    // the tail, through buffers of one packet (zero-padded: the padding lanes are discarded)
    const Eigen::Index n = H - j;
    Scalar b[9][L] = {};
    for (int q = 0; q < 4; ++q) std::copy(a + q * H + j, a + q * H + H, b[q]);
    std::copy(c + j, c + H, b[4]);
    if (w_ci) {
      std::copy(w_ci + j, w_ci + H, b[6]);
      std::copy(w_cf + j, w_cf + H, b[7]);
      std::copy(w_co + j, w_co + H, b[8]);
    }
    cell_packet<Scalar>(b[0], b[1], b[2], b[3], b[4], b[5], w_ci ? b[6] : nullptr, w_ci ? b[7] : nullptr,
                        w_ci ? b[8] : nullptr);
    for (int q = 0; q < 4; ++q) std::copy(b[q], b[q] + n, a + q * H + j);
    std::copy(b[4], b[4] + n, c + j);
    std::copy(b[5], b[5] + n, h + j);
  }
}

// dst[0 .. n) = tanh(src[0 .. n))
template <typename Scalar>
inline void tanh_to(const Scalar* src, Eigen::Index n, Scalar* dst) {
  std::copy(src, src + n, dst);
  tanh_inplace(dst, n);
}

}  // namespace detail
}  // namespace lstmcore
