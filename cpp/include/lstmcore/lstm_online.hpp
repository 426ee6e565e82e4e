// Online, constant-memory training of one unidirectional torch-style LSTM layer (lstm_layer.hpp's
// cell: gate order i, f, g, o, optional bias and peepholes) with the 1997 truncated gradient,
// computed FORWARD in time (RTRL-style traces), for N independent streams at once. Memory is
// independent of the sequence length: N x 3H x (I + R + 1) trace entries in rows padded to 64
// bytes, plus the per-block gradient sums and per-stream scratch listed with the members below.
//
// Truncation (as LstmLayer::backward with truncated = true): no error flows back in time through
// W_hh or the peepholes; only through c(t-1) -> c(t), via f. Then, with u(t) = [x(t), h(t-1), 1]
// (the 1 for both biases, present with bias only), per sequence n and unit j the derivative of
// c_j(t) with respect to a weight w feeding gate i, f or g of unit j (or a peephole w_ci_j, w_cf_j)
// obeys  s_w(t) = f_j(t) s_w(t-1) + direct_w(t),  s_w(0) = 0,  with direct
//   W_i[j, k]: g_j i_j (1 - i_j) u_k          w_ci_j: g_j i_j (1 - i_j) c_j(t-1)
//   W_f[j, k]: c_j(t-1) f_j (1 - f_j) u_k     w_cf_j: c_j(t-1) f_j (1 - f_j) c_j(t-1)
//   W_g[j, k]: i_j (1 - g_j^2) u_k
// Given e_h = dL_t/dh(t) [N, H] at step t:
//   e_c = e_h o (1 - tanh(c)^2)      grad W_q[j, k] += sum_n e_c[n, j] s_q[n, j, k]   (q = i, f, g)
//   e_o = e_h tanh(c) o (1 - o)      grad W_o[j, k] += sum_n e_o[n, j] u_k[n],  grad w_co_j += e_o c_j(t)
//   grad w_ci_j += e_c s_ci,  grad w_cf_j += e_c s_cf;  b_ih and b_hh get the same gradient (k = 1).
// Summed over the steps of a sequence this equals the truncated backward pass.
// With a projection (proj_size P > 0: h(t) = m(t) W_hr^T, m = o tanh(c), h and h(t-1) [N, P], so
// u(t) = [x(t), h(t-1), 1] has I + P + 1 entries) the error of the step's own output is first taken
// back through it, inside the step (as the truncated backward pass does):
//   e_m = e_h W_hr  [N, H]   replaces e_h in e_c and e_o above;   grad W_hr += e_h^T m   [P, H].
// Below R = P with a projection, else H.
//
// Parameters and gradients are pointers to arrays owned by the caller; parameters are read at every
// call, so in-place updates between steps take effect at the next step (the traces carry on, as in
// the 1997 online rule). Gradients are accumulated (+=), never cleared here; each call sums its
// steps' contributions in buffers first and adds the sums to the gradients when it returns.
// Scratch is allocated by the constructor; step, accumulate and run allocate nothing.
// Threads: the batch is cut into fixed
// blocks of sequences, independent through every step of a call (no barrier in the time loop);
// each block sums its gradient in its own buffer, and the buffers are added to the gradients in
// block order when the call returns, so results are bitwise identical for any num_threads (small
// steps run on one thread; a batch of at most 8 sequences always does).
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <memory>

#include "lstmcore/lstm_layer.hpp"

namespace lstmcore {

template <typename Scalar>
class LstmOnline {
 public:
  using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  // dims.reverse must be false (a reverse direction would need the future). params: as
  // LstmLayerParams; grads: same shapes, accumulated into; batch: N >= 1. State and traces zero.
  LstmOnline(const LstmLayerDims& dims, const LstmLayerParams<Scalar>& params, const LstmLayerGrads<Scalar>& grads,
             std::size_t batch);
  ~LstmOnline();
  LstmOnline(const LstmOnline&) = delete;
  LstmOnline& operator=(const LstmOnline&) = delete;

