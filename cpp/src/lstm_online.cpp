// Online training of one torch-style LSTM layer with the 1997 truncated gradient, forward in time.
// The maths is in lstm_online.hpp; each line below carries its formula.
#include "lstmcore/lstm_online.hpp"

#include "lstmcore/detail/cell_step.hpp"

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
struct LstmOnline<Scalar>::Products {
  detail::GateProduct<Scalar> ih, hh, hr;  // hr: h = m W_hr^T (projection only)
  // W_hr [P, H] packed as it stands, for e_m = e_h W_hr (projection only)
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> W_hrP;
};

template <typename Scalar>
LstmOnline<Scalar>::~LstmOnline() = default;

template <typename Scalar>
LstmOnline<Scalar>::LstmOnline(const LstmLayerDims& dims, const LstmLayerParams<Scalar>& params,
                               const LstmLayerGrads<Scalar>& grads, std::size_t batch)
    : dims_(dims), p_(params), g_(grads), N_(batch), products_(new Products) {
  dims_.validate();
  if (dims_.reverse)
    throw std::invalid_argument("reverse: online training runs forward in time; a reverse direction needs the future");
  if (!p_.W_ih || !p_.W_hh || !g_.W_ih || !g_.W_hh) throw std::invalid_argument("W_ih, W_hh: required");
  if (dims_.bias && (!p_.b_ih || !p_.b_hh || !g_.b_ih || !g_.b_hh))
    throw std::invalid_argument("b_ih, b_hh: required with bias");
  if (dims_.peepholes && (!p_.w_ci || !p_.w_cf || !p_.w_co || !g_.w_ci || !g_.w_cf || !g_.w_co))
    throw std::invalid_argument("w_ci, w_cf, w_co: required with peepholes");
  if (dims_.proj_size && (!p_.W_hr || !g_.W_hr)) throw std::invalid_argument("W_hr: required with proj_size > 0");
  if (N_ < 1 || N_ > (std::size_t(1) << 31)) throw std::invalid_argument("batch: expected 1 .. 2^31");
  const Index N = Index(N_), I = Index(dims_.input_size), H = Index(dims_.hidden_size), G = 4 * H;
  const Index P = Index(dims_.proj_size), R = Index(dims_.recurrent_size());
  K_ = I + R + (dims_.bias ? 1 : 0);
  // gate products N 4H (I + R), trace updates 2 N 3H K, gradients N 4H K, projection 3 N P H
  work_ = double(N) * double(G) * double(I + R) + double(N) * double(H) * double(K_) * 10.0 +
          3.0 * double(N) * double(P) * double(H);
  Kp_ = (K_ + kLanes<Scalar> - 1) / kLanes<Scalar> * kLanes<Scalar>;
  u_ = RowMatrix::Zero(N, Kp_);
  const Index n_blocks = (N + detail::kStepRowBlock - 1) / detail::kStepRowBlock;
  gacc_ = RowMatrix::Zero(n_blocks * G, Kp_);
  gpeep_ = RowMatrix::Zero(dims_.peepholes ? n_blocks * 3 : 0, H);
  ghr_ = RowMatrix::Zero(n_blocks * P, H);
  m_ = RowMatrix::Zero(P ? N : 0, H);
  em_ = RowMatrix::Zero(P ? N : 0, H);
  gates_ = RowMatrix::Zero(N, G);
  c_prev_ = RowMatrix::Zero(N, H);
  h_ = RowMatrix::Zero(N, R);
  c_ = RowMatrix::Zero(N, H);
  tanh_c_ = RowMatrix::Zero(N, H);
  s_ = RowMatrix::Zero(N * 3 * H, Kp_);
  sp_ = RowMatrix::Zero(dims_.peepholes ? N * 2 : 0, H);
  products_->ih = detail::GateProduct<Scalar>(G, I, N);
  products_->hh = detail::GateProduct<Scalar>(G, R, N);
  if (P) {
    products_->hr = detail::GateProduct<Scalar>(P, H, N);
    products_->W_hrP.resize(gemm::packed_size<Scalar>(P, H));
  }
}

template <typename Scalar>
void LstmOnline<Scalar>::pack_weights() {
  products_->ih.pack(p_.W_ih);
  products_->hh.pack(p_.W_hh);
  if (dims_.proj_size) {
    const Index P = Index(dims_.proj_size), H = Index(dims_.hidden_size);
    products_->hr.pack(p_.W_hr);
    // W_hr [P, H] as the right factor B of e_m = e_h W_hr
    gemm::pack_b(p_.W_hr, H, Index(1), P, H, products_->W_hrP.data(), 0, gemm::panels_of<Scalar>(H));
  }
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
  const Index N = Index(N_), H = Index(dims_.hidden_size), R = Index(dims_.recurrent_size());
  if (h0) h_ = Eigen::Map<const RowMatrix>(h0, N, R); else h_.setZero();
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
  const Index P = Index(dims_.proj_size), R = Index(dims_.recurrent_size());
  const Index n0 = b * detail::kStepRowBlock, nb = std::min(detail::kStepRowBlock, N - n0);
  for (Index n = n0; n < n0 + nb; ++n) {
    // u(t) = [x(t), h(t-1), 1]
    Scalar* u = u_.data() + n * K;
    std::copy(x + n * I, x + (n + 1) * I, u);
    std::copy(h_.data() + n * R, h_.data() + (n + 1) * R, u + I);
    if (dims_.bias) u[I + R] = Scalar(1);
    c_prev_.row(n) = c_.row(n);
  }
  Scalar* a = gates_.data() + n0 * G;  // [nb, 4H]
  // a = b_ih + b_hh
  detail::init_preactivations(G, nb, p_, dims_.bias, a);
  // a += x(t) W_ih^T + h(t-1) W_hh^T      (x, h(t-1) read from u)
  products_->ih.add(u_.data() + n0 * K, K, nb, a);
  products_->hh.add(u_.data() + n0 * K + I, K, nb, a);
  // gates activated in place; c(t), tanh(c(t)), h(t) (or m(t) = o tanh(c(t)) before the projection)
  for (Index n = n0; n < n0 + nb; ++n)
    detail::cell_pointwise(H, p_, dims_.peepholes, a + (n - n0) * G, c_.data() + n * H, tanh_c_.data() + n * H,
                           P ? m_.data() + n * H : h_.data() + n * H);
  if (P) {
    // h(t) = m W_hr^T      [nb, H] x [H, P]
    Scalar* h = h_.data() + n0 * P;
    std::fill(h, h + nb * P, Scalar(0));
    products_->hr.add(m_.data() + n0 * H, H, nb, h);
  }
}

