// Online training of one torch-style LSTM layer with the 1997 truncated gradient, forward in time.
// The maths is in lstm_online.hpp; each line below carries its formula.
#include "lstmcore/lstm_online.hpp"

#include <algorithm>
#include <initializer_list>
#include <stdexcept>

namespace lstmcore {

using detail::Index;

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
  const Index n_blocks = (N + detail::kStepRowBlock - 1) / detail::kStepRowBlock;
  gacc_ = RowMatrix::Zero(n_blocks * G, Kp_);
  gpeep_ = RowMatrix::Zero(dims_.peepholes ? n_blocks * 3 : 0, H);
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
std::size_t LstmOnline<Scalar>::carried_size() const {
  return 1 + std::size_t(u_.size() + gates_.size() + c_prev_.size() + h_.size() + c_.size() + tanh_c_.size() +
                         s_.size() + sp_.size());
}

template <typename Scalar>
void LstmOnline<Scalar>::carried(Scalar* out) const {
  *out++ = stepped_ ? Scalar(1) : Scalar(0);
  for (const RowMatrix* m : {&u_, &gates_, &c_prev_, &h_, &c_, &tanh_c_, &s_, &sp_})
    out = std::copy(m->data(), m->data() + m->size(), out);
}

template <typename Scalar>
void LstmOnline<Scalar>::set_carried(const Scalar* in) {
  stepped_ = *in++ != Scalar(0);
  for (RowMatrix* m : {&u_, &gates_, &c_prev_, &h_, &c_, &tanh_c_, &s_, &sp_}) {
    std::copy(in, in + m->size(), m->data());
    in += m->size();
  }
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

// Every unit j, for the sequences n of block b: the trace update (traces = true) and/or the
// gradient of the loss term with dL/dh(t) = grad_h [N, H] (grad_h != nullptr), summed into the
// block's own padded buffer G_b [4H, Kp] (rows of [W_ih | W_hh | b]) and peephole buffer [3, H];
// flush_grads() adds the blocks' buffers to the gradients in block order.
template <typename Scalar>
LSTMCORE_NOINLINE void LstmOnline<Scalar>::units(Index b, bool traces, const Scalar* grad_h) {
  const Index N = Index(N_), H = Index(dims_.hidden_size), Kp = Kp_;
  const Index n0 = b * detail::kStepRowBlock, n1 = std::min(N, n0 + detail::kStepRowBlock);
  const bool peep = dims_.peepholes;
  const Scalar one(1);
  Scalar* Gb = gacc_.data() + b * 4 * H * Kp;                // [4H, Kp]
  Scalar* Pb = peep ? gpeep_.data() + b * 3 * H : nullptr;   // [3, H]: w_ci, w_cf, w_co
  for (Index n = n0; n < n1; ++n) {
    const Scalar* gi = gates_.data() + n * 4 * H;  // i, f, g, o of sequence n      [4H]
    const Scalar *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
    const Scalar* cp = c_prev_.data() + n * H;     // c(t-1)                        [H]
    const Scalar* tc = tanh_c_.data() + n * H;     // tanh(c(t))                    [H]
    const Scalar* u = u_.data() + n * Kp;          // u(t) = [x(t), h(t-1), 1, 0..] [Kp]
    const Scalar* eh = grad_h ? grad_h + n * H : nullptr;
    for (Index q = 0; q < 3; ++q) {
      Scalar* Sq = s_.data() + (n * 3 + q) * H * Kp;  // s_q[n, j, :] at row j   [H, Kp]
      for (Index j = 0; j < H; ++j) {
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
          axpy(Gb + (q * H + j) * Kp, row, ec, Kp);
        }
      }
    }
    Scalar* sp = peep ? sp_.data() + n * 2 * H : nullptr;  // s_ci, s_cf of sequence n   [2, H]
    if (traces && peep) {
      for (Index j = 0; j < H; ++j) {
        const Scalar i = gi[j], f = gf[j], g = gg[j];
        // s_ci(t) = f s_ci(t-1) + g i (1 - i) c(t-1);  s_cf(t) = f s_cf(t-1) + c(t-1) f (1 - f) c(t-1)
        sp[j] = f * sp[j] + g * i * (one - i) * cp[j];
        sp[H + j] = f * sp[H + j] + cp[j] * f * (one - f) * cp[j];
      }
    }
    if (eh) {
      for (Index j = 0; j < H; ++j) {
        const Scalar o = go[j];
        // e_o = e_h tanh(c) o (1 - o)
        const Scalar eo = eh[j] * tc[j] * o * (one - o);
        // grad W_o[j, :] += e_o u(t)
        axpy(Gb + (3 * H + j) * Kp, u, eo, Kp);
        if (peep) {
          const Scalar ec = eh[j] * o * (one - tc[j] * tc[j]);
          // grad w_ci += e_c s_ci;  grad w_cf += e_c s_cf;  grad w_co += e_o c(t)
          Pb[j] += ec * sp[j];
          Pb[H + j] += ec * sp[H + j];
          Pb[2 * H + j] += eo * c_(n, j);
        }
      }
    }
  }
}

// grads += G_b for b = 0, 1, ... in order (split into the W_ih columns, the W_hh columns and the
// bias column; peepholes); the buffers back to 0.
template <typename Scalar>
void LstmOnline<Scalar>::flush_grads() {
  const Index I = Index(dims_.input_size), H = Index(dims_.hidden_size), Kp = Kp_;
  const Index n_blocks = gacc_.rows() / (4 * H);
  for (Index b = 0; b < n_blocks; ++b) {
    for (Index r = 0; r < 4 * H; ++r) {
      Scalar* G = gacc_.data() + (b * 4 * H + r) * Kp;
      for (Index k = 0; k < I; ++k) g_.W_ih[r * I + k] += G[k];
      for (Index k = 0; k < H; ++k) g_.W_hh[r * H + k] += G[I + k];
      if (dims_.bias) {
        g_.b_ih[r] += G[I + H];
        g_.b_hh[r] += G[I + H];
      }
      std::fill(G, G + Kp, Scalar(0));
    }
    if (dims_.peepholes) {
      Scalar* P = gpeep_.data() + b * 3 * H;
      for (Index j = 0; j < H; ++j) {
        g_.w_ci[j] += P[j];
        g_.w_cf[j] += P[H + j];
        g_.w_co[j] += P[2 * H + j];
      }
      std::fill(P, P + 3 * H, Scalar(0));
    }
  }
}

// body(b) for each block of sequences b: on one thread, or on a team (blocks are independent
// through every step of a call: no barrier inside the time loop).
template <typename Scalar>
template <typename Body>
void LstmOnline<Scalar>::for_each_block(int num_threads, Body body) {
  const Index n_blocks = (Index(N_) + detail::kStepRowBlock - 1) / detail::kStepRowBlock;
  const int team = detail::team_size(num_threads, work_, n_blocks);
  if (team == 1) {
    LSTMCORE_STEP_NO_MALLOC_BEGIN();
    for (Index b = 0; b < n_blocks; ++b) body(b);
    LSTMCORE_STEP_NO_MALLOC_END();
    return;
  }
#pragma omp parallel for num_threads(team) schedule(static)
  for (Index b = 0; b < n_blocks; ++b) body(b);
}

template <typename Scalar>
void LstmOnline<Scalar>::step(const Scalar* x, Scalar* out, int num_threads) {
  const Index N = Index(N_), H = Index(dims_.hidden_size);
  ih_.pack(p_.W_ih);
  hh_.pack(p_.W_hh);
  for_each_block(num_threads, [&](Index b) {
    gates_block(x, b);
    units(b, true, nullptr);
  });
  stepped_ = true;
  if (out) std::copy(h_.data(), h_.data() + N * H, out);
}

template <typename Scalar>
void LstmOnline<Scalar>::accumulate(const Scalar* grad_h, int num_threads) {
  if (!stepped_) throw std::logic_error("accumulate: no step to accumulate (call step first)");
  for_each_block(num_threads, [&](Index b) { units(b, false, grad_h); });
  LSTMCORE_STEP_NO_MALLOC_BEGIN();
  flush_grads();
  LSTMCORE_STEP_NO_MALLOC_END();
}

template <typename Scalar>
void LstmOnline<Scalar>::run(const Scalar* x, const Scalar* grad_out, std::size_t T, Scalar* out,
                             int num_threads) {
  const Index N = Index(N_), I = Index(dims_.input_size), H = Index(dims_.hidden_size);
  // The weights cannot change during a call: pack them once.
  ih_.pack(p_.W_ih);
  hh_.pack(p_.W_hh);
  for_each_block(num_threads, [&](Index b) {
    const Index n0 = b * detail::kStepRowBlock, nb = std::min(detail::kStepRowBlock, N - n0);
    for (std::size_t t = 0; t < T; ++t) {
      gates_block(x + Index(t) * N * I, b);
      if (out) std::copy(h_.data() + n0 * H, h_.data() + (n0 + nb) * H, out + (Index(t) * N + n0) * H);
      units(b, true, grad_out + Index(t) * N * H);
    }
  });
  LSTMCORE_STEP_NO_MALLOC_BEGIN();
  flush_grads();
  LSTMCORE_STEP_NO_MALLOC_END();
  if (T > 0) stepped_ = true;
}

template class LstmOnline<float>;
template class LstmOnline<double>;

}  // namespace lstmcore
