// One direction of one torch-style LSTM layer (torch.nn.LSTM's cell, gate order i, f, g, o),
// batched, with optional peepholes, per-sequence lengths and reverse direction; forward, the
// exact BPTT backward and the 1997 truncated backward of the same layer.
//
// Maths of one step (x: [N, I], h, c: [N, H], c_prev/h_prev the state before the step):
//   a      = x W_ih^T + b_ih + h_prev W_hh^T + b_hh                 [N, 4H]  (a_i, a_f, a_g, a_o)
//   i      = sigmoid(a_i + w_ci * c_prev)                           peephole reads c(t-1)
//   f      = sigmoid(a_f + w_cf * c_prev)
//   g      = tanh(a_g)
//   c      = f * c_prev + i * g
//   o      = sigmoid(a_o + w_co * c)                                peephole reads c(t)
//   h      = o * tanh(c)
// Steps t >= length[n] leave h, c of sequence n unchanged and output 0. Reverse layers process
// t = T-1 .. 0 (so a sequence starts at its own last step length[n]-1, as a packed sequence in torch).
//
// Data: time-major, row-major, contiguous. GEMMs: weights packed once per call into panels for a
// 6-row register-blocked micro-kernel (detail/gemm_panel.hpp; AVX2+FMA by build or at run time).
// Threads (results are bitwise identical for any num_threads):
//   forward   the input projection in fixed row blocks; then each thread steps its own share of
//             the batch through all steps (every row's arithmetic is the same in any share);
//   backward  the batch in fixed chunks of kLstmBatchChunk sequences, each run through all steps
//             with its own partial weight gradient, summed in chunk order; no barriers in the
//             time loop, so a loaded machine slows it down gracefully.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lstmcore {

// Sequences per chunk of the batch in backward (one thread runs a chunk through all steps).
constexpr std::size_t kLstmBatchChunk = 16;
// Rows (steps x sequences) per block of backward's weight-gradient GEMMs: backward keeps the
// pre-activation errors of one block of about this many rows, not of the whole sequence.
constexpr std::size_t kLstmBackwardBlockRows = 256;

struct LstmLayerDims {
  std::size_t input_size = 1;   // I
  std::size_t hidden_size = 1;  // H
  bool bias = true;             // b_ih, b_hh present
  bool peepholes = false;       // w_ci, w_cf, w_co present
  bool reverse = false;         // process t = T-1 .. 0
  // Throws std::invalid_argument naming the field.
  void validate() const;
};

// Parameters of one layer direction (not owned). Absent ones are nullptr.
template <typename Scalar>
struct LstmLayerParams {
  const Scalar* W_ih = nullptr;  // [4H, I]
  const Scalar* W_hh = nullptr;  // [4H, H]
  const Scalar* b_ih = nullptr;  // [4H]   (bias only)
  const Scalar* b_hh = nullptr;  // [4H]   (bias only)
  const Scalar* w_ci = nullptr;  // [H]    (peepholes only)
  const Scalar* w_cf = nullptr;  // [H]
  const Scalar* w_co = nullptr;  // [H]
};

// Gradients of one layer direction, same shapes as LstmLayerParams; overwritten, never accumulated.
template <typename Scalar>
struct LstmLayerGrads {
  Scalar* W_ih = nullptr;
  Scalar* W_hh = nullptr;
  Scalar* b_ih = nullptr;
  Scalar* b_hh = nullptr;
  Scalar* w_ci = nullptr;
  Scalar* w_cf = nullptr;
  Scalar* w_co = nullptr;
};

// What backward needs from forward; resized by forward (never inside the time loop). Per step and
// sequence it keeps I + 5H numbers: h(t-1), c(t-1) and tanh(c(t)) are recomputed by backward from
// the stored gates and cells instead of being stored (h(t-1) = o(t-1) tanh(c(t-1))).
template <typename Scalar>
struct LstmLayerCache {
  using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::size_t T = 0, N = 0;
  RowMatrix x;       // [T*N, I]   input (copy)
  RowMatrix gates;   // [T*N, 4H]  activated i, f, g, o
  RowMatrix c;       // [T*N, H]   c after each step
  RowMatrix h0, c0;  // [N, H]     initial state
  std::vector<std::int64_t> lengths;  // [N]; empty: every sequence has length T
};

// Forward of one layer direction.
//   x: [T, N, I]; h0, c0: [N, H] or nullptr (zeros); lengths: [N] in [0, T] or nullptr (all T);
//   out: [T, N, H]; h_n, c_n: [N, H] (state after the last valid step of each sequence).
template <typename Scalar>
void lstm_layer_forward(const LstmLayerDims& dims, const LstmLayerParams<Scalar>& p, const Scalar* x,
                        std::size_t T, std::size_t N, const Scalar* h0, const Scalar* c0,
                        const std::int64_t* lengths, Scalar* out, Scalar* h_n, Scalar* c_n,
                        LstmLayerCache<Scalar>& cache, int num_threads);

// Backward of the most recent forward that filled `cache` (with the same dims and params).
//   grad_out: [T, N, H] or nullptr (zeros); grad_hn, grad_cn: [N, H] or nullptr (zeros);
//   grad_x: [T, N, I]; grad_h0, grad_c0: [N, H]; grads overwritten.
// truncated = false: exact gradient (BPTT through every connection).
// truncated = true: the 1997 truncated gradient: no error flows back in time through W_hh or the
// peepholes; only the cell state path c(t-1) -> c(t) (through f) carries error across steps.
// Then grad_h0 is 0 and the state error is dh * o * tanh'(c) + dc(t+1) * f(t+1).
template <typename Scalar>
void lstm_layer_backward(const LstmLayerDims& dims, const LstmLayerParams<Scalar>& p,
                         const LstmLayerCache<Scalar>& cache, const Scalar* grad_out, const Scalar* grad_hn,
                         const Scalar* grad_cn, bool truncated, Scalar* grad_x, Scalar* grad_h0, Scalar* grad_c0,
                         const LstmLayerGrads<Scalar>& grads, int num_threads);

// Which GEMM micro-kernel the layer runs in this process: "avx2+fma (build)", "avx2+fma (run-time
// dispatch)" or "generic ..." (see cpp/src/gemm_panel.cpp).
const char* lstm_layer_gemm_kernel();

}  // namespace lstmcore
