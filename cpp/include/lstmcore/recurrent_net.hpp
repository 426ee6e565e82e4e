// Conventional recurrent networks of logistic units, the competitors of the 1997 paper
// (Tables 1 and 2), with their three gradients: exact RTRL (sensitivities carried forward in
// time, Williams & Zipser 1989), exact BPTT (the same numbers by a backward pass) and Elman's
// truncated gradient (the context layer is a copy treated as an input: error stops after one
// step). The maths, line by line: docs/BASELINES.md.
//
// Three layouts. x(t): [I] inputs, M units in the recurrent layer, K outputs.
//   Full   (Williams & Zipser): M = n_hidden + n_out units, each fed by x(t) and every unit at
//          t-1; the last K units are the outputs.
//   Hidden (Elman): M = n_hidden units fed by x(t) and every hidden unit at t-1 (the context);
//          K output units fed by the hidden units at t (and x(t) with shortcut).
//   Self:  as Hidden, but each hidden unit sees only its own activation at t-1.
//
// Parameters, row-major:
//   A [M, ns]  recurrent-layer weights over the source vector s(t) = [x(t), beta, a(t-1)]
//              (a(t-1) part only for Full/Hidden; beta = 1 with bias, else 0 and the bias column
//              is a structural zero that never moves).  ns = I + 1 (+ M for Full/Hidden).
//   r [M]      Self only: the self-recurrent weights.
//   B [K, nz]  Hidden/Self only: output weights over z(t) = [a(t), x(t) if shortcut, beta].
// Their public names (W_x, W_r, b; W_hx, W_hh / w_hh, b_h, W_yh, W_yx, b_y) are views of blocks of
// A, r and B, listed by params().
//
// Buffers for one step are allocated by the constructor; the RTRL sensitivities on the first
// RTRL call; the history of a backward pass once per call before its loops. Nothing allocates
// inside a time loop. An object is not thread-safe; distinct objects may be used from distinct
// threads.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lstmcore {

enum class RecurrentLayout { Full, Hidden, Self };
enum class RecurrentGradient {
  Rtrl,   // exact gradient, forward sensitivities d a_k(t) / d w (memory independent of T)
  Bptt,   // exact gradient, backward pass over the recorded sequence
  Elman,  // truncated: the previous activations a(t-1) are treated as inputs
};
enum class RecurrentUpdate {
  Step,      // w -= lr * g(t) right after every step t with a target (online RTRL / Elman)
  Sequence,  // w -= lr * sum_t g(t) once at the end of the sequence
};

struct RecurrentNetConfig {
  std::size_t n_in = 1;
  std::size_t n_hidden = 1;
  std::size_t n_out = 1;
  RecurrentLayout layout = RecurrentLayout::Full;
  bool shortcut = false;        // x(t) -> outputs (Hidden and Self only)
  bool bias = true;             // a bias on every non-input unit
  bool linear_outputs = false;  // output units linear instead of logistic

  // Throws std::invalid_argument naming the field when the configuration is impossible.
  void validate() const;

  bool has_readout() const { return layout != RecurrentLayout::Full; }
  bool dense_recurrence() const { return layout != RecurrentLayout::Self; }
  // M: units of the recurrent layer.
  std::size_t n_units() const { return layout == RecurrentLayout::Full ? n_hidden + n_out : n_hidden; }
  // ns: length of the source vector s(t).
  std::size_t n_sources() const { return n_in + 1 + (dense_recurrence() ? n_units() : 0); }
  // nz: length of the output sources z(t) (0 for Full).
  std::size_t n_out_sources() const { return has_readout() ? n_units() + (shortcut ? n_in : 0) + 1 : 0; }
  // Scalars of the RTRL sensitivities (before padding): M * M * ns (dense) or M * (ns + 1) (Self).
  std::size_t n_trace() const;
};

// One public weight array: a block of A, B or r.
struct RecurrentParam {
  enum Matrix { A, B, R };
  std::string name;
  Matrix matrix;
  std::size_t row0, col0, rows, cols;
  bool is_vector;  // a 1-D array (rows x 1 block of A or B, or r)
  std::size_t size() const { return rows * cols; }
};

template <typename Scalar>
class RecurrentNet {
 public:
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  // Throws std::invalid_argument if the configuration is invalid. Parameters start at 0.
  explicit RecurrentNet(const RecurrentNetConfig& config);
  RecurrentNet(const RecurrentNet&) = delete;
  RecurrentNet& operator=(const RecurrentNet&) = delete;

  const RecurrentNetConfig& config() const { return cfg_; }
  const std::vector<RecurrentParam>& params() const { return params_; }
  std::size_t n_weights() const { return n_weights_; }

  // Copy public array `index` of the parameters (or of the last gradient) to out: [size()].
  void get_param(std::size_t index, Scalar* out) const { copy_out(index, false, out); }
  void get_grad(std::size_t index, Scalar* out) const { copy_out(index, true, out); }
  void set_param(std::size_t index, const Scalar* in);

