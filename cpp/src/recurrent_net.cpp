// Conventional recurrent nets and their gradients (RTRL, BPTT, Elman). Notation of
// recurrent_net.hpp; the derivations are in docs/BASELINES.md.
#include "lstmcore/recurrent_net.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "lstmcore/config.hpp"  // kMaxSize, per dimension
#include "lstmcore/detail/squash.hpp"

#ifdef EIGEN_RUNTIME_NO_MALLOC
// Test builds check that the time loops never allocate (cpp/tests).
#define LSTMCORE_RNN_NO_MALLOC_BEGIN() Eigen::internal::set_is_malloc_allowed(false)
#define LSTMCORE_RNN_NO_MALLOC_END() Eigen::internal::set_is_malloc_allowed(true)
#else
#define LSTMCORE_RNN_NO_MALLOC_BEGIN() ((void)0)
#define LSTMCORE_RNN_NO_MALLOC_END() ((void)0)
#endif

namespace lstmcore {

namespace {

const RecurrentNetConfig& validated(const RecurrentNetConfig& c) {
  c.validate();
  return c;
}

template <typename Scalar>
using VecMap = Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>;
template <typename Scalar>
using ConstVecMap = Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>;

}  // namespace

void RecurrentNetConfig::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument(what); };
  if (n_in < 1 || n_in > kMaxSize) bad("n_in: expected 1 <= n_in <= 2^24, got " + std::to_string(n_in));
  if (n_out < 1 || n_out > kMaxSize) bad("n_out: expected 1 <= n_out <= 2^24, got " + std::to_string(n_out));
  if (n_hidden > kMaxSize) bad("n_hidden: expected n_hidden <= 2^24, got " + std::to_string(n_hidden));
  if (layout != RecurrentLayout::Full && n_hidden < 1)
    bad("n_hidden: recurrence 'hidden' and 'self' need n_hidden >= 1, got 0");
  if (layout == RecurrentLayout::Full && shortcut)
    bad("shortcut: recurrence 'full' has no separate output layer (every unit already sees the inputs); "
        "expected shortcut=False, got True");
  // products below stay far from overflow: each factor <= 2^25
  const double w = double(n_units()) * double(n_sources()) + double(n_out) * double(n_out_sources());
  if (w > double(std::size_t(1) << 40)) bad("n_in, n_hidden, n_out: more than 2^40 weights");
}

std::size_t RecurrentNetConfig::n_trace() const {
  const std::size_t M = n_units(), ns = n_sources();
  if (!dense_recurrence()) return M * ns + M;
  // saturates instead of wrapping around for impossible sizes
  const double n = double(M) * double(M) * double(ns);
  return n >= double(std::numeric_limits<std::size_t>::max() / 2) ? std::numeric_limits<std::size_t>::max() / 2
                                                                   : M * M * ns;
}

template <typename Scalar>
RecurrentNet<Scalar>::RecurrentNet(const RecurrentNetConfig& config)
    : cfg_(validated(config)),
      I_(config.n_in),
      H_(config.n_hidden),
      K_(config.n_out),
      M_(config.n_units()),
      ns_(config.n_sources()),
      nz_(config.n_out_sources()),
      beta_(config.bias ? Scalar(1) : Scalar(0)) {
  using P = RecurrentParam;
  const std::size_t I = I_, M = M_, K = K_;
  // Public arrays: blocks of A = [W_x | b | W_r], B = [W_yh | W_yx | b_y] and r.
  if (cfg_.layout == RecurrentLayout::Full) {
    params_.push_back({"W_x", P::A, 0, 0, M, I, false});
    params_.push_back({"W_r", P::A, 0, I + 1, M, M, false});
    if (cfg_.bias) params_.push_back({"b", P::A, 0, I, M, 1, true});
  } else {
    params_.push_back({"W_hx", P::A, 0, 0, M, I, false});
    if (cfg_.layout == RecurrentLayout::Hidden)
      params_.push_back({"W_hh", P::A, 0, I + 1, M, M, false});
    else
      params_.push_back({"w_hh", P::R, 0, 0, M, 1, true});
    if (cfg_.bias) params_.push_back({"b_h", P::A, 0, I, M, 1, true});
    params_.push_back({"W_yh", P::B, 0, 0, K, M, false});
    if (cfg_.shortcut) params_.push_back({"W_yx", P::B, 0, M, K, I, false});
    if (cfg_.bias) params_.push_back({"b_y", P::B, 0, nz_ - 1, K, 1, true});
  }
  n_weights_ = 0;
  for (const auto& p : params_) n_weights_ += p.size();

  A_.setZero(Eigen::Index(M * ns_));
  GA_.setZero(A_.size());
  r_.setZero(cfg_.layout == RecurrentLayout::Self ? Eigen::Index(M) : 0);
  Gr_.setZero(r_.size());
  B_.setZero(Eigen::Index(K * nz_));
  GB_.setZero(B_.size());
  a_prev_.setZero(Eigen::Index(M));
  s_.setZero(Eigen::Index(ns_));
  net_.setZero(Eigen::Index(M));
  a_.setZero(Eigen::Index(M));
  fp_.setZero(Eigen::Index(M));
  z_.setZero(Eigen::Index(nz_));
  y_.setZero(Eigen::Index(cfg_.has_readout() ? K : 0));
  fpy_.setZero(y_.size());
  e_.setZero(Eigen::Index(K));
  da_.setZero(Eigen::Index(M));
  dnet_.setZero(Eigen::Index(M));
}

