// Internal (not API): the pointwise maths of the torch-style cell (lstm_layer.hpp), shared by the
// layer (lstm_layer.cpp), the stream and the online trainer (detail/cell_step.hpp).
// Forward: one row of the batch, fused into a single pass over the hidden units in SIMD packets (Eigen's packet math:
// AVX2, SSE2, NEON, ... as built). Per packet of units j:
//   i = sigmoid(a_i + w_ci * c(t-1)),  f = sigmoid(a_f + w_cf * c(t-1)),  g = tanh(a_g)
//   c = f * c(t-1) + i * g,  o = sigmoid(a_o + w_co * c),  h = o * tanh(c)
// with the vectorised sigmoid and tanh of detail/squash.hpp (one division each in double).
// A tail of fewer than a packet of units goes through the same packet code via small buffers, so
// every unit gets the same formula wherever it sits.
#pragma once

#include <Eigen/Core>
#include <algorithm>

#include "lstmcore/detail/squash.hpp"

namespace lstmcore {
namespace detail {

// One packet of units. ai, af, ag, ao: pre-activations in, activated gates out; c_prev: c(t-1) in;
// c: c(t) out (may be c_prev); h: out; tc: tanh(c(t)) out, or nullptr. w_ci, w_cf, w_co: peephole
// weights, or nullptr.
template <typename Scalar>
inline void cell_packet(Scalar* ai, Scalar* af, Scalar* ag, Scalar* ao, const Scalar* c_prev, Scalar* c, Scalar* h,
                        Scalar* tc, const Scalar* w_ci, const Scalar* w_cf, const Scalar* w_co) {
  using namespace Eigen::internal;
  using P = Packet<Scalar>;
  const P cp = ploadu<P>(c_prev);
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
  const P t = tanh_any(cn);
  if (tc) pstoreu(tc, t);
  pstoreu(h, pmul(o, t));
}

// One row: a [4H] pre-activations in (i, f, g, o blocks), activated gates out; c_prev [H]: c(t-1)
// in; c [H]: c(t) out (may be c_prev); h [H] out; tanh_c [H]: tanh(c(t)) out, or nullptr.
template <typename Scalar>
inline void cell_row(Eigen::Index H, const Scalar* w_ci, const Scalar* w_cf, const Scalar* w_co, Scalar* a,
                     const Scalar* c_prev, Scalar* c, Scalar* h, Scalar* tanh_c = nullptr) {
  constexpr Eigen::Index L = Eigen::internal::packet_traits<Scalar>::size;
  Eigen::Index j = 0;
  for (; j + L <= H; j += L)
    cell_packet<Scalar>(a + j, a + H + j, a + 2 * H + j, a + 3 * H + j, c_prev + j, c + j, h + j,
                        tanh_c ? tanh_c + j : nullptr, w_ci ? w_ci + j : nullptr, w_cf ? w_cf + j : nullptr,
                        w_co ? w_co + j : nullptr);
  if (j < H) {
    // the tail, through buffers of one packet (zero-padded: the padding lanes are discarded)
    const Eigen::Index n = H - j;
    Scalar b[10][L] = {};
    for (int q = 0; q < 4; ++q) std::copy(a + q * H + j, a + q * H + H, b[q]);
    std::copy(c_prev + j, c_prev + H, b[4]);
    if (w_ci) {
      std::copy(w_ci + j, w_ci + H, b[6]);
      std::copy(w_cf + j, w_cf + H, b[7]);
      std::copy(w_co + j, w_co + H, b[8]);
    }
    cell_packet<Scalar>(b[0], b[1], b[2], b[3], b[4], b[4], b[5], b[9], w_ci ? b[6] : nullptr,
                        w_ci ? b[7] : nullptr, w_ci ? b[8] : nullptr);
    for (int q = 0; q < 4; ++q) std::copy(b[q], b[q] + n, a + q * H + j);
    std::copy(b[4], b[4] + n, c + j);
    std::copy(b[5], b[5] + n, h + j);
    if (tanh_c) std::copy(b[9], b[9] + n, tanh_c + j);
  }
}

// Pointwise part of one backward step for one row (the layer's backward, lstm_layer.cpp). In: dL/dh(t) = dh + go
// (dh: the error from the next step; go: grad_out of this step, or nullptr), dc = dL/dc(t) from
// the next step, the gates i, f, g, o [4H], c(t-1), c(t), tanh(c(t)). Out: da [4H] =
// dL/d(a_i, a_f, a_g, a_o); dc becomes dL/dc(t-1); peep (or nullptr) [3H] += (da_i c(t-1),
// da_f c(t-1), da_o c(t)). w_ci, w_cf, w_co: the peephole weights when the error flows through them
// (full gradient), else nullptr.
template <typename Scalar>
struct CellBackward {
  const Scalar *dh, *go, *gates, *cp, *c, *tc, *w_ci, *w_cf, *w_co;
  Scalar *dc, *da, *peep;
  Eigen::Index H;

