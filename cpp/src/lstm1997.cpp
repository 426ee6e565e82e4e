// The 1997 LSTM engine. Every formula here is spelled out in docs/ENGINE.md; the comments name
// the paper's equations where they apply (H&S97 App. A.1).
#include "lstmcore/lstm1997.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "lstmcore/detail/squash.hpp"

#ifdef EIGEN_RUNTIME_NO_MALLOC
// Test builds check that the time loops never allocate (cpp/tests).
#define LSTMCORE_NO_MALLOC_BEGIN() Eigen::internal::set_is_malloc_allowed(false)
#define LSTMCORE_NO_MALLOC_END() Eigen::internal::set_is_malloc_allowed(true)
#else
#define LSTMCORE_NO_MALLOC_BEGIN() ((void)0)
#define LSTMCORE_NO_MALLOC_END() ((void)0)
#endif

namespace lstmcore {

namespace {
const Lstm1997Config& validated(const Lstm1997Config& c) {
  c.validate();
  return c;
}
Eigen::Index round_up(std::size_t n, Eigen::Index m) { return (Eigen::Index(n) + m - 1) / m * m; }

// A fixed-width run of N scalars (N = one 256-bit register): Eigen evaluates expressions of these
// with whole packets and no loop, no peeling, no tail. Rows of the padded buffers are sequences of
// chunks.
template <typename Scalar, Eigen::Index N>
using Chunk = Eigen::Map<Eigen::Array<Scalar, N, 1>>;
template <typename Scalar, Eigen::Index N>
using ConstChunk = Eigen::Map<const Eigen::Array<Scalar, N, 1>>;

// a . b over n scalars, n a multiple of N (chunk-wise products summed in a fixed order).
template <Eigen::Index N, typename Scalar>
inline Scalar dot_chunks(const Scalar* a, const Scalar* b, Eigen::Index n) {
  Eigen::Array<Scalar, N, 1> acc = ConstChunk<Scalar, N>(a) * ConstChunk<Scalar, N>(b);
  for (Eigen::Index i = N; i < n; i += N) acc += ConstChunk<Scalar, N>(a + i) * ConstChunk<Scalar, N>(b + i);
  return acc.sum();
}

// The same for two rows a0, a1 against one b (each chunk of b loaded once); each result is
// bitwise the one of dot_chunks.
template <Eigen::Index N, typename Scalar>
inline void dot2_chunks(const Scalar* a0, const Scalar* a1, const Scalar* b, Eigen::Index n, Scalar& r0,
                        Scalar& r1) {
  Eigen::Array<Scalar, N, 1> bc = ConstChunk<Scalar, N>(b);
  Eigen::Array<Scalar, N, 1> acc0 = ConstChunk<Scalar, N>(a0) * bc, acc1 = ConstChunk<Scalar, N>(a1) * bc;
  for (Eigen::Index i = N; i < n; i += N) {
    bc = ConstChunk<Scalar, N>(b + i);
    acc0 += ConstChunk<Scalar, N>(a0 + i) * bc;
    acc1 += ConstChunk<Scalar, N>(a1 + i) * bc;
  }
  r0 = acc0.sum();
  r1 = acc1.sum();
}

// y += alpha x over n scalars, n a multiple of N.
template <Eigen::Index N, typename Scalar>
inline void axpy_chunks(Scalar alpha, const Scalar* x, Scalar* y, Eigen::Index n) {
  for (Eigen::Index i = 0; i < n; i += N) Chunk<Scalar, N>(y + i) += alpha * ConstChunk<Scalar, N>(x + i);
}

// The phases of step_forward and rtrl_step are compiled into their callers, as the single functions
// they were, and keep their loops' form (cells walked as c with the block j stepped along): the
// compiler's choice of fused multiply-adds depends on both, and the results must stay bitwise the
// same.
// step_forward and rtrl_step themselves stay out of line, one compiled copy each for every caller.
#if defined(__GNUC__) || defined(__clang__)
#define LSTMCORE_PHASE inline __attribute__((always_inline))
#define LSTMCORE_STEP __attribute__((noinline))
#else
#define LSTMCORE_PHASE inline
#define LSTMCORE_STEP
#endif

}  // namespace

template <typename Scalar>
Lstm1997<Scalar>::~Lstm1997() = default;

template <typename Scalar>
Lstm1997<Scalar>::Lstm1997(const Lstm1997Config& config)
    : cfg_(validated(config)),
      layout_(cfg_),
      C_(cfg_.n_cells()),
      B_(cfg_.blocks),
      S_(cfg_.cells_per_block),
      U_(cfg_.n_units()),
      n_src_(cfg_.n_src()),
      n_rec_(cfg_.n_recurrent_sources()),
      params_(Vector::Zero(Eigen::Index(layout_.total))),
      P_(views_of(params_.data())),
      ui_(cfg_.unit_in()),
      uo_(cfg_.unit_out()),
      uf_(cfg_.unit_forget()) {
  // whole SIMD packets, and whole chunks
  constexpr Eigen::Index P = std::max<Eigen::Index>(Eigen::internal::packet_traits<Scalar>::size, kChunk);
  n1p_ = round_up(n_src_ + 1, kChunk);
  nzp_ = round_up(cfg_.n_out_src() + 1, kChunk);
  Up_ = round_up(U_, P);
  Cp_ = round_up(C_, P);
  Kp_ = round_up(cfg_.n_out, P);
  need_u0_ = !cfg_.bias_cells || !cfg_.bias_gates;
  const Eigen::Index C = Eigen::Index(C_), U = Eigen::Index(U_), K = Eigen::Index(cfg_.n_out);
  // One arena for everything a time step touches, hottest first; every piece starts on a 64-byte
  // boundary (Eigen aligns the arena itself).
  const Eigen::Index S = Eigen::Index(S_);
  const Eigen::Index align = Eigen::Index(64 / sizeof(Scalar));
  struct Piece {
    Buf* buf;
    Eigen::Index n;
  };
  const Piece pieces[] = {
      {&Wa_, U * n1p_}, {&Tc_, C * n1p_}, {&Tin_, C * n1p_}, {&Tf_, cfg_.forget_gate ? C * n1p_ : 0},
      {&Wya_, K * nzp_}, {&ub_, n1p_}, {&u0_, n1p_}, {&za_, nzp_}, {&dy_c_, nzp_}, {&net_, Up_}, {&act_, Up_},
      {&s_prev_, Cp_}, {&s_, Cp_}, {&sig_s_, Cp_}, {&gc_, Cp_}, {&dgc_, Cp_}, {&hs_, Cp_}, {&dhs_, Cp_}, {&k_c_, C},
      {&k_in_, C}, {&k_f_, C}, {&e_s_, C}, {&net_y_, Kp_}, {&y_, Kp_}, {&dnet_y_, K},
      {&Tpi_, cfg_.peepholes ? C * S : 0}, {&Tpf_, cfg_.peepholes && cfg_.forget_gate ? C * S : 0},
      {&Ga_, U * n1p_}, {&Gya_, K * nzp_}};
  Eigen::Index total = 0;
  for (const Piece& q : pieces) total += round_up(std::size_t(q.n), align);
  arena_.setZero(total);
  Eigen::Index offset = 0;
  for (const Piece& q : pieces) {
    *q.buf = Buf{arena_.data() + offset, q.n};
    offset += round_up(std::size_t(q.n), align);
  }
  ub_[Eigen::Index(n_src_)] = Scalar(1);  // the bias source, never overwritten
  // the output bias source (0 without output biases: that column of Wya_ stays 0)
  za_[Eigen::Index(cfg_.n_out_src())] = cfg_.bias_outputs ? Scalar(1) : Scalar(0);
  tmp_c_.setZero(C);
  tmp_c2_.setZero(C);
  tmp_c3_.setZero(C);
  tmp_c4_.setZero(C);
  dS_.setZero(C);
  dA_.setZero(U);
  dnet_.setZero(U);
  du_.setZero(Eigen::Index(n_src_));
  grad_acc_.setZero(Eigen::Index(layout_.total));
}

template <typename Scalar>
typename Lstm1997<Scalar>::Views Lstm1997<Scalar>::views_of(Scalar* buf) const {
  const ParamLayout& L = layout_;
  return Views{MatrixMap(buf + L.W_hidden, Eigen::Index(U_), Eigen::Index(n_src_)),
               VectorMap(buf + L.b_hidden, Eigen::Index(U_)),
               VectorMap(buf + L.peep, Eigen::Index(C_)),
               VectorMap(buf + L.peep + C_, Eigen::Index(C_)),
               VectorMap(buf + L.peep + 2 * C_, Eigen::Index(C_)),
               MatrixMap(buf + L.W_y, Eigen::Index(cfg_.n_out), Eigen::Index(cfg_.n_out_src())),
               VectorMap(buf + L.b_y, Eigen::Index(cfg_.n_out))};
}

template <typename Scalar>
void Lstm1997<Scalar>::pack_params() {
  // Wa = [W_hidden | b_hidden | 0...],  Wya = [W_y | b_y | 0...]   (absent biases: 0)
  const Eigen::Index n_src = Eigen::Index(n_src_), n_z = Eigen::Index(cfg_.n_out_src());
  for (Eigen::Index i = 0; i < Eigen::Index(U_); ++i) {
    Scalar* const row = Wa_.data() + i * n1p_;
    std::copy(P_.W_hidden.row(i).data(), P_.W_hidden.row(i).data() + n_src, row);
    const bool has_bias = i < Eigen::Index(C_) ? cfg_.bias_cells : cfg_.bias_gates;
    row[n_src] = has_bias ? P_.b_hidden[i] : Scalar(0);
    // The padding must be 0 again: per-step updates write whole padded rows (0 * u = 0 there), but
    // after a divergent run (inf/NaN errors) it holds NaN, and 0 * NaN would poison every later
    // pass even after set_weights with finite weights.
    std::fill(row + n_src + 1, row + n1p_, Scalar(0));
  }
  for (Eigen::Index k = 0; k < Eigen::Index(cfg_.n_out); ++k) {
    Scalar* const row = Wya_.data() + k * nzp_;
    std::copy(P_.W_y.row(k).data(), P_.W_y.row(k).data() + n_z, row);
    row[n_z] = cfg_.bias_outputs ? P_.b_y[k] : Scalar(0);
    std::fill(row + n_z + 1, row + nzp_, Scalar(0));  // padding: see above
  }
}

template <typename Scalar>
void Lstm1997<Scalar>::unpack_into(const Scalar* W, const Scalar* Wy, Scalar* buffer) const {
  Views V = views_of(buffer);
  const Eigen::Index n_src = Eigen::Index(n_src_), n_z = Eigen::Index(cfg_.n_out_src());
  for (Eigen::Index i = 0; i < Eigen::Index(U_); ++i) {
    const Scalar* row = W + i * n1p_;
    std::copy(row, row + n_src, V.W_hidden.row(i).data());
    const bool has_bias = i < Eigen::Index(C_) ? cfg_.bias_cells : cfg_.bias_gates;
    V.b_hidden[i] = has_bias ? row[n_src] : Scalar(0);
  }
  for (Eigen::Index k = 0; k < Eigen::Index(cfg_.n_out); ++k) {
    const Scalar* row = Wy + k * nzp_;
    std::copy(row, row + n_z, V.W_y.row(k).data());
    V.b_y[k] = cfg_.bias_outputs ? row[n_z] : Scalar(0);
  }
}

template <typename Scalar>
void Lstm1997<Scalar>::unpack_params() {
  unpack_into(Wa_.data(), Wya_.data(), params_.data());
}

template <typename Scalar>
void Lstm1997<Scalar>::reset_state() {
  // "all activations are reinitialized with zeros" at every sequence start; traces start at 0.
  // a(-1) = 0: the recurrent part of the sources
  std::fill(ub_.data() + cfg_.n_in, ub_.data() + n_src_, Scalar(0));
  std::fill(u0_.data() + cfg_.n_in, u0_.data() + n_src_, Scalar(0));
  s_prev_.setZero();
  Tc_.setZero();
  Tin_.setZero();
  Tf_.setZero();  // (empty pieces of absent parts: no-ops)
  Tpi_.setZero();
  Tpf_.setZero();
}

// One forward step, in five phases (each reads what the ones before it wrote). The phases copy the
// members their loops touch into locals: SIMD stores may alias any member, which would otherwise
// be reloaded after every store.
template <typename Scalar>
LSTMCORE_STEP void Lstm1997<Scalar>::step_forward(const Scalar* x_t) {
  step_net_inputs(x_t);
  step_squash_gates_and_cell_inputs();
  step_carousel();
  step_cell_outputs();
  step_output_units(x_t);
}

template <typename Scalar>
LSTMCORE_PHASE void Lstm1997<Scalar>::step_net_inputs(const Scalar* x_t) {
  constexpr Eigen::Index W = kChunk;
  const std::size_t n_in = cfg_.n_in, S = S_, B = B_, U = U_;
  const std::size_t ui = ui_, uf = uf_;
  const bool forget = cfg_.forget_gate, peep = cfg_.peepholes;
  const Eigen::Index n1p = n1p_;
  Scalar* const ub = ub_.data();
  Scalar* const net = net_.data();
  const Scalar* const s_prev = s_prev_.data();
  const Scalar* const Wa = Wa_.data();

  // u(t) = [x(t), recurrent part of a(t-1)] (a(t-1) was put in place by advance_state)
  std::copy(x_t, x_t + n_in, ub);
  if (need_u0_) std::copy(x_t, x_t + n_in, u0_.data());

  // net = W_hidden u(t) + b_hidden = Wa [u(t), 1]   (cells, input gates, output gates, forget gates)
  // (two rows at a time)
  std::size_t i = 0;
  for (; i + 2 <= U; i += 2) {
    const Scalar* const w = Wa + Eigen::Index(i) * n1p;
    dot2_chunks<W>(w, w + n1p, ub, n1p, net[i], net[i + 1]);
  }
  if (i < U) net[i] = dot_chunks<W>(Wa + Eigen::Index(i) * n1p, ub, n1p);

  // peepholes into input and forget gates read s(t-1):  net_in[j] += sum_v p_in[jS+v] s[jS+v](t-1)
  if (peep) {
    const Scalar* const p_in = P_.p_in.data();
    const Scalar* const p_f = P_.p_forget.data();
    for (std::size_t j = 0; j < B; ++j) {
      Scalar acc_in = 0, acc_f = 0;
      for (std::size_t c = j * S; c < (j + 1) * S; ++c) {
        acc_in += p_in[c] * s_prev[c];
        acc_f += p_f[c] * s_prev[c];
      }
      net[ui + j] += acc_in;
      if (forget) net[uf + j] += acc_f;
    }
  }
}

template <typename Scalar>
LSTMCORE_PHASE void Lstm1997<Scalar>::step_squash_gates_and_cell_inputs() {
  constexpr Eigen::Index W = kChunk;
  const Scalar* const net = net_.data();
  Scalar* const act = act_.data();
  Scalar* const gc = gc_.data();
  Scalar* const dgc = dgc_.data();
  // sigmoid of every hidden net input, in whole packets:
  // y_in = sigmoid(net_in), y_out = sigmoid(net_out) (redone by step_carousel with a peephole),
  // y_forget = sigmoid(net_forget); the cells' entries are overwritten by y_c in step_cell_outputs
  sigmoid_packets(net, act, Up_);
  // g(net_c) and g'(net_c); for g2 (and logistic, h1) from the sigmoid just computed:
  // g = a sigma + b,  g' = a sigma (1 - sigma)   (g2: a = 4, b = -2)
  // (in whole chunks: entries C..Cp of gc, dgc are unused)
  Scalar a, b;
  const Eigen::Index Cp = Cp_;
  if (sigmoid_affine(cfg_.g, a, b)) {
    for (Eigen::Index i = 0; i < Cp; i += W) {
      const ConstChunk<Scalar, W> sg(act + i);
      Chunk<Scalar, W>(gc + i) = a * sg + b;
      Chunk<Scalar, W>(dgc + i) = a * sg * (Scalar(1) - sg);
    }
  } else {
    squash(cfg_.g, net, gc, Eigen::Index(C_));
    squash_derivative(cfg_.g, gc, dgc, Eigen::Index(C_));
  }
}

template <typename Scalar>
LSTMCORE_PHASE void Lstm1997<Scalar>::step_carousel() {
  const std::size_t S = S_, C = C_, B = B_;
  const std::size_t ui = ui_, uo = uo_, uf = uf_;
  const bool forget = cfg_.forget_gate, out_gate = cfg_.output_gate, peep = cfg_.peepholes;
  Scalar* const net = net_.data();
  Scalar* const act = act_.data();
  const Scalar* const gc = gc_.data();
  Scalar* const s = s_.data();
  const Scalar* const s_prev = s_prev_.data();

  // the constant error carousel: s(t) = y_forget s(t-1) + y_in g(net_c)   (y_forget = 1 in 1997)
  // (cell loops run over c with the block j = c / S stepped along: plain scalar code for blocks
  // of a few cells)
  for (std::size_t c = 0, j = 0, v = 0; c < C; ++c) {
    const Scalar y_f = forget ? act[uf + j] : Scalar(1);
    s[c] = y_f * s_prev[c] + act[ui + j] * gc[c];
    if (++v == S) v = 0, ++j;
  }

  // output gate, whose peephole reads the current state: net_out[j] += sum_v p_out[jS+v] s[jS+v](t)
  if (out_gate && peep) {
    const Scalar* const p_out = P_.p_out.data();
    for (std::size_t j = 0; j < B; ++j) {
      Scalar acc = 0;
      for (std::size_t c = j * S; c < (j + 1) * S; ++c) acc += p_out[c] * s[c];
      net[uo + j] += acc;
    }
    squash(Squash::Logistic, net + uo, act + uo, Eigen::Index(B));
  }
}

template <typename Scalar>
LSTMCORE_PHASE void Lstm1997<Scalar>::step_cell_outputs() {
  constexpr Eigen::Index W = kChunk;
  const std::size_t S = S_, uo = uo_;
  const bool out_gate = cfg_.output_gate;
  Scalar* const act = act_.data();
  Scalar* const s = s_.data();
  Scalar* const hs = hs_.data();
  Scalar* const dhs = dhs_.data();
  Scalar* const za = za_.data();
  // h(s(t)) and h'(s(t)); for h1 (and logistic, g2) from the sigmoid of s(t):
  // h = a sigma + b,  h' = a sigma (1 - sigma)   (h1: a = 2, b = -1)
  Scalar a, b;
  const Eigen::Index Cp = Cp_;
  if (sigmoid_affine(cfg_.h, a, b)) {
    Scalar* const sig_s = sig_s_.data();
    sigmoid_packets(s, sig_s, Cp);
    for (Eigen::Index i = 0; i < Cp; i += W) {
      const ConstChunk<Scalar, W> sg(sig_s + i);
      Chunk<Scalar, W>(hs + i) = a * sg + b;
      Chunk<Scalar, W>(dhs + i) = a * sg * (Scalar(1) - sg);
    }
  } else {
    squash(cfg_.h, s, hs, Eigen::Index(C_));
    squash_derivative(cfg_.h, hs, dhs, Eigen::Index(C_));
  }
  // y_c = y_out h(s(t))   (y_out = 1 without an output gate); also the first C output sources
  for (std::size_t c = 0, j = 0, v = 0; c < C_; ++c) {
    const Scalar y_out = out_gate ? act[uo + j] : Scalar(1);
    za[c] = act[c] = y_out * hs[c];
    if (++v == S) v = 0, ++j;
  }
}

template <typename Scalar>
LSTMCORE_PHASE void Lstm1997<Scalar>::step_output_units(const Scalar* x_t) {
  constexpr Eigen::Index W = kChunk;
  const std::size_t n_in = cfg_.n_in, C = C_, K = cfg_.n_out;
  const Eigen::Index nzp = nzp_;
  Scalar* const za = za_.data();
  const Scalar* const Wy = Wya_.data();
  // output units read the current cell outputs (paper §5): y = f(W_y [y_c(t), x(t)] + b_y)
  if (cfg_.shortcut) std::copy(x_t, x_t + n_in, za + C);
  Scalar* const net_y = net_y_.data();
  std::size_t k = 0;
  for (; k + 2 <= K; k += 2) {
    const Scalar* const w = Wy + Eigen::Index(k) * nzp;
    dot2_chunks<W>(w, w + nzp, za, nzp, net_y[k], net_y[k + 1]);
  }
  if (k < K) net_y[k] = dot_chunks<W>(Wy + Eigen::Index(k) * nzp, za, nzp);
  if (cfg_.out == Squash::Logistic)
    sigmoid_packets(net_y, y_.data(), Kp_);
  else
    squash(cfg_.out, net_y, y_.data(), Eigen::Index(K));
}

template <typename Scalar>
void Lstm1997<Scalar>::advance_state() {
  // a(t) becomes the recurrent part of u(t+1); step_forward rewrites s_ completely.
  const Scalar* a = act_.data();
  std::copy(a, a + n_rec_, ub_.data() + cfg_.n_in);
  if (need_u0_) std::copy(a, a + n_rec_, u0_.data() + cfg_.n_in);
  std::swap(s_prev_, s_);
}

template <typename Scalar>
double Lstm1997<Scalar>::step_output_error(const Scalar* target_t) {
  const std::size_t K = cfg_.n_out;
  // E(t) = 1/2 sum_k (t_k - y_k)^2
  double loss = 0;
  for (std::size_t k = 0; k < K; ++k) {
    const double d = double(target_t[k]) - double(y_[k]);
    loss += 0.5 * d * d;
  }
  // dL/dnet_k = -f'(net_k) (t_k - y_k) = -e_k   (eq. 19)
  if (cfg_.out == Squash::Logistic) {
    for (std::size_t k = 0; k < K; ++k) dnet_y_[k] = sigmoid_derivative_from_value(y_[k]) * (y_[k] - target_t[k]);
  } else {
    squash_derivative(cfg_.out, y_.data(), dnet_y_.data(), Eigen::Index(K));
    for (std::size_t k = 0; k < K; ++k) dnet_y_[k] *= y_[k] - target_t[k];
  }
  return loss;
}

// One RTRL step, in four phases: with a gradient, first the error terms of this step from the
// current weights (rtrl_output_error: before `out`, possibly the weights themselves, changes; every
// weight is read before it is written); then the per-cell trace factors, the traces of the cells'
// and gates' weights (updated and, with a gradient, used at once) and the peephole traces.
template <typename Scalar>
template <bool WithGradient>
LSTMCORE_STEP void Lstm1997<Scalar>::rtrl_step(Scalar scale, const StepOut& out) {
  if (WithGradient) rtrl_output_error(scale, out);
  rtrl_trace_factors();
  rtrl_traces<WithGradient>(out);
  if (cfg_.peepholes) rtrl_peephole_traces<WithGradient>(out);
}

template <typename Scalar>
LSTMCORE_PHASE void Lstm1997<Scalar>::rtrl_output_error(Scalar scale, const StepOut& out) {
  constexpr Eigen::Index W = kChunk;
  using Ch = Chunk<Scalar, W>;
  using CCh = ConstChunk<Scalar, W>;
  const std::size_t S = S_, C = C_, K = cfg_.n_out, uo = uo_;
  const Eigen::Index n1p = n1p_, nzp = nzp_;
  const bool out_gate = cfg_.output_gate, peep = cfg_.peepholes;
  const Scalar* const act = act_.data();
  Scalar* const e_s = e_s_.data();
  const Scalar* const src_g = cfg_.bias_gates ? ub_.data() : u0_.data();
  Scalar* const Wout = out.W;
  // eq. 22, output units: dW_y += dnet_y z^T, db_y += dnet_y   (za_ = [z, 1 or 0]);
  // and dL/dy_c = W_y[:, :C]^T dL/dnet_y: the error arriving at the cell outputs, this step only
  // (dy_c holds W_y^T dnet_y over all nzp columns; its first C entries are dL/dy_c)
  const Scalar* const za = za_.data();
  const Scalar* const Wy = Wya_.data();
  const Scalar* const dnet_y = dnet_y_.data();
  Scalar* const dy_c = dy_c_.data();
  for (Eigen::Index i = 0; i < nzp; i += W) Ch(dy_c + i).setZero();
  for (std::size_t k = 0; k < K; ++k) {
    const Scalar d = dnet_y[k], sd = scale * d;
    const Scalar* const wy = Wy + Eigen::Index(k) * nzp;
    Scalar* const oy = out.Wy + Eigen::Index(k) * nzp;
    for (Eigen::Index i = 0; i < nzp; i += W) {
      Ch(dy_c + i) += d * CCh(wy + i);
      Ch(oy + i) += sd * CCh(za + i);
    }
  }
  // e_s[c] = dL/ds_c = y_out h'(s_c) dL/dy_c   (eq. 23, sign flipped: a gradient, not an error);
  // stored times scale
  const Scalar* const hs = hs_.data();
  const Scalar* const dhs = dhs_.data();
  const Scalar* const s = s_.data();
  Scalar back = 0;  // sum_v h(s_c) dL/dy_c over the cells of block j
  for (std::size_t c = 0, j = 0, v = 0; c < C; ++c) {
    const Scalar y_out = out_gate ? act[uo + j] : Scalar(1);
    e_s[c] = scale * (y_out * dhs[c] * dy_c[c]);
    back += hs[c] * dy_c[c];
    if (++v < S) continue;
    // the last cell of block j: its output gate, then on to block j+1
    if (out_gate) {
      // eq. 21: dL/dnet_out[j] = f'_out sum_v h(s_c) dL/dy_c   (no error through the peephole)
      // eq. 22, output gates: dW_out[j] += dnet_out[j] u(t), db_out[j] += dnet_out[j],
      // dp_out[c] += dnet_out[j] s_c(t)
      const Scalar d = scale * (sigmoid_derivative_from_value(y_out) * back);
      axpy_chunks<W>(d, src_g, Wout + Eigen::Index(uo + j) * n1p, n1p);
      if (peep)
        for (std::size_t c2 = j * S; c2 < (j + 1) * S; ++c2) out.p_out[c2] += d * s[c2];
    }
    v = 0, ++j, back = 0;
  }
}

template <typename Scalar>
LSTMCORE_PHASE void Lstm1997<Scalar>::rtrl_trace_factors() {
  const std::size_t S = S_, C = C_, ui = ui_, uf = uf_;
  const bool forget = cfg_.forget_gate;
  const Scalar* const act = act_.data();
  const Scalar* const gc = gc_.data();
  const Scalar* const dgc = dgc_.data();
  const Scalar* const s_prev = s_prev_.data();
  Scalar* const k_c = k_c_.data();
  Scalar* const k_in = k_in_.data();
  Scalar* const k_f = k_f_.data();
  // Per-cell factors of the trace increments (eqs. 25, 27, GSC00):
  //   k_c = g'(net_c) y_in,  k_in = g(net_c) f'_in,  k_f = s_c(t-1) f'_f
  for (std::size_t c = 0, j = 0, v = 0; c < C; ++c) {
    const Scalar y_in = act[ui + j];
    k_c[c] = dgc[c] * y_in;
    k_in[c] = gc[c] * sigmoid_derivative_from_value(y_in);
    k_f[c] = forget ? s_prev[c] * sigmoid_derivative_from_value(act[uf + j]) : Scalar(0);
    if (++v == S) v = 0, ++j;
  }
}

template <typename Scalar>
template <bool WithGradient>
LSTMCORE_PHASE void Lstm1997<Scalar>::rtrl_traces(const StepOut& out) {
  constexpr Eigen::Index W = kChunk;
  using Ch = Chunk<Scalar, W>;
  using CCh = ConstChunk<Scalar, W>;
  using Arr = Eigen::Array<Scalar, W, 1>;
  const std::size_t S = S_, C = C_, ui = ui_, uf = uf_;
  const Eigen::Index n1p = n1p_;
  const bool forget = cfg_.forget_gate;
  const Scalar* const act = act_.data();
  const Scalar* const e_s = e_s_.data();
  const Scalar* const k_c = k_c_.data();
  const Scalar* const k_in = k_in_.data();
  const Scalar* const k_f = k_f_.data();
  Scalar* const Tc = Tc_.data();
  Scalar* const Tin = Tin_.data();
  Scalar* const Tf = forget ? Tf_.data() : nullptr;
  // trace sources [u(t), 1]: the 1 only for kinds that have a bias (else that column stays 0)
  const Scalar* const src_c = cfg_.bias_cells ? ub_.data() : u0_.data();
  const Scalar* const src_g = cfg_.bias_gates ? ub_.data() : u0_.data();
  Scalar* const Wout = out.W;
  // One pass over each cell's trace rows: the traces are updated and, with a gradient, used at
  // once (eqs. 26, 28). Rows are whole chunks; t_* hold the updated chunk of a trace.
  for (std::size_t c = 0, j = 0, v = 0; c < C; ++c, (++v == S ? (v = 0, ++j) : 0)) {
    {
      const Eigen::Index ci = Eigen::Index(c);
      const Scalar kc = k_c[c], kin = k_in[c], e = e_s[c];
      Scalar* const tc = Tc + ci * n1p;
      Scalar* const tin = Tin + ci * n1p;
      Scalar* const w_c = Wout + ci * n1p;
      Scalar* const w_in = Wout + Eigen::Index(ui + j) * n1p;
      if (!forget) {
        for (Eigen::Index i = 0; i < n1p; i += W) {
          // eq. 27 (y_f = 1): ds_c/dw_{c m}(t) = ds_c/dw_{c m}(t-1) + g'(net_c) y_in y^m
          const Arr t_c = CCh(tc + i) + kc * CCh(src_c + i);
          Ch(tc + i) = t_c;
          // eq. 25 (y_f = 1): ds_c/dw_{in m}(t) = ds_c/dw_{in m}(t-1) + g(net_c) f'_in y^m
          const Arr t_in = CCh(tin + i) + kin * CCh(src_g + i);
          Ch(tin + i) = t_in;
          if (WithGradient) {
            // eq. 28: dW_c += e_s ds_c/dw_c   (bias: the column after u)
            Ch(w_c + i) += e * t_c;
            // eq. 26: dW_in[j] += e_s[c] ds_c/dw_in   (summed over the block's cells)
            Ch(w_in + i) += e * t_in;
          }
        }
      } else {
        const Scalar y_f = act[uf + j], kf = k_f[c];
        Scalar* const tf = Tf + ci * n1p;
        Scalar* const w_f = Wout + Eigen::Index(uf + j) * n1p;
        for (Eigen::Index i = 0; i < n1p; i += W) {
          // eq. 27: ds_c/dw_{c m}(t) = y_f ds_c/dw_{c m}(t-1) + g'(net_c) y_in y^m
          const Arr t_c = y_f * CCh(tc + i) + kc * CCh(src_c + i);
          Ch(tc + i) = t_c;
          // eq. 25: ds_c/dw_{in m}(t) = y_f ds_c/dw_{in m}(t-1) + g(net_c) f'_in y^m
          const Arr t_in = y_f * CCh(tin + i) + kin * CCh(src_g + i);
          Ch(tin + i) = t_in;
          // GSC00: ds_c/dw_{f m}(t) = y_f ds_c/dw_{f m}(t-1) + s_c(t-1) f'_f y^m
          const Arr t_f = y_f * CCh(tf + i) + kf * CCh(src_g + i);
          Ch(tf + i) = t_f;
          if (WithGradient) {
            // eqs. 28, 26 and the forget gate's analogue
            Ch(w_c + i) += e * t_c;
            Ch(w_in + i) += e * t_in;
            Ch(w_f + i) += e * t_f;
          }
        }
      }
    }
  }
}

template <typename Scalar>
template <bool WithGradient>
LSTMCORE_PHASE void Lstm1997<Scalar>::rtrl_peephole_traces(const StepOut& out) {
  const std::size_t S = S_, B = B_, uf = uf_;
  const bool forget = cfg_.forget_gate;
  const Scalar* const act = act_.data();
  const Scalar* const e_s = e_s_.data();
  const Scalar* const k_in = k_in_.data();
  const Scalar* const k_f = k_f_.data();
  const Scalar* const s_prev = s_prev_.data();
  // peephole traces: sources s(t-1) of the block's cells
  //   Tpi[c, v'] = y_f Tpi[c, v'] + k_in[c] s[jS+v'](t-1);  dp_in[jS+v'] += sum_v e_s[jS+v] Tpi[jS+v, v']
  //   Tpf likewise with k_f and dp_forget
  for (std::size_t j = 0; j < B; ++j) {
    const Scalar y_f = forget ? act[uf + j] : Scalar(1);
    const std::size_t c0 = j * S;
    for (std::size_t c = c0; c < c0 + S; ++c) {
      Scalar* const tpi = Tpi_.data() + c * S;
      Scalar* const tpf = forget ? Tpf_.data() + c * S : nullptr;
      for (std::size_t v = 0; v < S; ++v) {
        tpi[v] = y_f * tpi[v] + k_in[c] * s_prev[c0 + v];
        if (WithGradient) out.p_in[c0 + v] += e_s[c] * tpi[v];
        if (forget) {
          tpf[v] = y_f * tpf[v] + k_f[c] * s_prev[c0 + v];
          if (WithGradient) out.p_forget[c0 + v] += e_s[c] * tpf[v];
        }
      }
    }
  }
}

template <typename Scalar>
void Lstm1997<Scalar>::forward(const Scalar* x, std::size_t T, Scalar* y) {
  const std::size_t n_in = cfg_.n_in, K = cfg_.n_out;
  pack_params();
  reset_state();
  LSTMCORE_NO_MALLOC_BEGIN();
  for (std::size_t t = 0; t < T; ++t) {
    step_forward(x + t * n_in);
    std::copy(y_.data(), y_.data() + K, y + t * K);
    advance_state();
  }
  LSTMCORE_NO_MALLOC_END();
}

template <typename Scalar>
double Lstm1997<Scalar>::gradient(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                                  std::size_t T, GradientMode mode, Scalar* grad) {
  const double loss = compute_gradient(x, target, mask, T, mode);
  std::copy(grad_acc_.data(), grad_acc_.data() + layout_.total, grad);
  return loss;
}

template <typename Scalar>
double Lstm1997<Scalar>::compute_gradient(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                                          std::size_t T, GradientMode mode) {
  const std::size_t n_in = cfg_.n_in, K = cfg_.n_out;
  grad_acc_.setZero();
  pack_params();
  reset_state();
  if (mode == GradientMode::TruncatedRtrl) {
    // Forward in time; memory independent of T. Packed accumulators for W_hidden/b_hidden and
    // W_y/b_y, the peephole gradients straight into grad_acc_.
    Views G = views_of(grad_acc_.data());
    Ga_.setZero();
    Gya_.setZero();
    const StepOut out{Ga_.data(), Gya_.data(), G.p_in.data(), G.p_out.data(), G.p_forget.data()};
    double loss = 0;
    LSTMCORE_NO_MALLOC_BEGIN();
    for (std::size_t t = 0; t < T; ++t) {
      step_forward(x + t * n_in);
      if (!mask || mask[t]) {
        loss += step_output_error(target + t * K);
        rtrl_step<true>(Scalar(1), out);
      } else {
        rtrl_step<false>(Scalar(0), out);
      }
      advance_state();
    }
    LSTMCORE_NO_MALLOC_END();
    unpack_into(Ga_.data(), Gya_.data(), grad_acc_.data());
    return loss;
  }

  // Record the forward pass, then go backward in time.
  const Eigen::Index Ti = Eigen::Index(T);
  H_u_.resize(Ti, Eigen::Index(n_src_));
  H_act_.resize(Ti, Eigen::Index(U_));
  H_gc_.resize(Ti, Eigen::Index(C_));
  H_hs_.resize(Ti, Eigen::Index(C_));
  H_s_.resize(Ti + 1, Eigen::Index(C_));  // row t+1 holds s(t); row 0 the zero state s(-1)
  H_y_.resize(Ti, Eigen::Index(K));
  H_z_.resize(Ti, Eigen::Index(cfg_.n_out_src()));
  H_dnet_.resize(Ti, Eigen::Index(U_));
  H_dnet_y_.resize(Ti, Eigen::Index(K));
  H_s_.row(0).setZero();
  LSTMCORE_NO_MALLOC_BEGIN();
  for (std::size_t t = 0; t < T; ++t) {
    const Eigen::Index ti = Eigen::Index(t);
    step_forward(x + t * n_in);
    H_u_.row(ti) = ub_.head(Eigen::Index(n_src_)).transpose();
    H_act_.row(ti) = act_.head(Eigen::Index(U_)).transpose();
    H_gc_.row(ti) = gc_.head(Eigen::Index(C_)).transpose();
    H_hs_.row(ti) = hs_.head(Eigen::Index(C_)).transpose();
    H_s_.row(ti + 1) = s_.head(Eigen::Index(C_)).transpose();
    H_y_.row(ti) = y_.head(Eigen::Index(K)).transpose();
    H_z_.row(ti) = za_.head(Eigen::Index(cfg_.n_out_src())).transpose();
    advance_state();
  }
  LSTMCORE_NO_MALLOC_END();
  return backward(target, mask, T, mode == GradientMode::TruncatedBptt);
}

template <typename Scalar>
double Lstm1997<Scalar>::backward(const Scalar* target, const std::uint8_t* mask, std::size_t T,
                                  bool truncated) {
  const Eigen::Index S = Eigen::Index(S_), C = Eigen::Index(C_), K = Eigen::Index(cfg_.n_out);
  const Eigen::Index n_in = Eigen::Index(cfg_.n_in);
  const bool full = !truncated;
  Views G = views_of(grad_acc_.data());
  double loss = 0;
  dS_.setZero();  // dL/ds(t) arriving from step t+1
  dA_.setZero();  // dL/da(t) arriving from step t+1 through u(t+1) (full mode only)
  Vector& dy_c = tmp_c_;
  Vector& dh = tmp_c2_;
  Vector& dg = tmp_c3_;
  Vector& ds = tmp_c4_;

  LSTMCORE_NO_MALLOC_BEGIN();
  for (std::size_t tt = T; tt-- > 0;) {
    const Eigen::Index t = Eigen::Index(tt);
    const Scalar* act = H_act_.row(t).data();
    const Scalar* gc = H_gc_.row(t).data();
    const Scalar* s = H_s_.row(t + 1).data();
    const Scalar* s_prev = H_s_.row(t).data();

    // output units: dL/dnet_y = -f'(net_y) (target - y) at steps with a target, else 0
    auto dnet_y = H_dnet_y_.row(t);
    if (!mask || mask[tt]) {
      for (Eigen::Index k = 0; k < K; ++k) {
        const double d = double(target[tt * K + k]) - double(H_y_(t, k));
        loss += 0.5 * d * d;
      }
      squash_derivative(cfg_.out, H_y_.row(t).data(), dnet_y.data(), K);
      dnet_y.array() *= (H_y_.row(t) - Eigen::Map<const RowMatrix>(target + tt * K, 1, K)).array();
    } else {
      dnet_y.setZero();
    }

    // dL/dy_c = W_y[:, :C]^T dnet_y (+ the recurrent error from step t+1 in full mode)
    dy_c.noalias() = P_.W_y.leftCols(C).transpose() * dnet_y.transpose();
    if (full && n_rec_ > 0) dy_c += dA_.head(C);
    squash_derivative(cfg_.h, H_hs_.row(t).data(), dh.data(), C);
    squash_derivative(cfg_.g, gc, dg.data(), C);

    for (std::size_t j = 0; j < B_; ++j) {
      const Eigen::Index c0 = Eigen::Index(j * S_);
      const Scalar y_in = act[ui_ + j];
      const Scalar y_out = cfg_.output_gate ? act[uo_ + j] : Scalar(1);
      const Scalar y_f = cfg_.forget_gate ? act[uf_ + j] : Scalar(1);
      const bool gates_fed_back = full && cfg_.recurrent == Recurrence::CellsAndGates;
      // output gate: dnet_out = f'_out (dL/dy_out + sum_v h(s_c) dL/dy_c)
      Scalar dnet_out = 0;
      if (cfg_.output_gate) {
        Scalar back = gates_fed_back ? dA_[uo_ + j] : Scalar(0);
        for (Eigen::Index c = c0; c < c0 + S; ++c) back += H_hs_(t, c) * dy_c[c];
        dnet_out = sigmoid_derivative_from_value(y_out) * back;
        dnet_[uo_ + j] = dnet_out;
      }
      // state: ds = dy_c y_out h'(s) + p_out dnet_out (full only) + dS(from t+1)
      Scalar back_in = gates_fed_back ? dA_[ui_ + j] : Scalar(0);
      Scalar back_f = (gates_fed_back && cfg_.forget_gate) ? dA_[uf_ + j] : Scalar(0);
      for (Eigen::Index c = c0; c < c0 + S; ++c) {
        ds[c] = dy_c[c] * y_out * dh[c] + dS_[c];
        if (full && cfg_.peepholes && cfg_.output_gate) ds[c] += P_.p_out[c] * dnet_out;
        // cell input: dnet_c = ds y_in g'(net_c)
        dnet_[c] = ds[c] * y_in * dg[c];
        back_in += ds[c] * gc[c];
        back_f += ds[c] * s_prev[c];
      }
      // input gate: dnet_in = f'_in (dL/dy_in + sum_v ds_c g(net_c))
      const Scalar dnet_in = sigmoid_derivative_from_value(y_in) * back_in;
      dnet_[ui_ + j] = dnet_in;
      // forget gate: dnet_f = f'_f (dL/dy_f + sum_v ds_c s_c(t-1))
      const Scalar dnet_f = cfg_.forget_gate ? sigmoid_derivative_from_value(y_f) * back_f : Scalar(0);
      if (cfg_.forget_gate) dnet_[uf_ + j] = dnet_f;

      for (Eigen::Index c = c0; c < c0 + S; ++c) {
        // peephole weights: dp_in += dnet_in s(t-1), dp_f += dnet_f s(t-1), dp_out += dnet_out s(t)
        if (cfg_.peepholes) {
          G.p_in[c] += dnet_in * s_prev[c];
          if (cfg_.forget_gate) G.p_forget[c] += dnet_f * s_prev[c];
          if (cfg_.output_gate) G.p_out[c] += dnet_out * s[c];
        }
        // carry to t-1 through the carousel: dS = ds y_f (+ peephole paths in full mode)
        dS_[c] = ds[c] * y_f;
        if (full && cfg_.peepholes) dS_[c] += P_.p_in[c] * dnet_in + P_.p_forget[c] * dnet_f;
      }
    }
    H_dnet_.row(t) = dnet_.transpose();

    // full mode: dL/da(t-1) = recurrent columns of W_hidden^T dnet(t)
    if (full && n_rec_ > 0) {
      du_.noalias() = P_.W_hidden.transpose() * dnet_;
      dA_.head(Eigen::Index(n_rec_)) = du_.segment(n_in, Eigen::Index(n_rec_));
    }
  }
  LSTMCORE_NO_MALLOC_END();

  // Weight gradients: one GEMM each over all steps.
  // dW_hidden = sum_t dnet(t) u(t)^T;  dW_y = sum_t dnet_y(t) z(t)^T
  G.W_hidden.noalias() = H_dnet_.transpose() * H_u_;
  G.W_y.noalias() = H_dnet_y_.transpose() * H_z_;
  // db = sum_t dnet(t), summed in time order (elementwise adds: the same result for any alignment)
  for (Eigen::Index t = 0; t < Eigen::Index(T); ++t) {
    G.b_hidden += H_dnet_.row(t).transpose();
    G.b_y += H_dnet_y_.row(t).transpose();
  }
  if (!cfg_.bias_cells) G.b_hidden.head(C).setZero();
  if (!cfg_.bias_gates) G.b_hidden.tail(Eigen::Index(U_ - C_)).setZero();
  if (!cfg_.bias_outputs) G.b_y.setZero();
  return loss;
}

namespace {
// An lr finite as a double can overflow to Inf in float (every weight would turn NaN).
template <typename Scalar>
void check_learning_rate(Scalar lr) {
  if (!(lr >= Scalar(0)) || !std::isfinite(lr))
    throw std::invalid_argument("lr: expected a finite number >= 0 in the network's precision, got " +
                                std::to_string(double(lr)));
}
}  // namespace

template <typename Scalar>
double Lstm1997<Scalar>::train_sequence(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                                        std::size_t T, Scalar lr, UpdateSchedule update) {
  check_learning_rate(lr);
  const std::size_t n_in = cfg_.n_in, K = cfg_.n_out;
  pack_params();
  reset_state();
  const bool per_step = update == UpdateSchedule::Step;
  // per step: into the packed weights themselves (peepholes: params_); per sequence: into the
  // packed gradient accumulators (peepholes: grad_acc_)
  if (!per_step) {
    grad_acc_.setZero();
    Ga_.setZero();
    Gya_.setZero();
  }
  Views G = views_of(per_step ? params_.data() : grad_acc_.data());
  const StepOut out{per_step ? Wa_.data() : Ga_.data(), per_step ? Wya_.data() : Gya_.data(), G.p_in.data(),
                    G.p_out.data(), G.p_forget.data()};
  const Scalar scale = per_step ? -lr : Scalar(1);
  double loss = 0;
  LSTMCORE_NO_MALLOC_BEGIN();
  for (std::size_t t = 0; t < T; ++t) {
    step_forward(x + t * n_in);
    if (!mask || mask[t]) {
      loss += step_output_error(target + t * K);
      // per step: w -= lr g(t) now, and the pass goes on with the new weights
      rtrl_step<true>(scale, out);
    } else {
      rtrl_step<false>(scale, out);
    }
    advance_state();
  }
  LSTMCORE_NO_MALLOC_END();
  if (per_step) {
    unpack_params();
  } else {
    // w -= lr sum_t g(t)
    unpack_into(Ga_.data(), Gya_.data(), grad_acc_.data());
    params_ -= lr * grad_acc_;
  }
  return loss;
}

template <typename Scalar>
double Lstm1997<Scalar>::train_sequence_full(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                                             std::size_t T, Scalar lr) {
  check_learning_rate(lr);
  const double loss = compute_gradient(x, target, mask, T, GradientMode::Full);
  // w -= lr dL/dw   (structural zeros have zero gradient and stay 0)
  params_ -= lr * grad_acc_;
  return loss;
}

template class Lstm1997<float>;
template class Lstm1997<double>;

}  // namespace lstmcore