// Every unit j, for the sequences n of block b: the trace update (traces = true) and/or the
// gradient of the loss term with dL/dh(t) = grad_h [N, H] (grad_h != nullptr), summed into the
// block's own padded buffer G_b [4H, Kp] (rows of [W_ih | W_hh | b]) and peephole buffer [3, H];
// flush_grads() adds the blocks' buffers to the gradients in block order.
template <typename Scalar>
LSTMCORE_NOINLINE void LstmOnline<Scalar>::units(Index b, bool traces, const Scalar* grad_h) {
  const Index N = Index(N_), H = Index(dims_.hidden_size), Kp = Kp_, P = Index(dims_.proj_size);
  const Index n0 = b * detail::kStepRowBlock, n1 = std::min(N, n0 + detail::kStepRowBlock);
  const bool peep = dims_.peepholes;
  const Scalar one(1);
  Scalar* Gb = gacc_.data() + b * 4 * H * Kp;                // [4H, Kp]
  Scalar* Pb = peep ? gpeep_.data() + b * 3 * H : nullptr;   // [3, H]: w_ci, w_cf, w_co
  if (grad_h && P) {
    // e_m = e_h W_hr:   e_m[nb, H] = e_h[nb, P] W_hr[P, H]
    const Index nb = n1 - n0;
    std::fill(em_.data() + n0 * H, em_.data() + n1 * H, Scalar(0));
    gemm::gemm_panels<Scalar>(0, nb, P, grad_h + n0 * P, P, 1, products_->W_hrP.data(), H, 0,
                              gemm::panels_of<Scalar>(H), em_.data() + n0 * H, H);
    // grad W_hr += e_h^T m:   [P, H] += sum over the block's sequences of e_h[n, q] m[n, :]
    Scalar* Rb = ghr_.data() + b * P * H;  // [P, H]
    for (Index n = n0; n < n1; ++n) {
      const Scalar *gi = gates_.data() + n * 4 * H, *tc = tanh_c_.data() + n * H;
      for (Index q = 0; q < P; ++q) {
        const Scalar e = grad_h[n * P + q];
        Scalar* rrow = Rb + q * H;
        // m = o tanh(c)
        for (Index j = 0; j < H; ++j) rrow[j] += e * (gi[3 * H + j] * tc[j]);
      }
    }
  }
  for (Index n = n0; n < n1; ++n) {
    const Scalar* gi = gates_.data() + n * 4 * H;  // i, f, g, o of sequence n      [4H]
    const Scalar *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
    const Scalar* cp = c_prev_.data() + n * H;     // c(t-1)                        [H]
    const Scalar* tc = tanh_c_.data() + n * H;     // tanh(c(t))                    [H]
    const Scalar* u = u_.data() + n * Kp;          // u(t) = [x(t), h(t-1), 1, 0..] [Kp]
    // the error of m(t) = o tanh(c(t)): e_h itself, or e_m with a projection
    const Scalar* eh = grad_h ? (P ? em_.data() + n * H : grad_h + n * H) : nullptr;
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
  const Index Pr = Index(dims_.proj_size), R = Index(dims_.recurrent_size());
  const Index n_blocks = gacc_.rows() / (4 * H);
  for (Index b = 0; b < n_blocks; ++b) {
    for (Index r = 0; r < 4 * H; ++r) {
      Scalar* G = gacc_.data() + (b * 4 * H + r) * Kp;
      for (Index k = 0; k < I; ++k) g_.W_ih[r * I + k] += G[k];
      for (Index k = 0; k < R; ++k) g_.W_hh[r * R + k] += G[I + k];
      if (dims_.bias) {
        g_.b_ih[r] += G[I + R];
        g_.b_hh[r] += G[I + R];
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
    if (Pr) {
      Scalar* Rb = ghr_.data() + b * Pr * H;
      for (Index k = 0; k < Pr * H; ++k) g_.W_hr[k] += Rb[k];
      std::fill(Rb, Rb + Pr * H, Scalar(0));
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
  const Index N = Index(N_), H = Index(dims_.recurrent_size());  // the width of h
  pack_weights();
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
  if (dims_.proj_size) pack_weights();  // e_m = e_h W_hr reads the packed W_hr
  for_each_block(num_threads, [&](Index b) { units(b, false, grad_h); });
  LSTMCORE_STEP_NO_MALLOC_BEGIN();
  flush_grads();
  LSTMCORE_STEP_NO_MALLOC_END();
}

template <typename Scalar>
void LstmOnline<Scalar>::run(const Scalar* x, const Scalar* grad_out, std::size_t T, Scalar* out,
                             int num_threads) {
  const Index N = Index(N_), I = Index(dims_.input_size), H = Index(dims_.recurrent_size());  // H: the width of h
  // The weights cannot change during a call: pack them once.
  pack_weights();
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
