// Streaming inference of a stack of unidirectional torch-style LSTM layers (the cell of
// lstm_layer.hpp: gate order i, f, g, o, optional bias and peepholes): the stream carries the state
// h, c [L][N, H] of N independent sequences and advances it one time step per call, so a sequence
// of any length is processed as it arrives, with memory independent of its length.
//
// One step, for layer k = 0 .. L-1 with input x_0 = x(t) [N, I] and x_k = h_{k-1}(t) [N, H]:
//   a      = x_k W_ih^T + b_ih + h_k(t-1) W_hh^T + b_hh                  [N, 4H]
//   i      = sigmoid(a_i + w_ci * c_k(t-1)),  f = sigmoid(a_f + w_cf * c_k(t-1)),  g = tanh(a_g)
//   c_k(t) = f * c_k(t-1) + i * g
//   o      = sigmoid(a_o + w_co * c_k(t)),  h_k(t) = o * tanh(c_k(t))
// and the step's output is h_{L-1}(t). With a projection (proj_size P > 0) every layer outputs and
// carries h_k(t) = (o * tanh(c_k(t))) W_hr^T [N, P] instead, W_hh is [4H, P] and layers k > 0 read
// P inputs; below R = P with a projection, else H. Steps over a chunk x [T, N, I] give the layer's
// forward pass continuing from the carried state.
//
// Parameters are pointers to arrays owned by the caller, read at every call: updates made to them
// in place between calls (an optimizer) take effect at the next step. Scratch is allocated by the
// constructor; step() and run() allocate nothing. Threads: the batch is cut into fixed blocks of
// rows, so results are bitwise identical for any num_threads (small steps run on one thread).
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <memory>
#include <vector>

#include "lstmcore/lstm_layer.hpp"

namespace lstmcore {

struct LstmStackDims {
  std::size_t input_size = 1;   // I (input of layer 0)
  std::size_t hidden_size = 1;  // H
  std::size_t num_layers = 1;   // L (layers k > 0 read the R outputs of layer k-1)
  bool bias = true;
  bool peepholes = false;
  std::size_t proj_size = 0;    // P: 0 (none) or 1 .. H-1
  std::size_t recurrent_size() const { return proj_size ? proj_size : hidden_size; }  // R
  // Throws std::invalid_argument naming the field.
  void validate() const;
};

template <typename Scalar>
class LstmStream {
 public:
  using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  // params: [L] parameters of each layer (W_ih [4H, I] for layer 0, [4H, R] above; W_hh [4H, R];
  // b_ih, b_hh [4H] with bias; w_ci, w_cf, w_co [H] with peepholes; W_hr [P, H] with a projection);
  // batch: N >= 1. State zero.
  LstmStream(const LstmStackDims& dims, const std::vector<LstmLayerParams<Scalar>>& params, std::size_t batch);
  ~LstmStream();
  LstmStream(const LstmStream&) = delete;
  LstmStream& operator=(const LstmStream&) = delete;

  // h0: [L, N, R], c0: [L, N, H], or nullptr (zeros).
  void reset(const Scalar* h0, const Scalar* c0);

  // One step. x: [N, I]; out: [N, R] (h of the top layer; nullptr: read it from h()).
  void step(const Scalar* x, Scalar* out, int num_threads);

  // T steps. x: [T, N, I]; out: [T, N, R].
  void run(const Scalar* x, std::size_t T, Scalar* out, int num_threads);

  const Scalar* h() const { return h_.data(); }  // [L, N, R]
  const Scalar* c() const { return c_.data(); }  // [L, N, H]
  std::size_t batch() const { return N_; }
  const LstmStackDims& dims() const { return dims_; }
  // Multiply-adds of one step (the call uses threads, and the bindings release the GIL, above a
  // fixed amount of work).
  double work_per_step() const { return work_; }

 private:
  void advance(const Scalar* x, std::size_t T, Scalar* out, int num_threads);
  void layer_block(std::size_t k, const Scalar* x_in, Eigen::Index ldx, Eigen::Index n0, Eigen::Index nb);

  LstmStackDims dims_;
  std::vector<LstmLayerParams<Scalar>> params_;
  std::size_t N_;
  double work_;
  RowMatrix h_, c_;   // [L*N, R], [L*N, H] carried state
  RowMatrix a_;       // [N, 4H] gate scratch (each block of rows its own rows)
  RowMatrix tanh_c_;  // [N, H]
  RowMatrix m_;       // [N, H] o * tanh(c) before the projection (projection only)
  struct Products;                    // [L] products with W_ih, W_hh, W_hr (lstm_stream.cpp)
  std::unique_ptr<Products> products_;
};

}  // namespace lstmcore