template <typename Scalar>
void RecurrentNet<Scalar>::copy_out(std::size_t index, bool gradient, Scalar* out) const {
  const RecurrentParam& p = params_.at(index);
  const Vector& src = p.matrix == RecurrentParam::A ? (gradient ? GA_ : A_)
                      : p.matrix == RecurrentParam::B ? (gradient ? GB_ : B_)
                                                      : (gradient ? Gr_ : r_);
  const std::size_t ld = p.matrix == RecurrentParam::A ? ns_ : p.matrix == RecurrentParam::B ? nz_ : 1;
  for (std::size_t i = 0; i < p.rows; ++i)
    for (std::size_t j = 0; j < p.cols; ++j) out[i * p.cols + j] = src[Eigen::Index((p.row0 + i) * ld + p.col0 + j)];
}

template <typename Scalar>
void RecurrentNet<Scalar>::set_param(std::size_t index, const Scalar* in) {
  const RecurrentParam& p = params_.at(index);
  Vector& dst = p.matrix == RecurrentParam::A ? A_ : p.matrix == RecurrentParam::B ? B_ : r_;
  const std::size_t ld = p.matrix == RecurrentParam::A ? ns_ : p.matrix == RecurrentParam::B ? nz_ : 1;
  for (std::size_t i = 0; i < p.rows; ++i)
    for (std::size_t j = 0; j < p.cols; ++j) dst[Eigen::Index((p.row0 + i) * ld + p.col0 + j)] = in[i * p.cols + j];
}

template <typename Scalar>
void RecurrentNet<Scalar>::ensure_traces() {
  if (traces_ready_) return;
  if (cfg_.dense_recurrence()) {
    // Rows of P padded to a whole number of strips (64 bytes each) and an odd number of 64-byte
    // cache lines, so that the M rows read together in rtrl_advance fall into distinct cache sets
    // (a row length near a multiple of 4 KiB would map them all to the same few sets).
    // M^2 ns values: refuse sizes no machine holds before the products below could overflow
    if (double(M_) * double(M_) * double(ns_) > double(std::size_t(1) << 48))
      throw std::length_error("n_hidden: the RTRL sensitivities of " + std::to_string(M_) +
                              " fully recurrent units need more than 2^48 values; use BPTT");
    const std::size_t strip = 64 / sizeof(Scalar);
    Wp_ = (M_ * ns_ + strip - 1) / strip * strip;
    if ((Wp_ / strip) % 2 == 0) Wp_ += strip;
    P_.setZero(Eigen::Index(M_ * Wp_));
    Pn_.setZero(Eigen::Index(M_ * Wp_));
  } else {
    P_.setZero(Eigen::Index(M_ * ns_));
    q_.setZero(Eigen::Index(M_));
  }
  traces_ready_ = true;
}