  // units [j, j + packet)
  void packet(Eigen::Index j) const {
    using namespace Eigen::internal;
    using P = Packet<Scalar>;
    const P one = pset1<P>(1);
    // dL/dh(t) = error from the next step + grad_out(t)
    const P dhj = go ? padd(ploadu<P>(dh + j), ploadu<P>(go + j)) : ploadu<P>(dh + j);
    const P t = ploadu<P>(tc + j), cpj = ploadu<P>(cp + j);
    const P i = ploadu<P>(gates + j), f = ploadu<P>(gates + H + j), g = ploadu<P>(gates + 2 * H + j),
            o = ploadu<P>(gates + 3 * H + j);
    // da_o = dh * tanh(c) * o (1 - o)
    const P dao = pmul(pmul(dhj, t), pmul(o, psub(one, o)));
    // dc = dL/dc(t) = dc(next step path) + dh * o * (1 - tanh(c)^2) [+ da_o * w_co]
    P dcj = padd(ploadu<P>(dc + j), pmul(pmul(dhj, o), psub(one, pmul(t, t))));
    if (w_co) dcj = padd(dcj, pmul(dao, ploadu<P>(w_co + j)));
    // da_i = dc * g * i (1 - i);  da_f = dc * c(t-1) * f (1 - f);  da_g = dc * i * (1 - g^2)
    const P dai = pmul(pmul(dcj, g), pmul(i, psub(one, i)));
    const P daf = pmul(pmul(dcj, cpj), pmul(f, psub(one, f)));
    const P dag = pmul(pmul(dcj, i), psub(one, pmul(g, g)));
    pstoreu(da + j, dai);
    pstoreu(da + H + j, daf);
    pstoreu(da + 2 * H + j, dag);
    pstoreu(da + 3 * H + j, dao);
    if (peep) {
      // dw_ci += da_i * c(t-1);  dw_cf += da_f * c(t-1);  dw_co += da_o * c(t)
      pstoreu(peep + j, padd(ploadu<P>(peep + j), pmul(dai, cpj)));
      pstoreu(peep + H + j, padd(ploadu<P>(peep + H + j), pmul(daf, cpj)));
      pstoreu(peep + 2 * H + j, padd(ploadu<P>(peep + 2 * H + j), pmul(dao, ploadu<P>(c + j))));
    }
    // dL/dc(t-1) = dc * f [+ da_i * w_ci + da_f * w_cf]
    P dcp = pmul(dcj, f);
    if (w_ci) dcp = padd(dcp, padd(pmul(dai, ploadu<P>(w_ci + j)), pmul(daf, ploadu<P>(w_cf + j))));
    pstoreu(dc + j, dcp);
  }

  // unit j alone: the same formulas in scalars
  void scalar(Eigen::Index j) const {
    const Scalar one(1), dhj = go ? dh[j] + go[j] : dh[j], t = tc[j], cpj = cp[j];
    const Scalar i = gates[j], f = gates[H + j], g = gates[2 * H + j], o = gates[3 * H + j];
    const Scalar dao = (dhj * t) * (o * (one - o));
    Scalar dcj = dc[j] + (dhj * o) * (one - t * t);
    if (w_co) dcj = dcj + dao * w_co[j];
    const Scalar dai = (dcj * g) * (i * (one - i)), daf = (dcj * cpj) * (f * (one - f)),
                 dag = (dcj * i) * (one - g * g);
    da[j] = dai, da[H + j] = daf, da[2 * H + j] = dag, da[3 * H + j] = dao;
    if (peep) peep[j] += dai * cpj, peep[H + j] += daf * cpj, peep[2 * H + j] += dao * c[j];
    Scalar dcp = dcj * f;
    if (w_ci) dcp = dcp + (dai * w_ci[j] + daf * w_cf[j]);
    dc[j] = dcp;
  }

  void row() const {
    constexpr Eigen::Index L = Eigen::internal::packet_traits<Scalar>::size;
    Eigen::Index j = 0;
    for (; j + L <= H; j += L) packet(j);
    for (; j < H; ++j) scalar(j);
  }
};

// tc[0 .. n) = tanh(c[0 .. n)) and, when o is given, h[0 .. n) = o * tc: a row's hidden state
// h = o * tanh(c) from its cell state and output gate, in one pass of packets (a tail of fewer
// than a packet through zero-padded buffers).
template <typename Scalar>
inline void tanh_and_hidden(const Scalar* c, const Scalar* o, Eigen::Index n, Scalar* tc, Scalar* h = nullptr) {
  using namespace Eigen::internal;
  using P = Packet<Scalar>;
  constexpr Eigen::Index L = packet_traits<Scalar>::size;
  Eigen::Index j = 0;
  for (; j + L <= n; j += L) {
    const P t = tanh_any(ploadu<P>(c + j));
    pstoreu(tc + j, t);
    if (o) pstoreu(h + j, pmul(ploadu<P>(o + j), t));
  }
  if (j < n) {
    Scalar bc[L] = {}, bo[L] = {};
    std::copy(c + j, c + n, bc);
    const P t = tanh_any(ploadu<P>(bc));
    pstoreu(bc, t);
    std::copy(bc, bc + (n - j), tc + j);
    if (o) {
      std::copy(o + j, o + n, bo);
      pstoreu(bo, pmul(ploadu<P>(bo), t));
      std::copy(bo, bo + (n - j), h + j);
    }
  }
}

}  // namespace detail
}  // namespace lstmcore
