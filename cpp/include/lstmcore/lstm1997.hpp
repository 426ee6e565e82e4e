// The 1997 LSTM network (Hochreiter & Schmidhuber), with forget gates and peepholes as options,
// and its three gradients: exact BPTT, the 1997 truncated gradient by a backward pass, and the
// same truncated gradient by forward RTRL traces (memory independent of sequence length).
//
// The maths, line by line: docs/ENGINE.md. Data is row-major and contiguous; time is the leading
// axis. All buffers of one network are allocated by the constructor (and, for the backward pass,
// once per call before the time loop): nothing allocates inside a time loop.
//
// A network object is not thread-safe; distinct objects may be used from distinct threads.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "lstmcore/config.hpp"

namespace lstmcore {

enum class GradientMode {
  Full,            // exact gradient: backpropagation through time through every connection
  TruncatedBptt,   // the 1997 truncated gradient, by a backward pass
  TruncatedRtrl,   // the 1997 truncated gradient, by forward traces (eqs. 19-28)
};

enum class UpdateSchedule {
  Step,      // w -= lr * g(t) right after every step t that has a target
  Sequence,  // w -= lr * sum_t g(t) once at the end of the sequence
};

template <typename Scalar>
class Lstm1997 {
 public:
  using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using MatrixMap = Eigen::Map<RowMatrix>;
  using VectorMap = Eigen::Map<Vector>;

  // Throws std::invalid_argument if the configuration is invalid. Parameters start at 0.
  explicit Lstm1997(const Lstm1997Config& config);
  Lstm1997(const Lstm1997&) = delete;  // views point into the object's own buffers
  Lstm1997& operator=(const Lstm1997&) = delete;

  const Lstm1997Config& config() const { return cfg_; }
  const ParamLayout& layout() const { return layout_; }
  // The flat parameter buffer, layout().total entries; structural zeros (absent biases and
  // peepholes) must stay 0.
  Scalar* params() { return params_.data(); }
  const Scalar* params() const { return params_.data(); }

  // x: [T, n_in] -> y: [T, n_out], from the zero state.
  void forward(const Scalar* x, std::size_t T, Scalar* y);

  // Loss L = 1/2 sum_t mask[t] sum_k (target[t,k] - y[t,k])^2 and its gradient dL/dw.
  // x: [T, n_in], target: [T, n_out], mask: [T] (nullptr: every step), grad: [layout().total],
  // overwritten (structural zeros stay 0). Returns L.
  double gradient(const Scalar* x, const Scalar* target, const std::uint8_t* mask, std::size_t T,
                  GradientMode mode, Scalar* grad);

  // One online pass with the truncated RTRL rule that updates the parameters in place (see
  // UpdateSchedule). Returns the loss accumulated during the pass, each step's loss as computed.
  double train_sequence(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                        std::size_t T, Scalar lr, UpdateSchedule update);

  // One gradient-descent step on a whole sequence with the exact (full BPTT) gradient:
  // w -= lr * dL/dw. Returns the loss before the step.
  double train_sequence_full(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                             std::size_t T, Scalar lr);

 private:
  // Named views of a flat buffer with the parameter layout (parameters or gradients).
  struct Views {
    MatrixMap W_hidden;  // [U, n_src]
    VectorMap b_hidden;  // [U]
    VectorMap p_in, p_out, p_forget;  // [C] each
    MatrixMap W_y;       // [n_out, n_out_src]
    VectorMap b_y;       // [n_out]
  };
  Views views_of(Scalar* buffer) const;

  void reset_state();
  // One forward step from the carried state (a_prev_, s_prev_) with input x_t: [n_in].
  // Fills u_, net_, act_, gc_, hs_, s_, z_, y_.
  void step_forward(const Scalar* x_t);
  // Moves the current step's state into the carried state.
  void advance_state();
  // Step loss 1/2 |target - y|^2 and the output error dnet_y_ = dL/dnet_y = -f'(net_y)(target - y).
  double step_output_error(const Scalar* target_t);
  // RTRL: update the forward traces Tc_, Tin_, Tf_ with this step (eqs. 25, 27 and the forget-gate
  // and peephole extensions).
  void update_traces();
  // RTRL: add scale * (this step's truncated gradient) to the buffer `out` (a gradient buffer, or
  // the parameters themselves for an online update). Needs step_output_error first.
  void add_step_gradient(Scalar scale, Views& out);

  // The gradient of `mode` into grad_acc_ (see gradient()).
  double compute_gradient(const Scalar* x, const Scalar* target, const std::uint8_t* mask, std::size_t T,
                          GradientMode mode);
  // Backward pass over the recorded history (gradient modes Full and TruncatedBptt) into grad_acc_.
  double backward(const Scalar* target, const std::uint8_t* mask, std::size_t T, bool truncated);

  Lstm1997Config cfg_;
  ParamLayout layout_;
  std::size_t C_, B_, S_, U_, n_src_, n_rec_;
  // Parameters and gradients live in buffers of the network's own, 64-byte aligned (Eigen): every
  // reduction (GEMV, GEMM, sums) then runs in the same order whatever the caller's memory, so
  // results are bitwise reproducible across objects and calls.
  Vector params_;  // [layout().total]
  Views P_;        // views of params_

  // Unit-index offsets of the gate kinds in the unit order (see config.hpp).
  std::size_t ui_, uo_, uf_;

  // Per-step state (allocated once).
  Vector a_prev_;  // [U] hidden activations a(t-1): y_c, y_in, y_out, y_forget
  Vector s_prev_;  // [C] cell states s(t-1)
  Vector u_;       // [n_src + 1] sources u(t) followed by the constant 1 of the bias
  Vector net_;     // [U] net inputs of the hidden units
  Vector act_;     // [U] activations a(t) (an absent gate has no entry: it acts as the constant 1)
  Vector gc_;      // [C] g(net_c)
  Vector s_;       // [C] s(t)
  Vector hs_;      // [C] h(s(t))
  Vector z_;       // [n_out_src] output sources [y_c(t), x(t)]
  Vector net_y_;   // [n_out]
  Vector y_;       // [n_out]
  Vector dnet_y_;  // [n_out] dL/dnet_y at this step
  // Scratch, allocated once: [C] x4, carries dS_ [C] and dA_ [U], dnet_ [U], du_ [n_src].
  Vector tmp_c_, tmp_c2_, tmp_c3_, tmp_c4_, dS_, dA_, dnet_, du_;
  Vector grad_acc_;  // [layout().total] gradients before they are copied out; summed gradient per sequence

  // RTRL traces (allocated once): per cell, over the sources of its block's units.
  RowMatrix Tc_;   // [C, n_src + 1]       d s_c / d (W_cell[c], b_cell[c])
  RowMatrix Tin_;  // [C, n_src + 1 + S]   d s_c / d (W_in[j], b_in[j], p_in[block j cells])
  RowMatrix Tf_;   // [C, n_src + 1 + S]   d s_c / d (W_forget[j], b_forget[j], p_forget[...]) (if forget gate)

  // History for the backward pass (resized per call, outside the time loop).
  RowMatrix H_u_, H_act_, H_gc_, H_hs_, H_s_, H_y_, H_dnet_, H_dnet_y_, H_z_;
};

extern template class Lstm1997<float>;
extern template class Lstm1997<double>;

}  // namespace lstmcore
