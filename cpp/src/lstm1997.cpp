// The 1997 LSTM engine. Every formula here is spelled out in docs/ENGINE.md; the comments name
// the paper's equations where they apply (H&S97 App. A.1).
#include "lstmcore/lstm1997.hpp"

#include <algorithm>
#include <stdexcept>

#include "lstmcore/squash.hpp"

#ifdef EIGEN_RUNTIME_NO_MALLOC
// Test builds check that the time loops never allocate (cpp/tests).
#define LSTMCORE_NO_MALLOC_BEGIN() Eigen::internal::set_is_malloc_allowed(false)
#define LSTMCORE_NO_MALLOC_END() Eigen::internal::set_is_malloc_allowed(true)
#else
#define LSTMCORE_NO_MALLOC_BEGIN() ((void)0)
#define LSTMCORE_NO_MALLOC_END() ((void)0)
#endif

namespace lstmcore {

namespace {
const Lstm1997Config& validated(const Lstm1997Config& c) {
  c.validate();
  return c;
}
template <typename Scalar>
Scalar sigmoid_derivative_from_value(Scalar y) {
  return y * (Scalar(1) - y);
}
}  // namespace

template <typename Scalar>
Lstm1997<Scalar>::Lstm1997(const Lstm1997Config& config)
    : cfg_(validated(config)),
      layout_(cfg_),
      C_(cfg_.n_cells()),
      B_(cfg_.blocks),
      S_(cfg_.cells_per_block),
      U_(cfg_.n_units()),
      n_src_(cfg_.n_src()),
      n_rec_(cfg_.n_recurrent_sources()),
      params_(Vector::Zero(Eigen::Index(layout_.total))),
      P_(views_of(params_.data())),
      ui_(cfg_.unit_in()),
      uo_(cfg_.unit_out()),
      uf_(cfg_.unit_forget()) {
  const std::size_t peep_cols = cfg_.peepholes ? S_ : 0;
  a_prev_.setZero(U_);
  s_prev_.setZero(C_);
  u_.setZero(n_src_ + 1);
  u_[n_src_] = Scalar(1);  // the bias source, never overwritten
  net_.setZero(U_);
  act_.setZero(U_);
  gc_.setZero(C_);
  s_.setZero(C_);
  hs_.setZero(C_);
  z_.setZero(cfg_.n_out_src());
  net_y_.setZero(cfg_.n_out);
  y_.setZero(cfg_.n_out);
  dnet_y_.setZero(cfg_.n_out);
  tmp_c_.setZero(C_);
  tmp_c2_.setZero(C_);
  tmp_c3_.setZero(C_);
  tmp_c4_.setZero(C_);
  dS_.setZero(C_);
  dA_.setZero(U_);
  dnet_.setZero(U_);
  du_.setZero(n_src_);
  grad_acc_.setZero(Eigen::Index(layout_.total));
  Tc_.setZero(C_, n_src_ + 1);
  Tin_.setZero(C_, n_src_ + 1 + peep_cols);
  if (cfg_.forget_gate) Tf_.setZero(C_, n_src_ + 1 + peep_cols);
}

template <typename Scalar>
typename Lstm1997<Scalar>::Views Lstm1997<Scalar>::views_of(Scalar* buf) const {
  const ParamLayout& L = layout_;
  return Views{MatrixMap(buf + L.W_hidden, Eigen::Index(U_), Eigen::Index(n_src_)),
               VectorMap(buf + L.b_hidden, Eigen::Index(U_)),
               VectorMap(buf + L.peep, Eigen::Index(C_)),
               VectorMap(buf + L.peep + C_, Eigen::Index(C_)),
               VectorMap(buf + L.peep + 2 * C_, Eigen::Index(C_)),
               MatrixMap(buf + L.W_y, Eigen::Index(cfg_.n_out), Eigen::Index(cfg_.n_out_src())),
               VectorMap(buf + L.b_y, Eigen::Index(cfg_.n_out))};
}

template <typename Scalar>
void Lstm1997<Scalar>::reset_state() {
  // "all activations are reinitialized with zeros" at every sequence start; traces start at 0.
  a_prev_.setZero();
  s_prev_.setZero();
  Tc_.setZero();
  Tin_.setZero();
  if (cfg_.forget_gate) Tf_.setZero();
}

template <typename Scalar>
void Lstm1997<Scalar>::step_forward(const Scalar* x_t) {
  const Eigen::Index n_in = Eigen::Index(cfg_.n_in), S = Eigen::Index(S_);
  // u(t) = [x(t), recurrent part of a(t-1)]
  u_.head(n_in) = Eigen::Map<const Vector>(x_t, n_in);
  if (n_rec_ > 0) u_.segment(n_in, Eigen::Index(n_rec_)) = a_prev_.head(Eigen::Index(n_rec_));

  // net = W_hidden u(t) + b_hidden   (cells, input gates, output gates, forget gates)
  net_.noalias() = P_.W_hidden * u_.head(Eigen::Index(n_src_));
  net_ += P_.b_hidden;

  // peepholes into input and forget gates read s(t-1):  net_in[j] += sum_v p_in[jS+v] s[jS+v](t-1)
  if (cfg_.peepholes) {
    for (std::size_t j = 0; j < B_; ++j) {
      const Eigen::Index c0 = Eigen::Index(j * S_);
      net_[ui_ + j] += P_.p_in.segment(c0, S).dot(s_prev_.segment(c0, S));
      if (cfg_.forget_gate) net_[uf_ + j] += P_.p_forget.segment(c0, S).dot(s_prev_.segment(c0, S));
    }
  }
  // y_in = sigmoid(net_in), y_forget = sigmoid(net_forget)
  squash(Squash::Logistic, net_.data() + ui_, act_.data() + ui_, Eigen::Index(B_));
  if (cfg_.forget_gate) squash(Squash::Logistic, net_.data() + uf_, act_.data() + uf_, Eigen::Index(B_));
  // g(net_c)
  squash(cfg_.g, net_.data(), gc_.data(), Eigen::Index(C_));

  // the constant error carousel: s(t) = y_forget s(t-1) + y_in g(net_c)   (y_forget = 1 in 1997)
  for (std::size_t j = 0; j < B_; ++j) {
    const Eigen::Index c0 = Eigen::Index(j * S_);
    const Scalar y_in = act_[ui_ + j];
    const Scalar y_f = cfg_.forget_gate ? act_[uf_ + j] : Scalar(1);
    s_.segment(c0, S) = y_f * s_prev_.segment(c0, S) + y_in * gc_.segment(c0, S);
  }

  // output gate, whose peephole reads the current state: net_out[j] += sum_v p_out[jS+v] s[jS+v](t)
  if (cfg_.output_gate) {
    if (cfg_.peepholes)
      for (std::size_t j = 0; j < B_; ++j) {
        const Eigen::Index c0 = Eigen::Index(j * S_);
        net_[uo_ + j] += P_.p_out.segment(c0, S).dot(s_.segment(c0, S));
      }
    squash(Squash::Logistic, net_.data() + uo_, act_.data() + uo_, Eigen::Index(B_));
  }

  // y_c = y_out h(s(t))   (y_out = 1 without an output gate)
  squash(cfg_.h, s_.data(), hs_.data(), Eigen::Index(C_));
  for (std::size_t j = 0; j < B_; ++j) {
    const Eigen::Index c0 = Eigen::Index(j * S_);
    const Scalar y_out = cfg_.output_gate ? act_[uo_ + j] : Scalar(1);
    act_.segment(c0, S) = y_out * hs_.segment(c0, S);
  }

  // output units read the current cell outputs (paper §5): y = f(W_y [y_c(t), x(t)] + b_y)
  z_.head(Eigen::Index(C_)) = act_.head(Eigen::Index(C_));
  if (cfg_.shortcut) z_.tail(n_in) = u_.head(n_in);
  net_y_.noalias() = P_.W_y * z_;
  net_y_ += P_.b_y;
  squash(cfg_.out, net_y_.data(), y_.data(), Eigen::Index(cfg_.n_out));
}

template <typename Scalar>
void Lstm1997<Scalar>::advance_state() {
  // step_forward rewrites act_ and s_ completely, so swapping buffers is enough.
  a_prev_.swap(act_);
  s_prev_.swap(s_);
}

template <typename Scalar>
double Lstm1997<Scalar>::step_output_error(const Scalar* target_t) {
  const Eigen::Index K = Eigen::Index(cfg_.n_out);
  Eigen::Map<const Vector> target(target_t, K);
  // E(t) = 1/2 sum_k (t_k - y_k)^2
  double loss = 0;
  for (Eigen::Index k = 0; k < K; ++k) {
    const double d = double(target[k]) - double(y_[k]);
    loss += 0.5 * d * d;
  }
  // dL/dnet_k = -f'(net_k) (t_k - y_k) = -e_k   (eq. 19)
  squash_derivative(cfg_.out, y_.data(), dnet_y_.data(), K);
  dnet_y_.array() *= (y_ - target).array();
  return loss;
}

template <typename Scalar>
void Lstm1997<Scalar>::update_traces() {
  const Eigen::Index S = Eigen::Index(S_), n1 = Eigen::Index(n_src_ + 1);
  // g'(net_c)
  squash_derivative(cfg_.g, gc_.data(), tmp_c_.data(), Eigen::Index(C_));
  const auto ub = u_.transpose();  // [u(t), 1]
  for (std::size_t j = 0; j < B_; ++j) {
    const Scalar y_in = act_[ui_ + j];
    const Scalar dy_in = sigmoid_derivative_from_value(y_in);
    const Scalar y_f = cfg_.forget_gate ? act_[uf_ + j] : Scalar(1);
    const Scalar dy_f = cfg_.forget_gate ? sigmoid_derivative_from_value(y_f) : Scalar(0);
    const Eigen::Index c0 = Eigen::Index(j * S_);
    for (Eigen::Index c = c0; c < c0 + S; ++c) {
      // eq. 27: ds_c/dw_{c m}(t) = y_f ds_c/dw_{c m}(t-1) + g'(net_c) y_in y^m
      Tc_.row(c) = y_f * Tc_.row(c) + (tmp_c_[c] * y_in) * ub;
      // eq. 25: ds_c/dw_{in m}(t) = y_f ds_c/dw_{in m}(t-1) + g(net_c) f'_in y^m
      const Scalar k_in = gc_[c] * dy_in;
      Tin_.row(c).head(n1) = y_f * Tin_.row(c).head(n1) + k_in * ub;
      if (cfg_.peepholes)  // peephole sources of the input gate: s(t-1) of the block's cells
        Tin_.row(c).tail(S) = y_f * Tin_.row(c).tail(S) + k_in * s_prev_.segment(c0, S).transpose();
      if (cfg_.forget_gate) {
        // GSC00: ds_c/dw_{f m}(t) = y_f ds_c/dw_{f m}(t-1) + s_c(t-1) f'_f y^m
        const Scalar k_f = s_prev_[c] * dy_f;
        Tf_.row(c).head(n1) = y_f * Tf_.row(c).head(n1) + k_f * ub;
        if (cfg_.peepholes)
          Tf_.row(c).tail(S) = y_f * Tf_.row(c).tail(S) + k_f * s_prev_.segment(c0, S).transpose();
      }
    }
  }
}

template <typename Scalar>
void Lstm1997<Scalar>::add_step_gradient(Scalar scale, Views& out) {
  const Eigen::Index S = Eigen::Index(S_), n_src = Eigen::Index(n_src_), C = Eigen::Index(C_);
  const Eigen::Index K = Eigen::Index(cfg_.n_out);
  // All error terms are computed from the current weights before `out` (possibly the weights
  // themselves) changes.
  // dL/dy_c = W_y[:, :C]^T dL/dnet_y: the error arriving at the cell outputs, this step only
  Vector& dy_c = tmp_c2_;
  dy_c.noalias() = P_.W_y.leftCols(C).transpose() * dnet_y_;
  // h'(s)
  Vector& dh = tmp_c3_;
  squash_derivative(cfg_.h, hs_.data(), dh.data(), C);
  // e_s[c] = dL/ds_c = y_out h'(s_c) dL/dy_c   (eq. 23, sign flipped: a gradient, not an error)
  Vector& e_s = tmp_c4_;
  for (std::size_t j = 0; j < B_; ++j) {
    const Eigen::Index c0 = Eigen::Index(j * S_);
    const Scalar y_out = cfg_.output_gate ? act_[uo_ + j] : Scalar(1);
    e_s.segment(c0, S) = y_out * dh.segment(c0, S).cwiseProduct(dy_c.segment(c0, S));
    // eq. 21: dL/dnet_out[j] = f'_out sum_v h(s_c) dL/dy_c   (no error through the peephole)
    if (cfg_.output_gate)
      dnet_[uo_ + j] = sigmoid_derivative_from_value(y_out) * hs_.segment(c0, S).dot(dy_c.segment(c0, S));
  }

  // eq. 22, output units: dW_y += dnet_y z^T, db_y += dnet_y
  for (Eigen::Index k = 0; k < K; ++k) out.W_y.row(k) += (scale * dnet_y_[k]) * z_.transpose();
  if (cfg_.bias_outputs) out.b_y += scale * dnet_y_;

  const auto u = u_.head(n_src).transpose();
  for (std::size_t j = 0; j < B_; ++j) {
    const Eigen::Index c0 = Eigen::Index(j * S_);
    // eq. 22, output gates: dW_out[j] += dnet_out[j] u(t)
    if (cfg_.output_gate) {
      const Scalar d = scale * dnet_[uo_ + j];
      out.W_hidden.row(Eigen::Index(uo_ + j)) += d * u;
      if (cfg_.bias_gates) out.b_hidden[uo_ + j] += d;
      if (cfg_.peepholes) out.p_out.segment(c0, S) += d * s_.segment(c0, S);
    }
    for (Eigen::Index c = c0; c < c0 + S; ++c) {
      const Scalar e = scale * e_s[c];
      // eq. 28: dW_c += e_s ds_c/dw_c
      out.W_hidden.row(c) += e * Tc_.row(c).head(n_src);
      if (cfg_.bias_cells) out.b_hidden[c] += e * Tc_(c, n_src);
      // eq. 26: dW_in[j] += sum_v e_s[jS+v] ds_{jS+v}/dw_in
      out.W_hidden.row(Eigen::Index(ui_ + j)) += e * Tin_.row(c).head(n_src);
      if (cfg_.bias_gates) out.b_hidden[ui_ + j] += e * Tin_(c, n_src);
      if (cfg_.peepholes) out.p_in.segment(c0, S) += e * Tin_.row(c).tail(S).transpose();
      if (cfg_.forget_gate) {
        out.W_hidden.row(Eigen::Index(uf_ + j)) += e * Tf_.row(c).head(n_src);
        if (cfg_.bias_gates) out.b_hidden[uf_ + j] += e * Tf_(c, n_src);
        if (cfg_.peepholes) out.p_forget.segment(c0, S) += e * Tf_.row(c).tail(S).transpose();
      }
    }
  }
}

template <typename Scalar>
void Lstm1997<Scalar>::forward(const Scalar* x, std::size_t T, Scalar* y) {
  const std::size_t n_in = cfg_.n_in, K = cfg_.n_out;
  reset_state();
  LSTMCORE_NO_MALLOC_BEGIN();
  for (std::size_t t = 0; t < T; ++t) {
    step_forward(x + t * n_in);
    std::copy(y_.data(), y_.data() + K, y + t * K);
    advance_state();
  }
  LSTMCORE_NO_MALLOC_END();
}

template <typename Scalar>
double Lstm1997<Scalar>::gradient(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                                  std::size_t T, GradientMode mode, Scalar* grad) {
  const double loss = compute_gradient(x, target, mask, T, mode);
  std::copy(grad_acc_.data(), grad_acc_.data() + layout_.total, grad);
  return loss;
}

template <typename Scalar>
double Lstm1997<Scalar>::compute_gradient(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                                          std::size_t T, GradientMode mode) {
  const std::size_t n_in = cfg_.n_in, K = cfg_.n_out;
  grad_acc_.setZero();
  reset_state();
  if (mode == GradientMode::TruncatedRtrl) {
    // Forward in time; memory independent of T.
    Views G = views_of(grad_acc_.data());
    double loss = 0;
    LSTMCORE_NO_MALLOC_BEGIN();
    for (std::size_t t = 0; t < T; ++t) {
      step_forward(x + t * n_in);
      update_traces();
      if (!mask || mask[t]) {
        loss += step_output_error(target + t * K);
        add_step_gradient(Scalar(1), G);
      }
      advance_state();
    }
    LSTMCORE_NO_MALLOC_END();
    return loss;
  }

  // Record the forward pass, then go backward in time.
  const Eigen::Index Ti = Eigen::Index(T);
  H_u_.resize(Ti, Eigen::Index(n_src_));
  H_act_.resize(Ti, Eigen::Index(U_));
  H_gc_.resize(Ti, Eigen::Index(C_));
  H_hs_.resize(Ti, Eigen::Index(C_));
  H_s_.resize(Ti + 1, Eigen::Index(C_));  // row t+1 holds s(t); row 0 the zero state s(-1)
  H_y_.resize(Ti, Eigen::Index(K));
  H_z_.resize(Ti, Eigen::Index(cfg_.n_out_src()));
  H_dnet_.resize(Ti, Eigen::Index(U_));
  H_dnet_y_.resize(Ti, Eigen::Index(K));
  H_s_.row(0).setZero();
  LSTMCORE_NO_MALLOC_BEGIN();
  for (std::size_t t = 0; t < T; ++t) {
    const Eigen::Index ti = Eigen::Index(t);
    step_forward(x + t * n_in);
    H_u_.row(ti) = u_.head(Eigen::Index(n_src_)).transpose();
    H_act_.row(ti) = act_.transpose();
    H_gc_.row(ti) = gc_.transpose();
    H_hs_.row(ti) = hs_.transpose();
    H_s_.row(ti + 1) = s_.transpose();
    H_y_.row(ti) = y_.transpose();
    H_z_.row(ti) = z_.transpose();
    advance_state();
  }
  LSTMCORE_NO_MALLOC_END();
  return backward(target, mask, T, mode == GradientMode::TruncatedBptt);
}

template <typename Scalar>
double Lstm1997<Scalar>::backward(const Scalar* target, const std::uint8_t* mask, std::size_t T,
                                  bool truncated) {
  const Eigen::Index S = Eigen::Index(S_), C = Eigen::Index(C_), K = Eigen::Index(cfg_.n_out);
  const Eigen::Index n_in = Eigen::Index(cfg_.n_in);
  const bool full = !truncated;
  Views G = views_of(grad_acc_.data());
  double loss = 0;
  dS_.setZero();  // dL/ds(t) arriving from step t+1
  dA_.setZero();  // dL/da(t) arriving from step t+1 through u(t+1) (full mode only)
  Vector& dy_c = tmp_c_;
  Vector& dh = tmp_c2_;
  Vector& dg = tmp_c3_;
  Vector& ds = tmp_c4_;

  LSTMCORE_NO_MALLOC_BEGIN();
  for (std::size_t tt = T; tt-- > 0;) {
    const Eigen::Index t = Eigen::Index(tt);
    const Scalar* act = H_act_.row(t).data();
    const Scalar* gc = H_gc_.row(t).data();
    const Scalar* s = H_s_.row(t + 1).data();
    const Scalar* s_prev = H_s_.row(t).data();

    // output units: dL/dnet_y = -f'(net_y) (target - y) at steps with a target, else 0
    auto dnet_y = H_dnet_y_.row(t);
    if (!mask || mask[tt]) {
      for (Eigen::Index k = 0; k < K; ++k) {
        const double d = double(target[tt * K + k]) - double(H_y_(t, k));
        loss += 0.5 * d * d;
      }
      squash_derivative(cfg_.out, H_y_.row(t).data(), dnet_y.data(), K);
      dnet_y.array() *= (H_y_.row(t) - Eigen::Map<const RowMatrix>(target + tt * K, 1, K)).array();
    } else {
      dnet_y.setZero();
    }

    // dL/dy_c = W_y[:, :C]^T dnet_y (+ the recurrent error from step t+1 in full mode)
    dy_c.noalias() = P_.W_y.leftCols(C).transpose() * dnet_y.transpose();
    if (full && n_rec_ > 0) dy_c += dA_.head(C);
    squash_derivative(cfg_.h, H_hs_.row(t).data(), dh.data(), C);
    squash_derivative(cfg_.g, gc, dg.data(), C);

    for (std::size_t j = 0; j < B_; ++j) {
      const Eigen::Index c0 = Eigen::Index(j * S_);
      const Scalar y_in = act[ui_ + j];
      const Scalar y_out = cfg_.output_gate ? act[uo_ + j] : Scalar(1);
      const Scalar y_f = cfg_.forget_gate ? act[uf_ + j] : Scalar(1);
      const bool gates_fed_back = full && cfg_.recurrent == Recurrence::CellsAndGates;
      // output gate: dnet_out = f'_out (dL/dy_out + sum_v h(s_c) dL/dy_c)
      Scalar dnet_out = 0;
      if (cfg_.output_gate) {
        Scalar back = gates_fed_back ? dA_[uo_ + j] : Scalar(0);
        for (Eigen::Index c = c0; c < c0 + S; ++c) back += H_hs_(t, c) * dy_c[c];
        dnet_out = sigmoid_derivative_from_value(y_out) * back;
        dnet_[uo_ + j] = dnet_out;
      }
      // state: ds = dy_c y_out h'(s) + p_out dnet_out (full only) + dS(from t+1)
      Scalar back_in = gates_fed_back ? dA_[ui_ + j] : Scalar(0);
      Scalar back_f = (gates_fed_back && cfg_.forget_gate) ? dA_[uf_ + j] : Scalar(0);
      for (Eigen::Index c = c0; c < c0 + S; ++c) {
        ds[c] = dy_c[c] * y_out * dh[c] + dS_[c];
        if (full && cfg_.peepholes && cfg_.output_gate) ds[c] += P_.p_out[c] * dnet_out;
        // cell input: dnet_c = ds y_in g'(net_c)
        dnet_[c] = ds[c] * y_in * dg[c];
        back_in += ds[c] * gc[c];
        back_f += ds[c] * s_prev[c];
      }
      // input gate: dnet_in = f'_in (dL/dy_in + sum_v ds_c g(net_c))
      const Scalar dnet_in = sigmoid_derivative_from_value(y_in) * back_in;
      dnet_[ui_ + j] = dnet_in;
      // forget gate: dnet_f = f'_f (dL/dy_f + sum_v ds_c s_c(t-1))
      const Scalar dnet_f = cfg_.forget_gate ? sigmoid_derivative_from_value(y_f) * back_f : Scalar(0);
      if (cfg_.forget_gate) dnet_[uf_ + j] = dnet_f;

      for (Eigen::Index c = c0; c < c0 + S; ++c) {
        // peephole weights: dp_in += dnet_in s(t-1), dp_f += dnet_f s(t-1), dp_out += dnet_out s(t)
        if (cfg_.peepholes) {
          G.p_in[c] += dnet_in * s_prev[c];
          if (cfg_.forget_gate) G.p_forget[c] += dnet_f * s_prev[c];
          if (cfg_.output_gate) G.p_out[c] += dnet_out * s[c];
        }
        // carry to t-1 through the carousel: dS = ds y_f (+ peephole paths in full mode)
        dS_[c] = ds[c] * y_f;
        if (full && cfg_.peepholes) dS_[c] += P_.p_in[c] * dnet_in + P_.p_forget[c] * dnet_f;
      }
    }
    H_dnet_.row(t) = dnet_.transpose();

    // full mode: dL/da(t-1) = recurrent columns of W_hidden^T dnet(t)
    if (full && n_rec_ > 0) {
      du_.noalias() = P_.W_hidden.transpose() * dnet_;
      dA_.head(Eigen::Index(n_rec_)) = du_.segment(n_in, Eigen::Index(n_rec_));
    }
  }
  LSTMCORE_NO_MALLOC_END();

  // Weight gradients: one GEMM each over all steps.
  // dW_hidden = sum_t dnet(t) u(t)^T;  dW_y = sum_t dnet_y(t) z(t)^T
  G.W_hidden.noalias() = H_dnet_.transpose() * H_u_;
  G.W_y.noalias() = H_dnet_y_.transpose() * H_z_;
  // db = sum_t dnet(t), summed in time order (elementwise adds: the same result for any alignment)
  for (Eigen::Index t = 0; t < Eigen::Index(T); ++t) {
    G.b_hidden += H_dnet_.row(t).transpose();
    G.b_y += H_dnet_y_.row(t).transpose();
  }
  if (!cfg_.bias_cells) G.b_hidden.head(C).setZero();
  if (!cfg_.bias_gates) G.b_hidden.tail(Eigen::Index(U_ - C_)).setZero();
  if (!cfg_.bias_outputs) G.b_y.setZero();
  return loss;
}

template <typename Scalar>
double Lstm1997<Scalar>::train_sequence(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                                        std::size_t T, Scalar lr, UpdateSchedule update) {
  const std::size_t n_in = cfg_.n_in, K = cfg_.n_out;
  reset_state();
  const bool per_step = update == UpdateSchedule::Step;
  if (!per_step) grad_acc_.setZero();
  Views G = views_of(per_step ? params_.data() : grad_acc_.data());
  const Scalar scale = per_step ? -lr : Scalar(1);
  double loss = 0;
  LSTMCORE_NO_MALLOC_BEGIN();
  for (std::size_t t = 0; t < T; ++t) {
    step_forward(x + t * n_in);
    update_traces();
    if (!mask || mask[t]) {
      loss += step_output_error(target + t * K);
      // per step: w -= lr g(t) now, and the pass goes on with the new weights
      add_step_gradient(scale, G);
    }
    advance_state();
  }
  LSTMCORE_NO_MALLOC_END();
  // w -= lr sum_t g(t)
  if (!per_step) params_ -= lr * grad_acc_;
  return loss;
}

template <typename Scalar>
double Lstm1997<Scalar>::train_sequence_full(const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                                             std::size_t T, Scalar lr) {
  const double loss = compute_gradient(x, target, mask, T, GradientMode::Full);
  // w -= lr dL/dw   (structural zeros have zero gradient and stay 0)
  params_ -= lr * grad_acc_;
  return loss;
}

template class Lstm1997<float>;
template class Lstm1997<double>;

}  // namespace lstmcore