template <typename Scalar>
void RecurrentNet<Scalar>::reset_state() {
  // Every sequence starts from zero activations (and zero sensitivities: a(-1) = 0 is a constant).
  a_prev_.setZero();
  if (traces_ready_) {
    P_.setZero();
    q_.setZero();
  }
}

template <typename Scalar>
void RecurrentNet<Scalar>::step_forward(const Scalar* x_t) {
  const Eigen::Index I = Eigen::Index(I_), M = Eigen::Index(M_), ns = Eigen::Index(ns_);
  // s(t) = [x(t), beta, a(t-1)]   (a(t-1) only with dense recurrence)
  s_.head(I) = ConstVecMap<Scalar>(x_t, I);
  s_[I] = beta_;
  if (cfg_.dense_recurrence()) s_.tail(M) = a_prev_;
  // net(t) = A s(t)  (+ r * a(t-1) elementwise for Self)
  for (Eigen::Index k = 0; k < M; ++k) net_[k] = ConstVecMap<Scalar>(A_.data() + k * ns, ns).dot(s_);
  if (!cfg_.dense_recurrence()) net_.array() += r_.array() * a_prev_.array();
  // a(t) = f(net(t)), f'(net(t)) = a (1 - a) for logistic units (Eigen's vectorised exp)
  a_.array() = logistic_array(net_.array());
  fp_.array() = a_.array() * (Scalar(1) - a_.array());
  if (!cfg_.has_readout()) {
    if (cfg_.linear_outputs)  // the last K units of the Full layout are the outputs
      for (Eigen::Index k = Eigen::Index(H_); k < M; ++k) {
        a_[k] = net_[k];
        fp_[k] = Scalar(1);
      }
    return;
  }
  // z(t) = [a(t), x(t) if shortcut, beta];  y(t) = f_out(B z(t))
  const Eigen::Index nz = Eigen::Index(nz_);
  z_.head(M) = a_;
  if (cfg_.shortcut) z_.segment(M, I) = ConstVecMap<Scalar>(x_t, I);
  z_[nz - 1] = beta_;
  for (Eigen::Index k = 0; k < Eigen::Index(K_); ++k) y_[k] = ConstVecMap<Scalar>(B_.data() + k * nz, nz).dot(z_);
  if (cfg_.linear_outputs) {
    fpy_.setOnes();
  } else {
    y_.array() = logistic_array(y_.array());  // y = f(net_y), in place
    fpy_.array() = y_.array() * (Scalar(1) - y_.array());
  }
}

template <typename Scalar>
double RecurrentNet<Scalar>::step_error(const Scalar* target_t, Scalar scale, Scalar* Bw) {
  const Eigen::Index K = Eigen::Index(K_), M = Eigen::Index(M_);
  // e = y(t) - target(t);  step loss 1/2 e.e  (summed in double)
  e_ = ConstVecMap<Scalar>(outputs(), K) - ConstVecMap<Scalar>(target_t, K);
  double loss = 0;
  for (Eigen::Index k = 0; k < K; ++k) loss += 0.5 * double(e_[k]) * double(e_[k]);
  if (!cfg_.has_readout()) {
    // Full: dL/da_k = e_k for the output units (the last K), 0 for the others; f' of the output
    // units is inside the sensitivities / the backward pass.
    da_.head(M - K).setZero();
    da_.tail(K) = e_;
    return loss;
  }
  // dL/dnet_y = e * f_out'(net_y);  dL/da(t) = W_yh^T dL/dnet_y  (before B changes);
  // dL/dB = dL/dnet_y (x) z(t)
  const Eigen::Index nz = Eigen::Index(nz_);
  e_.array() *= fpy_.array();
  da_.setZero();
  for (Eigen::Index k = 0; k < K; ++k) da_ += e_[k] * ConstVecMap<Scalar>(B_.data() + k * nz, M);
  if (Bw)
    for (Eigen::Index k = 0; k < K; ++k) VecMap<Scalar>(Bw + k * nz, nz) += (scale * e_[k]) * z_;
  return loss;
}