  // h0, c0: [N, H] or nullptr (zeros). Traces to zero; no step to accumulate until the next step.
  void reset(const Scalar* h0, const Scalar* c0);

  // h0: [N, R], c0: [N, H] are reset()'s; state h [N, R], c [N, H].
  // One step: advances state and traces. x: [N, I]; out: [N, R] (h(t); nullptr: read it from h()).
  void step(const Scalar* x, Scalar* out, int num_threads);

  // grads += this step's truncated gradient for the loss term with dL_t/dh(t) = grad_h [N, R].
  // Throws std::logic_error before the first step (after construction or reset).
  void accumulate(const Scalar* grad_h, int num_threads);

  // T steps of step + accumulate. x: [T, N, I]; grad_out: [T, N, R]; out: [T, N, R] or nullptr.
  void run(const Scalar* x, const Scalar* grad_out, std::size_t T, Scalar* out, int num_threads);

  // Everything one step carries to the next (whether a step can be accumulated, u(t), the gates,
  // c(t-1), h, c, tanh(c), the traces), as carried_size() values: what a copy of the trainer
  // needs. set_carried takes what carried() wrote for the same dims and batch.
  std::size_t carried_size() const;
  void carried(Scalar* out) const;
  void set_carried(const Scalar* in);

  bool stepped() const { return stepped_; }
  const Scalar* h() const { return h_.data(); }  // [N, R]
  const Scalar* c() const { return c_.data(); }  // [N, H]
  std::size_t batch() const { return N_; }
  // Trace values kept: N 3H (I + R + 1) (+ 2 N H with peepholes); stored in rows padded to 64 bytes.
  std::size_t trace_size() const { return std::size_t(s_.rows() * K_ + sp_.size()); }
  // Multiply-adds of one step with accumulation (threads, and the GIL, above a fixed amount).
  double work_per_step() const { return work_; }

 private:
  void gates_block(const Scalar* x, Eigen::Index b);
  void units(Eigen::Index b, bool traces, const Scalar* grad_h);
  void flush_grads();
  void pack_weights();  // the products' packed copies of W_ih, W_hh (and W_hr) for one call
  template <typename Body>
  void for_each_block(int num_threads, Body body);

  LstmLayerDims dims_;
  LstmLayerParams<Scalar> p_;
  LstmLayerGrads<Scalar> g_;
  std::size_t N_;
  Eigen::Index K_;   // I + R (+ 1 with bias)
  Eigen::Index Kp_;  // K_ rounded up to whole 64-byte vectors
  double work_;
  bool stepped_ = false;
  RowMatrix u_;       // [N, Kp]  u(t) = [x(t), h(t-1), 1, 0 ...]
  RowMatrix ghr_;     // [B*P, H]   per block: gradient of W_hr (projection only)
  RowMatrix m_;       // [N, H]   m(t) = o tanh(c(t)) before the projection (projection only; scratch)
  RowMatrix em_;      // [N, H]   e_m = e_h W_hr (projection only; scratch)
  RowMatrix gacc_;    // [B*4H, Kp] per block of sequences: gradient of [W_ih | W_hh | b] summed during a call
  RowMatrix gpeep_;   // [B*3, H]   per block: gradient of w_ci, w_cf, w_co (peepholes only)
  RowMatrix gates_;   // [N, 4H]  activated i, f, g, o of the last step
  RowMatrix c_prev_;  // [N, H]   c(t-1)
  RowMatrix h_, c_;   // [N, R], [N, H]   carried state
  RowMatrix tanh_c_;  // [N, H]
  RowMatrix s_;       // [N*3*H, Kp] traces s_q[n, j, :] at row (n*3 + q)*H + j, q = i, f, g
  RowMatrix sp_;      // [N*2, H]    peephole traces s_ci[n, :], s_cf[n, :] at rows 2n, 2n+1 (peepholes only)
  struct Products;  // the products with W_ih, W_hh, W_hr (lstm_online.cpp)
  std::unique_ptr<Products> products_;
};

}  // namespace lstmcore