  // x: [T, n_in] -> y: [T, n_out], from the zero state.
  void forward(const Scalar* x, std::size_t T, Scalar* y);
  // N sequences, time-major: x: [T, N, n_in], lengths: [N] (each <= T; nullptr: all T),
  // y: [T, N, n_out], 0 past each sequence's end. Each sequence starts from the zero state.
  void forward_batch(const Scalar* x, std::size_t T, std::size_t N, const std::int64_t* lengths, Scalar* y);

  // Loss L = 1/2 sum_t mask[t] sum_k (y_k(t) - target_k(t))^2 and dL/dw into the gradient
  // buffers (read with get_grad). x: [T, n_in], target: [T, n_out], mask: [T] (nullptr: every
  // step). Returns L.
  double gradient(const Scalar* x, const Scalar* target, const std::uint8_t* mask, std::size_t T,
                  RecurrentGradient method);

  // One pass over a sequence that updates the weights in place: with Step, w -= lr * g(t) after
  // every step with a target (RTRL sensitivities carry on across the updates, as in online RTRL);
  // with Sequence, w -= lr * dL/dw once at the end. Bptt needs Sequence. Returns the loss of the
  // pass, each step's loss as it was computed.
  double train_sequence(const Scalar* x, const Scalar* target, const std::uint8_t* mask, std::size_t T,
                        Scalar lr, RecurrentGradient method, RecurrentUpdate update);

 private:
  void copy_out(std::size_t index, bool gradient, Scalar* out) const;
  void reset_state();
  void ensure_traces();
  // One forward step from a_prev_ with input x_t: [I]. Fills s_, net_, a_, fp_ and (readout)
  // z_, y_, fpy_; y_t: [K] the outputs.
  void step_forward(const Scalar* x_t);
  const Scalar* outputs() const { return cfg_.has_readout() ? y_.data() : a_.data() + H_; }
  // Output error at this step: loss 1/2 |y - target|^2 returned; da_ = dL/da(t) through this
  // step's outputs only; if Bw != nullptr, Bw += scale * dL/dB (readout layouts).
  double step_error(const Scalar* target_t, Scalar scale, Scalar* Bw);
  // RTRL: P(t) from P(t-1), s(t), a(t-1), f'(net(t)).
  void rtrl_advance();
  // Aw += scale * sum_k da_k dA_k/dA (and rw for Self): the RTRL gradient of this step.
  void rtrl_apply(Scalar scale, Scalar* Aw, Scalar* rw) const;
  // Elman: Aw += scale * (f'(net) * da) (x) s(t) (and rw += scale * (f' da) * a(t-1) for Self).
  void elman_apply(Scalar scale, Scalar* Aw, Scalar* rw) const;
  // One forward pass that adds scale * g(t) (RTRL or Elman) to Aw [M*ns], rw [M] and Bw [K*nz]
  // (nullptr for Full) after every step t with a target: the gradient (scale 1, into the gradient
  // buffers) or online training (scale -lr, into the weights themselves). Returns the loss.
  double online_pass(const Scalar* x, const Scalar* target, const std::uint8_t* mask, std::size_t T, bool rtrl,
                     Scalar scale, Scalar* Aw, Scalar* rw, Scalar* Bw);
  // Exact gradient by a backward pass over the whole sequence into GA_, Gr_, GB_.
  double bptt(const Scalar* x, const Scalar* target, const std::uint8_t* mask, std::size_t T);

  RecurrentNetConfig cfg_;
  std::vector<RecurrentParam> params_;
  std::size_t n_weights_;
  std::size_t I_, H_, K_, M_, ns_, nz_;
  Scalar beta_;  // 1 with bias, 0 without

  Vector A_, r_, B_;     // parameters, [M*ns], [M], [K*nz]
  Vector GA_, Gr_, GB_;  // gradients of the same shapes

  // per-step state
  Vector a_prev_;  // [M] a(t-1)
  Vector s_;       // [ns] s(t)
  Vector net_;     // [M]
  Vector a_;       // [M] a(t)
  Vector fp_;      // [M] f'(net(t))
  Vector z_;       // [nz]
  Vector y_;       // [K] (readout layouts)
  Vector fpy_;     // [K] f_out'(net_y(t))
  Vector e_;       // [K] y(t) - target(t)
  Vector da_;      // [M] dL/da(t) through this step's outputs
  Vector dnet_;    // [M] scratch

  // RTRL sensitivities (on the first RTRL call): dense P_, Pn_ [M, Wp_] (rows padded from M*ns
  // to Wp_), P[k, i*ns + j] = d a_k / d A_ij; Self: P_ [M, ns], P[i, j] = d a_i / d A_ij, and
  // q_ [M] = d a_i / d r_i.
  Vector P_, Pn_, q_;
  std::size_t Wp_ = 0;
  bool traces_ready_ = false;

  // history of the backward pass (resized per call, before its loops)
  RowMatrix Hs_, Hfp_, Hd_, Hprev_;
};

extern template class RecurrentNet<float>;
extern template class RecurrentNet<double>;

}  // namespace lstmcore
