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
#include <algorithm>
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
  // Out of line, like the constructor: the buffers are allocated and freed by the core's own code
  // (which may be built for another instruction set, hence another Eigen alignment, than the caller).
  ~Lstm1997();
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

  // y(T-1) [n_out]: the outputs of the last step of the latest forward() or train_sequence() pass
  // (in train_sequence, computed before that step's update). For batch drivers
  // (lstm1997_batch.hpp) that judge a sequence by its final outputs without a second pass.
  const Scalar* last_output() const { return y_.data(); }

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

  // The hot path (forward steps and the online RTRL update) works on padded copies of the hidden
  // and output weight matrices with the bias as one more column, so that every row operation is a
  // run of whole fixed-width chunks (kChunk scalars, one 256-bit register) with no tail:
  //   Wa_  [U, n1p]      = [W_hidden | b_hidden | 0...],  n1p = n_src + 1 rounded up to kChunk
  //   Wya_ [n_out, nzp]  = [W_y | b_y | 0...],            nzp = n_out_src + 1 rounded up to kChunk
  // and the source vectors carry the matching constant: ub_ = [u(t), 1, 0...], za_ = [z(t), 1, 0...].
  // A bias the configuration lacks is a column of zeros that stays 0: the traces of its kind are
  // built from u0_ = [u(t), 0, 0...], so it never receives a gradient. params_ stays the authoritative copy between
  // calls: pack_params() copies it in at the start of a call, unpack_params() back at the end of an
  // online pass that changed the weights. Peepholes are read and updated in params_ itself.
  static constexpr Eigen::Index kChunk = Eigen::Index(32 / sizeof(Scalar));
  // Where an RTRL step adds scale * g(t): the packed weights themselves (online update) or packed
  // gradient accumulators (Ga_, Gya_ and the peephole entries of grad_acc_).
  struct StepOut {
    Scalar* W;   // [U, n1p]
    Scalar* Wy;  // [n_out, nzp]
    Scalar *p_in, *p_out, *p_forget;  // [C] each
  };
  void pack_params();
  void unpack_params();
  // Copies packed [W | b] rows into a flat buffer with the parameter layout (W_hidden, b_hidden,
  // W_y, b_y; absent biases written as 0).
  void unpack_into(const Scalar* W, const Scalar* Wy, Scalar* buffer) const;

  void reset_state();
  // One forward step from the carried state (a(t-1) in ub_, s_prev_) with input x_t: [n_in].
  // Fills ub_/u0_, net_, act_, gc_, dgc_, s_, hs_, dhs_, za_, net_y_, y_.
  void step_forward(const Scalar* x_t);
  // Moves the current step's state into the carried state (a(t) into the sources of t+1).
  void advance_state();
  // Step loss 1/2 |target - y|^2 and the output error dnet_y_ = dL/dnet_y = -f'(net_y)(target - y).
  double step_output_error(const Scalar* target_t);
  // RTRL, one fused pass: update the forward traces Tc_, Tin_, Tf_ (and peephole traces) with this
  // step (eqs. 25, 27 and the forget-gate and peephole extensions) and, if WithGradient, add
  // scale * (this step's truncated gradient) to `out` (needs step_output_error first).
  template <bool WithGradient>
  void rtrl_step(Scalar scale, const StepOut& out);
  // The phases of step_forward, in order: net inputs (u(t), W_hidden u(t) + b, peepholes into the
  // input and forget gates); gate activations and g(net_c), g'(net_c); the carousel s(t) and the
  // output gate's peephole; h(s), h'(s) and y_c; the output units.
  void step_net_inputs(const Scalar* x_t);
  void step_squash_gates_and_cell_inputs();
  void step_carousel();
  void step_cell_outputs();
  void step_output_units(const Scalar* x_t);
  // The phases of rtrl_step, in order: this step's errors (output units, cells, output gates; with
  // a gradient only), the per-cell trace factors, the weight traces, the peephole traces.
  void rtrl_output_error(Scalar scale, const StepOut& out);
  void rtrl_trace_factors();
  template <bool WithGradient>
  void rtrl_traces(const StepOut& out);
  template <bool WithGradient>
  void rtrl_peephole_traces(const StepOut& out);

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
  // Padded lengths: n1p_, nzp_ (see above); Up_, Cp_, Kp_: U, C, n_out rounded up to whole SIMD
  // packets and chunks, so that the squashers run on whole packets.
  Eigen::Index n1p_, nzp_, Up_, Cp_, Kp_;
  bool need_u0_;  // some unit kind of the hidden layer has no bias

  // A buffer inside arena_: all the data a time step touches lies in one allocation (made by the
  // constructor, 64-byte aligned pieces), so that its relative placement, and with it the speed
  // (cache sets, 4K aliasing between loads and stores), does not vary from object to object.
  struct Buf {
    Scalar* p = nullptr;
    Eigen::Index n = 0;
    Scalar* data() const { return p; }
    Scalar& operator[](Eigen::Index i) const { return p[i]; }
    void setZero() const { std::fill(p, p + n, Scalar(0)); }
    Eigen::Map<Vector> head(Eigen::Index m) const { return Eigen::Map<Vector>(p, m); }
  };
  Vector arena_;

  // Packed weights and packed gradient accumulators, row-major.
  Buf Wa_, Wya_, Ga_, Gya_;

  // Per-step state. Padding entries of ub_, u0_, za_, net_, s_prev_, s_ stay 0; those of the
  // other padded buffers hold unused values.
  Buf ub_;      // [n1p] [u(t), 1, 0...]: x(t), then the recurrent part of a(t-1)
  Buf u0_;      // [n1p] [u(t), 0, 0...] (if need_u0_)
  Buf s_prev_;  // [Cp] cell states s(t-1)
  Buf net_;     // [Up] net inputs of the hidden units
  Buf act_;     // [Up] activations a(t) (an absent gate has no entry: it acts as the constant 1)
  Buf gc_;      // [Cp] g(net_c)
  Buf dgc_;     // [Cp] g'(net_c)
  Buf s_;       // [Cp] s(t)
  Buf sig_s_;   // [Cp] sigmoid(s(t)) (if h is affine in the sigmoid)
  Buf hs_;      // [Cp] h(s(t))
  Buf dhs_;     // [Cp] h'(s(t))
  Buf za_;      // [nzp] output sources [y_c(t), x(t) if shortcut, 1 if output bias, 0...]
  Buf net_y_;   // [Kp]
  Buf y_;       // [Kp]
  Buf dnet_y_;  // [n_out] dL/dnet_y at this step
  // Scratch, allocated once: [C] x4, carries dS_ [C] and dA_ [U], dnet_ [U], du_ [n_src],
  // dy_c_ [nzp], per-cell trace factors k_c_, k_in_, k_f_, e_s_ [C].
  Vector tmp_c_, tmp_c2_, tmp_c3_, tmp_c4_, dS_, dA_, dnet_, du_;
  Buf dy_c_, k_c_, k_in_, k_f_, e_s_;
  Vector grad_acc_;  // [layout().total] gradients before they are copied out; summed gradient per sequence

  // RTRL traces (allocated once): per cell, over the sources of its block's units.
  // (row-major, in arena_)
  Buf Tc_;   // [C, n1p]  d s_c / d (W_cell[c], b_cell[c])           (sources ub_ or u0_)
  Buf Tin_;  // [C, n1p]  d s_c / d (W_in[j], b_in[j])
  Buf Tf_;   // [C, n1p]  d s_c / d (W_forget[j], b_forget[j])     (if forget gate)
  Buf Tpi_;  // [C, S]    d s_c / d p_in[block j cells]            (if peepholes)
  Buf Tpf_;  // [C, S]    d s_c / d p_forget[block j cells]        (if peepholes and forget gate)

  // History for the backward pass (resized per call, outside the time loop).
  RowMatrix H_u_, H_act_, H_gc_, H_hs_, H_s_, H_y_, H_dnet_, H_dnet_y_, H_z_;
};

extern template class Lstm1997<float>;
extern template class Lstm1997<double>;

}  // namespace lstmcore
