// Online training of one torch-style LSTM layer with the 1997 truncated gradient, forward in time.
// The maths is in lstm_online.hpp; each line below carries its formula.
#include "lstmcore/lstm_online.hpp"

#include <algorithm>
#include <stdexcept>

namespace lstmcore {

using detail::Index;

// Units per parallel work item of the trace and gradient pass (fixed: results never depend on it
// anyway, each unit's arithmetic being the same in any block).
constexpr Index kUnitBlock = 8;

namespace {

// Trace rows, u and the gradient buffer are padded to whole 64-byte vectors (the padding holds 0),
// so these loops have a fixed inner trip count and no scalar tail.
template <typename Scalar>
constexpr Index kLanes = Index(64 / sizeof(Scalar));

// row = f row + d u      [Kp]
template <typename Scalar>
inline void trace_update(Scalar* __restrict row, const Scalar* __restrict u, Scalar f, Scalar d, Index Kp) {
  for (Index k0 = 0; k0 < Kp; k0 += kLanes<Scalar>)
    for (Index k = k0; k < k0 + kLanes<Scalar>; ++k) row[k] = f * row[k] + d * u[k];
}

// y += a x               [Kp]
template <typename Scalar>
inline void axpy(Scalar* __restrict y, const Scalar* __restrict x, Scalar a, Index Kp) {
  for (Index k0 = 0; k0 < Kp; k0 += kLanes<Scalar>)
    for (Index k = k0; k < k0 + kLanes<Scalar>; ++k) y[k] += a * x[k];
}

}  // namespace

template <typename Scalar>
LstmOnline<Scalar>::LstmOnline(const LstmLayerDims& dims, const LstmLayerParams<Scalar>& params,
                               const LstmLayerGrads<Scalar>& grads, std::size_t batch)
    : dims_(dims), p_(params), g_(grads), N_(batch) {
  dims_.validate();
  if (dims_.reverse)
    throw std::invalid_argument("reverse: online training runs forward in time; a reverse direction needs the future");
  if (!p_.W_ih || !p_.W_hh || !g_.W_ih || !g_.W_hh) throw std::invalid_argument("W_ih, W_hh: required");
  if (dims_.bias && (!p_.b_ih || !p_.b_hh || !g_.b_ih || !g_.b_hh))
    throw std::invalid_argument("b_ih, b_hh: required with bias");
  if (dims_.peepholes && (!p_.w_ci || !p_.w_cf || !p_.w_co || !g_.w_ci || !g_.w_cf || !g_.w_co))
    throw std::invalid_argument("w_ci, w_cf, w_co: required with peepholes");
  if (N_ < 1 || N_ > (std::size_t(1) << 31)) throw std::invalid_argument("batch: expected 1 .. 2^31");
  const Index N = Index(N_), I = Index(dims_.input_size), H = Index(dims_.hidden_size), G = 4 * H;
  K_ = I + H + (dims_.bias ? 1 : 0);
  // gate products N 4H (I + H), trace updates 2 N 3H K, gradients N 4H K
  work_ = double(N) * double(G) * double(I + H) + double(N) * double(H) * double(K_) * 10.0;
  Kp_ = (K_ + kLanes<Scalar> - 1) / kLanes<Scalar> * kLanes<Scalar>;
  u_ = RowMatrix::Zero(N, Kp_);
  gacc_ = RowMatrix::Zero(G, Kp_);
  gates_ = RowMatrix::Zero(N, G);
  c_prev_ = RowMatrix::Zero(N, H);
  h_ = RowMatrix::Zero(N, H);
  c_ = RowMatrix::Zero(N, H);
  tanh_c_ = RowMatrix::Zero(N, H);
  s_ = RowMatrix::Zero(N * 3 * H, Kp_);
  sp_ = RowMatrix::Zero(dims_.peepholes ? N * 2 : 0, H);
  ih_ = detail::GateProduct<Scalar>(G, I, N);
  hh_ = detail::GateProduct<Scalar>(G, H, N);
}

template <typename Scalar>
void LstmOnline<Scalar>::reset(const Scalar* h0, const Scalar* c0) {
  const Index N = Index(N_), H = Index(dims_.hidden_size);
  if (h0) h_ = Eigen::Map<const RowMatrix>(h0, N, H); else h_.setZero();
  if (c0) c_ = Eigen::Map<const RowMatrix>(c0, N, H); else c_.setZero();
  // s_w(0) = 0: the initial state does not depend on the weights
  s_.setZero();
  sp_.setZero();
  stepped_ = false;
}

// Gate products and pointwise cell maths for rows n0 .. n0+nb of the batch (block b). x: [N, I].
template <typename Scalar>
LSTMCORE_NOINLINE void LstmOnline<Scalar>::gates_block(const Scalar* x, Index b) {
  const Index N = Index(N_), I = Index(dims_.input_size), H = Index(dims_.hidden_size), G = 4 * H, K = Kp_;
  const Index n0 = b * detail::kStepRowBlock, nb = std::min(detail::kStepRowBlock, N - n0);
  for (Index n = n0; n < n0 + nb; ++n) {
    // u(t) = [x(t), h(t-1), 1]
    Scalar* u = u_.data() + n * K;
    std::copy(x + n * I, x + (n + 1) * I, u);
    std::copy(h_.data() + n * H, h_.data() + (n + 1) * H, u + I);
    if (dims_.bias) u[I + H] = Scalar(1);
    c_prev_.row(n) = c_.row(n);
  }
  Scalar* a = gates_.data() + n0 * G;  // [nb, 4H]
  // a = b_ih + b_hh
  detail::init_preactivations(G, nb, p_, dims_.bias, a);
  // a += x(t) W_ih^T + h(t-1) W_hh^T      (x, h(t-1) read from u)
  ih_.add(u_.data() + n0 * K, K, nb, b, a);
  hh_.add(u_.data() + n0 * K + I, K, nb, b, a);
  // gates activated in place; c(t), tanh(c(t)), h(t)
  for (Index n = n0; n < n0 + nb; ++n)
    detail::cell_pointwise(H, p_, dims_.peepholes, a + (n - n0) * G, c_.data() + n * H, tanh_c_.data() + n * H,
                           h_.data() + n * H);
}

// Units j0 .. j1-1 over every sequence n (in order): the trace update (traces = true) and/or the
// gradient of the loss term with dL/dh(t) = grad_h [N, H] (grad_h != nullptr), summed into the
// padded buffer G [4H, Kp] (rows of [W_ih | W_hh | b]; flush_grads() adds it to the gradients).
// Each gradient entry receives the sequences' contributions in the order n = 0 .. N-1.
template <typename Scalar>
LSTMCORE_NOINLINE void LstmOnline<Scalar>::units(Index j0, Index j1, bool traces, const Scalar* grad_h) {
  const Index N = Index(N_), H = Index(dims_.hidden_size), Kp = Kp_;
  const bool peep = dims_.peepholes;
  const Scalar one(1);
  for (Index n = 0; n < N; ++n) {
    const Scalar* gi = gates_.data() + n * 4 * H;  // i, f, g, o of sequence n      [4H]
    const Scalar *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
    const Scalar* cp = c_prev_.data() + n * H;     // c(t-1)                        [H]
    const Scalar* tc = tanh_c_.data() + n * H;     // tanh(c(t))                    [H]
    const Scalar* u = u_.data() + n * Kp;          // u(t) = [x(t), h(t-1), 1, 0..] [Kp]
    const Scalar* eh = grad_h ? grad_h + n * H : nullptr;
    for (Index q = 0; q < 3; ++q) {
      Scalar* Sq = s_.data() + (n * 3 + q) * H * Kp;  // s_q[n, j, :] at row j   [H, Kp]
      for (Index j = j0; j < j1; ++j) {
        Scalar* row = Sq + j * Kp;
        if (traces) {
          const Scalar i = gi[j], f = gf[j], g = gg[j];
          // direct terms: d_i = g i (1 - i);  d_f = c(t-1) f (1 - f);  d_g = i (1 - g^2)
          const Scalar d = q == 0 ? g * i * (one - i) : q == 1 ? cp[j] * f * (one - f) : i * (one - g * g);
          // s_q(t) = f s_q(t-1) + d_q u(t)
          trace_update(row, u, f, d, Kp);
        }
        if (eh) {
          // e_c = e_h o (1 - tanh(c)^2)
          const Scalar ec = eh[j] * go[j] * (one - tc[j] * tc[j]);
          // grad W_q[j, :] += e_c s_q
          axpy(gacc_.data() + (q * H + j) * Kp, row, ec, Kp);
        }
      }
    }
    Scalar* sp = peep ? sp_.data() + n * 2 * H : nullptr;  // s_ci, s_cf of sequence n   [2, H]
    if (traces && peep) {
      for (Index j = j0; j < j1; ++j) {
        const Scalar i = gi[j], f = gf[j], g = gg[j];
        // s_ci(t) = f s_ci(t-1) + g i (1 - i) c(t-1);  s_cf(t) = f s_cf(t-1) + c(t-1) f (1 - f) c(t-1)
        sp[j] = f * sp[j] + g * i * (one - i) * cp[j];
        sp[H + j] = f * sp[H + j] + cp[j] * f * (one - f) * cp[j];
      }
    }
    if (eh) {
      for (Index j = j0; j < j1; ++j) {
        const Scalar o = go[j];
        // e_o = e_h tanh(c) o (1 - o)
        const Scalar eo = eh[j] * tc[j] * o * (one - o);
        // grad W_o[j, :] += e_o u(t)
        axpy(gacc_.data() + (3 * H + j) * Kp, u, eo, Kp);
        if (peep) {
          const Scalar ec = eh[j] * o * (one - tc[j] * tc[j]);
          // grad w_ci += e_c s_ci;  grad w_cf += e_c s_cf;  grad w_co += e_o c(t)
          g_.w_ci[j] += ec * sp[j];
          g_.w_cf[j] += ec * sp[H + j];
          g_.w_co[j] += eo * c_(n, j);
        }
      }
    }
  }
}

// grads += G (split into the W_ih columns, the W_hh columns and the bias column); G = 0.
template <typename Scalar>
void LstmOnline<Scalar>::flush_grads() {
  const Index I = Index(dims_.input_size), H = Index(dims_.hidden_size), Kp = Kp_;
  for (Index r = 0; r < 4 * H; ++r) {
    Scalar* G = gacc_.data() + r * Kp;
    for (Index k = 0; k < I; ++k) g_.W_ih[r * I + k] += G[k];
    for (Index k = 0; k < H; ++k) g_.W_hh[r * H + k] += G[I + k];
    if (dims_.bias) {
      g_.b_ih[r] += G[I + H];
      g_.b_hh[r] += G[I + H];
    }
    std::fill(G, G + Kp, Scalar(0));
  }
}

template <typename Scalar>
void LstmOnline<Scalar>::unit_block(Index b, bool traces, const Scalar* grad_h) {
  const Index H = Index(dims_.hidden_size), j0 = b * kUnitBlock;
  units(j0, std::min(H, j0 + kUnitBlock), traces, grad_h);
}

// body(t, phase, k): phase 0 runs gates_block over the blocks of rows k, phase 1 units over the
// blocks of units k; with a team, one parallel region for all T steps and a barrier after each phase.
template <typename Scalar>
template <typename Body>
void LstmOnline<Scalar>::for_each_step(std::size_t T, int num_threads, Body body) {
  const Index N = Index(N_), H = Index(dims_.hidden_size);
  const Index n_blocks = (N + detail::kStepRowBlock - 1) / detail::kStepRowBlock;
  const Index n_unit_blocks = (H + kUnitBlock - 1) / kUnitBlock;
  const int team = detail::team_size(num_threads, work_, std::max(n_blocks, n_unit_blocks));
  if (team == 1) {
    LSTMCORE_STEP_NO_MALLOC_BEGIN();
    for (std::size_t t = 0; t < T; ++t) {
      for (Index b = 0; b < n_blocks; ++b) body(t, 0, b);
      for (Index b = 0; b < n_unit_blocks; ++b) body(t, 1, b);
    }
    LSTMCORE_STEP_NO_MALLOC_END();
    return;
  }
#pragma omp parallel num_threads(team)
  for (std::size_t t = 0; t < T; ++t) {
#pragma omp for schedule(static)
    for (Index b = 0; b < n_blocks; ++b) body(t, 0, b);
#pragma omp for schedule(static)
    for (Index b = 0; b < n_unit_blocks; ++b) body(t, 1, b);
  }
}

template <typename Scalar>
void LstmOnline<Scalar>::step(const Scalar* x, Scalar* out, int num_threads) {
  const Index N = Index(N_), H = Index(dims_.hidden_size);
  ih_.pack(p_.W_ih);
  hh_.pack(p_.W_hh);
  for_each_step(1, num_threads, [&](std::size_t, int phase, Index k) {
    if (phase == 0) gates_block(x, k); else unit_block(k, true, nullptr);
  });
  stepped_ = true;
  if (out) std::copy(h_.data(), h_.data() + N * H, out);
}

template <typename Scalar>
void LstmOnline<Scalar>::accumulate(const Scalar* grad_h, int num_threads) {
  if (!stepped_) throw std::logic_error("accumulate: no step to accumulate (call step first)");
  const Index H = Index(dims_.hidden_size), n_unit_blocks = (H + kUnitBlock - 1) / kUnitBlock;
  const int team = detail::team_size(num_threads, work_, n_unit_blocks);
  if (team == 1) {
    LSTMCORE_STEP_NO_MALLOC_BEGIN();
    for (Index b = 0; b < n_unit_blocks; ++b) unit_block(b, false, grad_h);
    flush_grads();
    LSTMCORE_STEP_NO_MALLOC_END();
    return;
  }
#pragma omp parallel for num_threads(team) schedule(static)
  for (Index b = 0; b < n_unit_blocks; ++b) unit_block(b, false, grad_h);
  flush_grads();
}

template <typename Scalar>
void LstmOnline<Scalar>::run(const Scalar* x, const Scalar* grad_out, std::size_t T, Scalar* out,
                             int num_threads) {
  const Index N = Index(N_), I = Index(dims_.input_size), H = Index(dims_.hidden_size);
  // The weights cannot change during a call: pack them once.
  ih_.pack(p_.W_ih);
  hh_.pack(p_.W_hh);
  for_each_step(T, num_threads, [&](std::size_t t, int phase, Index k) {
    if (phase == 0) {
      gates_block(x + Index(t) * N * I, k);
      if (out) {
        const Index n0 = k * detail::kStepRowBlock, nb = std::min(detail::kStepRowBlock, N - n0);
        std::copy(h_.data() + n0 * H, h_.data() + (n0 + nb) * H, out + (Index(t) * N + n0) * H);
      }
    } else {
      unit_block(k, true, grad_out + Index(t) * N * H);
    }
  });
  flush_grads();
  if (T > 0) stepped_ = true;
}

template class LstmOnline<float>;
template class LstmOnline<double>;

}  // namespace lstmcore
