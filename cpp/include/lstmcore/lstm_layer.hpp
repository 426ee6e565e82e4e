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
//   h      = o * tanh(c)                                            (proj_size = 0)
// With a projection (proj_size = P, 0 < P < H; torch's proj_size, Sak et al. 2014) the state that
// is output and fed back is the projected one:
//   m      = o * tanh(c)                                            [N, H]
//   h      = m W_hr^T                                               [N, P]
// so h_prev and h are [N, P] and W_hh is [4H, P]; c stays [N, H]. Below R = P with a projection,
// else R = H (the width of h).
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

#include <cstddef>
#include <cstdint>
#include <memory>

#include "lstmcore/config.hpp"

namespace lstmcore {

// Sequences per chunk of the batch in backward (one thread runs a chunk through all steps).
constexpr std::size_t kLstmBatchChunk = 16;
// Multiply-adds of one step (LstmStream, LstmOnline) from which the step runs on its thread team;
// the Python bindings release the GIL from there too.
constexpr double kLstmStepParallelWork = double(1 << 15);
// Rows (steps x sequences) per block of backward's weight-gradient GEMMs: backward keeps the
// pre-activation errors of one block of about this many rows, not of the whole sequence.
constexpr std::size_t kLstmBackwardBlockRows = 256;

struct LstmLayerDims {
  std::size_t input_size = 1;   // I
  std::size_t hidden_size = 1;  // H
  bool bias = true;             // b_ih, b_hh present
  bool peepholes = false;       // w_ci, w_cf, w_co present
  bool reverse = false;         // process t = T-1 .. 0
  std::size_t proj_size = 0;    // P: 0 (no projection) or 1 .. H-1 (h = W_hr (o * tanh(c)))
  // Throws std::invalid_argument naming the field (sizes 1 .. kMaxSize, proj_size 0 .. H-1).
  void validate() const;
  // R: the width of h (the output and the recurrent input), P with a projection, else H.
  std::size_t recurrent_size() const { return proj_size ? proj_size : hidden_size; }
  // Parameter values of the direction: 4H (I + R) weights, 8H biases, 3H peephole weights, P H
  // projection weights.
  double param_values() const;
  // Values a forward keeps per step and sequence: the cache (x, the gates, c: I + 5H; with a
  // projection also h: P) and the output h (R). In double: no overflow for any sizes.
  double forward_values_per_item() const;
};

// Parameters of one layer direction (not owned). Absent ones are nullptr.
template <typename Scalar>
struct LstmLayerParams {
  const Scalar* W_ih = nullptr;  // [4H, I]
  const Scalar* W_hh = nullptr;  // [4H, R]
  const Scalar* b_ih = nullptr;  // [4H]   (bias only)
  const Scalar* b_hh = nullptr;  // [4H]   (bias only)
  const Scalar* w_ci = nullptr;  // [H]    (peepholes only)
  const Scalar* w_cf = nullptr;  // [H]
  const Scalar* w_co = nullptr;  // [H]
  const Scalar* W_hr = nullptr;  // [P, H] (proj_size > 0 only)
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
  Scalar* W_hr = nullptr;
};

// The data of one forward call. Shapes use T = steps, N = batch, I = input_size, H = hidden_size,
// R = recurrent_size() (P with a projection, else H).
template <typename Scalar>
struct LstmForwardArgs {
  const Scalar* x = nullptr;              // [T, N, I]   input (required)
  std::size_t steps = 0;                  // T >= 1
  std::size_t batch = 0;                  // N >= 1
  const Scalar* h0 = nullptr;             // [N, R]      initial hidden state, or nullptr (zeros)
  const Scalar* c0 = nullptr;             // [N, H]      initial cell state, or nullptr (zeros)
  const std::int64_t* lengths = nullptr;  // [N]         lengths in [0, T], or nullptr (all T)
  Scalar* out = nullptr;                  // [T, N, R]   h(t) of every step (0 past a sequence's end)
  Scalar* h_n = nullptr;                  // [N, R]      h after the last valid step of each sequence
  Scalar* c_n = nullptr;                  // [N, H]      c after the last valid step of each sequence
};

// The data of one backward call (inputs: errors arriving at the layer's outputs; outputs: errors
// at its inputs). T, N are those of the forward that filled the cache.
template <typename Scalar>
struct LstmBackwardArgs {
  const Scalar* grad_out = nullptr;  // [T, N, R]   dL/d out, or nullptr (zeros)
  const Scalar* grad_h_n = nullptr;  // [N, R]      dL/d h_n, or nullptr (zeros)
  const Scalar* grad_c_n = nullptr;  // [N, H]      dL/d c_n, or nullptr (zeros)
  // false: exact gradient (BPTT through every connection). true: the 1997 truncated gradient: no
  // error flows back in time through W_hh or the peepholes; only the cell state path
  // c(t-1) -> c(t) (through f) carries error across steps. Then grad_h0 is 0 and the state error
  // is dh * o * tanh'(c) + dc(t+1) * f(t+1). With a projection, W_hr is part of the step (not a
  // connection in time): the error dh(t) of the step's own output reaches m(t) = o tanh(c) as
  // dm = dh W_hr in both modes, and dW_hr = sum dh^T m is the same formula in both.
  bool truncated = false;
  Scalar* grad_x = nullptr;   // [T, N, I]   dL/dx (required)
  Scalar* grad_h0 = nullptr;  // [N, R]      dL/dh0 (required)
  Scalar* grad_c0 = nullptr;  // [N, H]      dL/dc0 (required)
};

// One layer direction that owns what its backward needs from its forward (haste's ForwardPass /
// BackwardPass pair in one object). forward() fills the cache; backward() differentiates the most
// recent forward and must get the same parameters. Per step and sequence the cache keeps I + 5H
// numbers (x, the activated gates, c); h(t-1), c(t-1) and tanh(c(t)) are recomputed by backward
// from them (h(t-1) = o(t-1) tanh(c(t-1))). With a projection it keeps h(t) too (P more numbers:
// recomputing it would take a GEMM) and recomputes m(t) = o(t) tanh(c(t)). Buffers are resized by forward, never inside a time
// loop. Not thread-safe: one object per thread; distinct objects may run concurrently.
template <typename Scalar>
class LstmLayer {
 public:
  // Throws std::invalid_argument naming the field of `dims` that is out of range.
  explicit LstmLayer(const LstmLayerDims& dims);
  ~LstmLayer();
  LstmLayer(const LstmLayer&) = delete;
  LstmLayer& operator=(const LstmLayer&) = delete;