template <typename Scalar>
void RecurrentNet<Scalar>::rtrl_advance() {
  const Eigen::Index I = Eigen::Index(I_), M = Eigen::Index(M_), ns = Eigen::Index(ns_);
  if (!cfg_.dense_recurrence()) {
    // Self: a_i depends only on its own weights.
    //   d a_i(t)/d A_ij = f'_i (r_i d a_i(t-1)/d A_ij + s_j(t))
    //   d a_i(t)/d r_i  = f'_i (r_i d a_i(t-1)/d r_i  + a_i(t-1))
    for (Eigen::Index i = 0; i < M; ++i) {
      VecMap<Scalar> Pi(P_.data() + i * ns, ns);
      Pi = fp_[i] * (r_[i] * Pi + s_);
      q_[i] = fp_[i] * (r_[i] * q_[i] + a_prev_[i]);
    }
    return;
  }
  // Dense (Williams & Zipser): for every unit k and weight A_ij,
  //   P_k,ij(t) = f'_k(net_k(t)) ( sum_l R_kl P_l,ij(t-1) + delta_ki s_j(t) ),
  // R = the recurrent block A[:, I+1:] of the weights used at step t.
  // Rows of P are Wp_ long (zero padding past W = M * ns stays zero: R * 0 = 0).
  const Eigen::Index Wp = Eigen::Index(Wp_);
  // Pn = R P, [M, M] x [M, Wp], in strips of kStrip scalars (64 bytes): for a block of kRows rows
  // k of Pn, each strip of P's row l is loaded once and added, times R_kl, into kRows register
  // accumulators; the accumulators are stored once. No temporaries, no allocation.
  constexpr Eigen::Index kStrip = 64 / Eigen::Index(sizeof(Scalar));
  constexpr Eigen::Index kRows = 4;
  using Strip = Eigen::Array<Scalar, kStrip, 1>;
  const Scalar* R = A_.data() + I + 1;  // R_kl = R[k * ns + l]
  Eigen::Index k0 = 0;
  for (; k0 + kRows <= M; k0 += kRows) {
    for (Eigen::Index c0 = 0; c0 < Wp; c0 += kStrip) {
      Strip acc0 = Strip::Zero(), acc1 = Strip::Zero(), acc2 = Strip::Zero(), acc3 = Strip::Zero();
      for (Eigen::Index l = 0; l < M; ++l) {
        const Strip p = Eigen::Map<const Strip>(P_.data() + l * Wp + c0);
        acc0 += R[(k0 + 0) * ns + l] * p;
        acc1 += R[(k0 + 1) * ns + l] * p;
        acc2 += R[(k0 + 2) * ns + l] * p;
        acc3 += R[(k0 + 3) * ns + l] * p;
      }
      Eigen::Map<Strip>(Pn_.data() + (k0 + 0) * Wp + c0) = acc0;
      Eigen::Map<Strip>(Pn_.data() + (k0 + 1) * Wp + c0) = acc1;
      Eigen::Map<Strip>(Pn_.data() + (k0 + 2) * Wp + c0) = acc2;
      Eigen::Map<Strip>(Pn_.data() + (k0 + 3) * Wp + c0) = acc3;
    }
  }
  for (; k0 < M; ++k0) {  // the last M mod kRows rows, one at a time
    for (Eigen::Index c0 = 0; c0 < Wp; c0 += kStrip) {
      Strip acc = Strip::Zero();
      for (Eigen::Index l = 0; l < M; ++l) acc += R[k0 * ns + l] * Eigen::Map<const Strip>(P_.data() + l * Wp + c0);
      Eigen::Map<Strip>(Pn_.data() + k0 * Wp + c0) = acc;
    }
  }
  for (Eigen::Index k = 0; k < M; ++k) {
    VecMap<Scalar> dst(Pn_.data() + k * Wp, M * ns);
    dst.segment(k * ns, ns) += s_;
    dst *= fp_[k];
  }
  P_.swap(Pn_);  // swaps the buffers, no copy, no allocation
}

template <typename Scalar>
void RecurrentNet<Scalar>::rtrl_apply(Scalar scale, Scalar* Aw, Scalar* rw) const {
  const Eigen::Index M = Eigen::Index(M_), ns = Eigen::Index(ns_);
  if (!cfg_.dense_recurrence()) {
    // dL/dA_ij += da_i P_i,j;  dL/dr_i += da_i q_i
    for (Eigen::Index i = 0; i < M; ++i) {
      if (da_[i] == Scalar(0)) continue;
      VecMap<Scalar>(Aw + i * ns, ns) += (scale * da_[i]) * ConstVecMap<Scalar>(P_.data() + i * ns, ns);
      rw[i] += scale * da_[i] * q_[i];
    }
    return;
  }
  // dL/dA_ij += sum_k da_k P_k,ij
  const Eigen::Index W = M * ns, Wp = Eigen::Index(Wp_);
  VecMap<Scalar> dst(Aw, W);
  for (Eigen::Index k = 0; k < M; ++k)
    if (da_[k] != Scalar(0)) dst += (scale * da_[k]) * ConstVecMap<Scalar>(P_.data() + k * Wp, W);
}

template <typename Scalar>
void RecurrentNet<Scalar>::elman_apply(Scalar scale, Scalar* Aw, Scalar* rw) const {
  const Eigen::Index M = Eigen::Index(M_), ns = Eigen::Index(ns_);
  // a(t-1) is an input: dL/dnet(t) = f'(net(t)) da(t); dL/dA += dL/dnet (x) s(t);
  // Self: dL/dr_i += dL/dnet_i a_i(t-1)
  for (Eigen::Index i = 0; i < M; ++i) {
    const Scalar d = fp_[i] * da_[i];
    if (d == Scalar(0)) continue;
    VecMap<Scalar>(Aw + i * ns, ns) += (scale * d) * s_;
    if (!cfg_.dense_recurrence()) rw[i] += scale * d * a_prev_[i];
  }
}

template <typename Scalar>
void RecurrentNet<Scalar>::forward(const Scalar* x, std::size_t T, Scalar* y) {
  forward_batch(x, T, 1, nullptr, y);
}

template <typename Scalar>
void RecurrentNet<Scalar>::forward_batch(const Scalar* x, std::size_t T, std::size_t N, const std::int64_t* lengths,
                                         Scalar* y) {
  LSTMCORE_RNN_NO_MALLOC_BEGIN();
  for (std::size_t n = 0; n < N; ++n) {
    const std::size_t len = lengths ? std::size_t(lengths[n]) : T;
    reset_state();
    for (std::size_t t = 0; t < T; ++t) {
      Scalar* y_t = y + (t * N + n) * K_;
      if (t >= len) {
        std::fill(y_t, y_t + K_, Scalar(0));
        continue;
      }
      step_forward(x + (t * N + n) * I_);
      std::copy(outputs(), outputs() + K_, y_t);
      a_prev_ = a_;
    }
  }
  LSTMCORE_RNN_NO_MALLOC_END();
}

template <typename Scalar>
double RecurrentNet<Scalar>::gradient(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                                      std::size_t T, RecurrentGradient method) {
  GA_.setZero();
  Gr_.setZero();
  GB_.setZero();
  if (method == RecurrentGradient::Bptt) return bptt(x, target, mask, T);
  return online_pass(x, target, mask, T, method == RecurrentGradient::Rtrl, Scalar(1), GA_.data(), Gr_.data(),
                     cfg_.has_readout() ? GB_.data() : nullptr);
}

template <typename Scalar>
double RecurrentNet<Scalar>::online_pass(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                                         std::size_t T, bool rtrl, Scalar scale, Scalar* Aw, Scalar* rw, Scalar* Bw) {
  if (rtrl) ensure_traces();
  reset_state();
  double loss = 0;
  LSTMCORE_RNN_NO_MALLOC_BEGIN();
  for (std::size_t t = 0; t < T; ++t) {
    step_forward(x + t * I_);
    if (rtrl) rtrl_advance();
    if (!mask || mask[t]) {
      loss += step_error(target + t * K_, scale, Bw);
      if (rtrl)
        rtrl_apply(scale, Aw, rw);
      else
        elman_apply(scale, Aw, rw);
    }
    a_prev_ = a_;
  }
  LSTMCORE_RNN_NO_MALLOC_END();
  return loss;
}