  const LstmLayerDims& dims() const { return dims_; }
  // Whether the cache holds a forward pass (false after construction or a forward that threw).
  bool has_forward() const { return has_forward_; }
  std::size_t steps() const;  // T of the cached forward (0 without one)
  std::size_t batch() const;  // N of the cached forward (0 without one)

  // Forward of this direction; fills args.out, args.h_n, args.c_n and the cache.
  void forward(const LstmLayerParams<Scalar>& params, const LstmForwardArgs<Scalar>& args, int num_threads);

  // Backward of the cached forward; fills args.grad_x, grad_h0, grad_c0 and `grads` (overwritten,
  // never accumulated). Throws std::logic_error without a cached forward.
  void backward(const LstmLayerParams<Scalar>& params, const LstmBackwardArgs<Scalar>& args,
                const LstmLayerGrads<Scalar>& grads, int num_threads);

  // Scalars the cache holds after a forward of T steps over N sequences:
  // T N (I + 5H + P) + N (R + H)  (P = 0 and R = H without a projection).
  static std::size_t cache_size(const LstmLayerDims& dims, std::size_t T, std::size_t N);

 private:
  struct Cache;  // defined in lstm_layer.cpp
  LstmLayerDims dims_;
  std::unique_ptr<Cache> cache_;
  bool has_forward_ = false;
};

extern template class LstmLayer<float>;
extern template class LstmLayer<double>;

// Which GEMM micro-kernel the layer runs in this process: "avx2+fma (build)", "avx2+fma (run-time
// dispatch)" or "generic ..." (see cpp/src/gemm_panel.cpp).
const char* lstm_layer_gemm_kernel();

}  // namespace lstmcore