template <typename Scalar>
double RecurrentNet<Scalar>::bptt(const Scalar* x, const Scalar* target, const std::uint8_t* mask, std::size_t T) {
  const Eigen::Index M = Eigen::Index(M_), ns = Eigen::Index(ns_), I = Eigen::Index(I_);
  const bool dense = cfg_.dense_recurrence();
  // History: s(t), f'(net(t)), dL/da(t) through the outputs of step t (overwritten by dL/dnet(t)
  // in the backward loop) and, for Self, a(t-1).
  Hs_.resize(Eigen::Index(T), ns);
  Hfp_.resize(Eigen::Index(T), M);
  Hd_.resize(Eigen::Index(T), M);
  Hprev_.resize(dense ? 0 : Eigen::Index(T), M);
  reset_state();
  double loss = 0;
  Scalar* Bw = cfg_.has_readout() ? GB_.data() : nullptr;
  LSTMCORE_RNN_NO_MALLOC_BEGIN();
  for (std::size_t t = 0; t < T; ++t) {
    const Eigen::Index ti = Eigen::Index(t);
    step_forward(x + t * I_);
    Hs_.row(ti) = s_.transpose();
    Hfp_.row(ti) = fp_.transpose();
    if (!dense) Hprev_.row(ti) = a_prev_.transpose();
    if (!mask || mask[t]) {
      loss += step_error(target + t * K_, Scalar(1), Bw);  // also dL/dB, which needs no history
      Hd_.row(ti) = da_.transpose();
    } else {
      Hd_.row(ti).setZero();
    }
    a_prev_ = a_;
  }
  // Backward in time: with delta(t) = dL/da(t) through steps > t,
  //   dL/dnet(t) = f'(net(t)) (da(t) + delta(t)),  delta(t-1) = R^T dL/dnet(t)  (Self: r * dL/dnet(t)).
  Vector& delta = net_;  // scratch: net(t) is not needed any more
  delta.setZero();
  for (std::size_t tt = T; tt-- > 0;) {
    const Eigen::Index t = Eigen::Index(tt);
    dnet_ = Hfp_.row(t).transpose().cwiseProduct(Hd_.row(t).transpose() + delta);
    Hd_.row(t) = dnet_.transpose();
    if (dense) {
      // delta_l = sum_k R_kl dnet_k
      delta.setZero();
      for (Eigen::Index k = 0; k < M; ++k) delta += dnet_[k] * ConstVecMap<Scalar>(A_.data() + k * ns + I + 1, M);
    } else {
      delta = r_.cwiseProduct(dnet_);
    }
  }
  LSTMCORE_RNN_NO_MALLOC_END();
  // dL/dA = sum_t dL/dnet(t) (x) s(t) = Hd^T Hs;  Self: dL/dr = sum_t dL/dnet(t) * a(t-1)
  Eigen::Map<RowMatrix> GA(GA_.data(), M, ns);
  if (T > 0) GA.noalias() += Hd_.transpose() * Hs_;
  if (!dense && T > 0) Gr_ += Hd_.cwiseProduct(Hprev_).colwise().sum().transpose();
  return loss;
}

template <typename Scalar>
double RecurrentNet<Scalar>::train_sequence(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                                            std::size_t T, Scalar lr, RecurrentGradient method,
                                            RecurrentUpdate update) {
  if (update == RecurrentUpdate::Sequence) {
    // w -= lr * dL/dw once, with the gradient of the whole sequence
    const double loss = gradient(x, target, mask, T, method);
    A_ -= lr * GA_;
    r_ -= lr * Gr_;
    B_ -= lr * GB_;
    return loss;
  }
  if (method == RecurrentGradient::Bptt)
    throw std::invalid_argument(
        "update: method 'bptt' computes the gradient of the whole sequence; expected update='sequence', "
        "got 'step'");
  // Online: after every step with a target, w -= lr * g(t) at once; the sensitivities carry on
  // (computed with the weights in force at each step), as in Williams & Zipser's real-time RTRL.
  return online_pass(x, target, mask, T, method == RecurrentGradient::Rtrl, -lr, A_.data(), r_.data(),
                     cfg_.has_readout() ? B_.data() : nullptr);
}

template class RecurrentNet<float>;
template class RecurrentNet<double>;

}  // namespace lstmcore
