// A naive reference kernel for the 1997 LSTM (llm.c convention: a slow, obviously correct kernel
// kept beside the fast one, lstm1997.cpp, to check it against).
//
// Header-only; plain loops over std::vector, no Eigen; templated on Scalar. It takes the same
// Lstm1997Config and the same flat parameter buffer (ParamLayout, config.hpp) as Lstm1997<Scalar>,
// and implements docs/ENGINE.md literally:
//   - naive_forward:          the forward pass, step t in the paper's §5 order;
//   - naive_loss:             L = 1/2 sum_t mask[t] sum_k (target[t,k] - y_k(t))^2;
//   - naive_gradient_rtrl:    the 1997 truncated gradient by forward RTRL traces (eqs. 19-28,
//                             extended to forget gates and peepholes), summed over the sequence;
//   - naive_train_sequence:   online training with that rule, update per step or per sequence.
// A parameter that does not exist (absent bias, peephole, gate) is the constant 0 in every formula:
// it is never read from the buffer and never written, so structural zeros stay exactly 0.
// The comment above each line gives the maths it computes.
//
// Needs config.cpp (Lstm1997Config::validate, ParamLayout) at link time, as the fast engine does.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "lstmcore/config.hpp"

namespace lstmcore {
namespace naive_detail {

// sigma(x) = 1 / (1 + exp(-x))
template <typename Scalar>
Scalar sigmoid(Scalar x) {
  return Scalar(1) / (Scalar(1) + std::exp(-x));
}

// f(x) for every squash kind (config.hpp)
template <typename Scalar>
Scalar squash(Squash f, Scalar x) {
  switch (f) {
    // logistic: sigma(x)
    case Squash::Logistic: return sigmoid(x);
    // g2: 4 sigma(x) - 2
    case Squash::G2: return Scalar(4) * sigmoid(x) - Scalar(2);
    // h1: 2 sigma(x) - 1
    case Squash::H1: return Scalar(2) * sigmoid(x) - Scalar(1);
    // tanh(x)
    case Squash::Tanh: return std::tanh(x);
    // identity: x
    case Squash::Identity: return x;
  }
  return x;
}

// f'(x), from the argument x
template <typename Scalar>
Scalar squash_derivative(Squash f, Scalar x) {
  const Scalar s = sigmoid(x);
  switch (f) {
    // sigma' = sigma (1 - sigma)
    case Squash::Logistic: return s * (Scalar(1) - s);
    // g2' = 4 sigma (1 - sigma)
    case Squash::G2: return Scalar(4) * s * (Scalar(1) - s);
    // h1' = 2 sigma (1 - sigma)
    case Squash::H1: return Scalar(2) * s * (Scalar(1) - s);
    // tanh' = 1 - tanh^2
    case Squash::Tanh: {
      const Scalar t = std::tanh(x);
      return Scalar(1) - t * t;
    }
    // identity' = 1
    case Squash::Identity: return Scalar(1);
  }
  return Scalar(1);
}

// Index arithmetic of the flat parameter buffer (config.hpp, ParamLayout), and which entries exist.
struct Shape {
  std::size_t n_in, n_out, B, S, C, U, n_src, n_rec, n_z;
  std::size_t ui, uo, uf;  // first unit index of input / output / forget gates in the unit order
  ParamLayout L;
  explicit Shape(const Lstm1997Config& cfg)
      : n_in(cfg.n_in), n_out(cfg.n_out), B(cfg.blocks), S(cfg.cells_per_block), C(cfg.n_cells()),
        U(cfg.n_units()), n_src(cfg.n_src()), n_rec(cfg.n_recurrent_sources()), n_z(cfg.n_out_src()),
        ui(cfg.unit_in()), uo(cfg.unit_out()), uf(cfg.unit_forget()), L(cfg) {}
  // W_hidden[r, m], row r of the unit order (W_cell rows c, W_in rows ui+j, W_out uo+j, W_forget uf+j)
  std::size_t W(std::size_t r, std::size_t m) const { return L.W_hidden + r * n_src + m; }
  // b_hidden[r]
  std::size_t b(std::size_t r) const { return L.b_hidden + r; }
  // p_in[c], p_out[c], p_forget[c]
  std::size_t p_in(std::size_t c) const { return L.peep + c; }
  std::size_t p_out(std::size_t c) const { return L.peep + C + c; }
  std::size_t p_f(std::size_t c) const { return L.peep + 2 * C + c; }
  // W_y[k, i], b_y[k]
  std::size_t Wy(std::size_t k, std::size_t i) const { return L.W_y + k * n_z + i; }
  std::size_t by(std::size_t k) const { return L.b_y + k; }
};

// Everything one forward step computes, for the gradient of that step.
template <typename Scalar>
struct Step {
  std::vector<Scalar> u;        // [n_src] u(t)
  std::vector<Scalar> net_c;    // [C]
  std::vector<Scalar> net_in;   // [B]
  std::vector<Scalar> net_out;  // [B] (0 without an output gate)
  std::vector<Scalar> net_f;    // [B] (0 without a forget gate)
  std::vector<Scalar> y_in, y_out, y_f;  // [B] (y_out = 1, y_f = 1 when absent)
  std::vector<Scalar> s_prev;   // [C] s(t-1)
  std::vector<Scalar> s;        // [C] s(t)
  std::vector<Scalar> y_c;      // [C]
  std::vector<Scalar> a;        // [U] a(t) = [y_c, y_in, y_out (if), y_f (if)]
  std::vector<Scalar> z;        // [n_z] z(t) = [y_c(t), x(t) if shortcut]
  std::vector<Scalar> net_k;    // [n_out]
  std::vector<Scalar> y_k;      // [n_out]
};

// One forward step (ENGINE.md "Forward, step t"), from a(t-1) = a_prev and s(t-1) = s_prev.
template <typename Scalar>
void forward_step(const Lstm1997Config& cfg, const Shape& sh, const Scalar* P, const Scalar* x_t,
                  const std::vector<Scalar>& a_prev, const std::vector<Scalar>& s_prev, Step<Scalar>& st) {
  const std::size_t n_in = sh.n_in, n_src = sh.n_src, B = sh.B, S = sh.S, C = sh.C;
  // Parameters that do not exist are the constant 0.
  auto b_cell = [&](std::size_t c) { return cfg.bias_cells ? P[sh.b(c)] : Scalar(0); };
  auto b_gate = [&](std::size_t r) { return cfg.bias_gates ? P[sh.b(r)] : Scalar(0); };
  auto p_in = [&](std::size_t c) { return cfg.peepholes ? P[sh.p_in(c)] : Scalar(0); };
  auto p_out = [&](std::size_t c) { return (cfg.peepholes && cfg.output_gate) ? P[sh.p_out(c)] : Scalar(0); };
  auto p_f = [&](std::size_t c) { return (cfg.peepholes && cfg.forget_gate) ? P[sh.p_f(c)] : Scalar(0); };
  auto b_y = [&](std::size_t k) { return cfg.bias_outputs ? P[sh.by(k)] : Scalar(0); };

  st.u.assign(n_src, Scalar(0));
  st.net_c.assign(C, Scalar(0));
  st.net_in.assign(B, Scalar(0));
  st.net_out.assign(B, Scalar(0));
  st.net_f.assign(B, Scalar(0));
  st.y_in.assign(B, Scalar(0));
  st.y_out.assign(B, Scalar(1));
  st.y_f.assign(B, Scalar(1));
  st.s_prev = s_prev;
  st.s.assign(C, Scalar(0));
  st.y_c.assign(C, Scalar(0));
  st.a.assign(sh.U, Scalar(0));
  st.z.assign(sh.n_z, Scalar(0));
  st.net_k.assign(sh.n_out, Scalar(0));
  st.y_k.assign(sh.n_out, Scalar(0));

  // u(t) = [x(t), a(t-1)[:n_rec]]   (cells+gates: all of a; cells: y_c; none: nothing)
  for (std::size_t m = 0; m < n_in; ++m) st.u[m] = x_t[m];
  for (std::size_t m = 0; m < sh.n_rec; ++m) st.u[n_in + m] = a_prev[m];

  // net_c[c] = W_cell[c] . u(t) + b_cell[c]
  for (std::size_t c = 0; c < C; ++c) {
    Scalar acc = b_cell(c);
    for (std::size_t m = 0; m < n_src; ++m) acc += P[sh.W(c, m)] * st.u[m];
    st.net_c[c] = acc;
  }
  for (std::size_t j = 0; j < B; ++j) {
    // net_in[j] = W_in[j] . u(t) + b_in[j] + sum_v p_in[jS+v] s[jS+v](t-1)
    Scalar acc = b_gate(sh.ui + j);
    for (std::size_t m = 0; m < n_src; ++m) acc += P[sh.W(sh.ui + j, m)] * st.u[m];
    for (std::size_t v = 0; v < S; ++v) acc += p_in(j * S + v) * s_prev[j * S + v];
    st.net_in[j] = acc;
    // y_in = sigma(net_in)
    st.y_in[j] = sigmoid(st.net_in[j]);
    if (cfg.forget_gate) {
      // net_f[j] = W_forget[j] . u(t) + b_forget[j] + sum_v p_forget[jS+v] s[jS+v](t-1)
      Scalar accf = b_gate(sh.uf + j);
      for (std::size_t m = 0; m < n_src; ++m) accf += P[sh.W(sh.uf + j, m)] * st.u[m];
      for (std::size_t v = 0; v < S; ++v) accf += p_f(j * S + v) * s_prev[j * S + v];
      st.net_f[j] = accf;
      // y_f = sigma(net_f)
      st.y_f[j] = sigmoid(st.net_f[j]);
    }
    // (y_f = 1 without a forget gate: set above)
  }
  // s[c](t) = y_f[blk c] s[c](t-1) + y_in[blk c] g(net_c[c])
  for (std::size_t c = 0; c < C; ++c) {
    const std::size_t j = c / S;
    st.s[c] = st.y_f[j] * s_prev[c] + st.y_in[j] * squash(cfg.g, st.net_c[c]);
  }
  if (cfg.output_gate) {
    for (std::size_t j = 0; j < B; ++j) {
      // net_out[j] = W_out[j] . u(t) + b_out[j] + sum_v p_out[jS+v] s[jS+v](t)   (current state)
      Scalar acc = b_gate(sh.uo + j);
      for (std::size_t m = 0; m < n_src; ++m) acc += P[sh.W(sh.uo + j, m)] * st.u[m];
      for (std::size_t v = 0; v < S; ++v) acc += p_out(j * S + v) * st.s[j * S + v];
      st.net_out[j] = acc;
      // y_out = sigma(net_out)
      st.y_out[j] = sigmoid(st.net_out[j]);
    }
  }
  // (y_out = 1 without an output gate: set above)
  // y_c[c] = y_out[blk c] h(s[c](t))
  for (std::size_t c = 0; c < C; ++c) st.y_c[c] = st.y_out[c / S] * squash(cfg.h, st.s[c]);

  // a(t) = [y_c (C), y_in (B), y_out (B, if output gate), y_f (B, if forget gate)]
  for (std::size_t c = 0; c < C; ++c) st.a[c] = st.y_c[c];
  for (std::size_t j = 0; j < B; ++j) {
    st.a[sh.ui + j] = st.y_in[j];
    if (cfg.output_gate) st.a[sh.uo + j] = st.y_out[j];
    if (cfg.forget_gate) st.a[sh.uf + j] = st.y_f[j];
  }

  // z(t) = [y_c(t), x(t) if shortcut]
  for (std::size_t c = 0; c < C; ++c) st.z[c] = st.y_c[c];
  if (cfg.shortcut)
    for (std::size_t m = 0; m < n_in; ++m) st.z[C + m] = x_t[m];
  for (std::size_t k = 0; k < sh.n_out; ++k) {
    // net_k = W_y[k] . z(t) + b_y[k]
    Scalar acc = b_y(k);
    for (std::size_t i = 0; i < sh.n_z; ++i) acc += P[sh.Wy(k, i)] * st.z[i];
    st.net_k[k] = acc;
    // y_k = f_k(net_k)
    st.y_k[k] = squash(cfg.out, st.net_k[k]);
  }
}

// The RTRL pass over one sequence (ENGINE.md "By forward traces" and "Online training").
// For every step t with mask[t], the step's truncated gradient g(t) is computed into a zeroed
// buffer; g(t) is added to grad_sum, and if update_per_step, w -= lr g(t) is applied at once.
// Returns the sum of each step's loss as it was computed.
template <typename Scalar>
double rtrl_pass(const Lstm1997Config& cfg, Scalar* P, const Scalar* x, const Scalar* target,
                 const std::uint8_t* mask, std::size_t T, bool update_per_step, Scalar lr,
                 std::vector<Scalar>& grad_sum) {
  cfg.validate();
  const Shape sh(cfg);
  const std::size_t n_in = sh.n_in, n_out = sh.n_out, n_src = sh.n_src, B = sh.B, S = sh.S, C = sh.C;
  const std::size_t n_tr = n_src + 1 + S;  // trace columns: [u(t) (n_src), 1 (bias), s(t-1) of the block (S)]
  grad_sum.assign(sh.L.total, Scalar(0));
  std::vector<Scalar> g(sh.L.total, Scalar(0));

  // a(-1) = 0, s(-1) = 0
  std::vector<Scalar> a_prev(sh.U, Scalar(0)), s_prev(C, Scalar(0));
  // traces reset to 0 at t = 0: Tc [C, n_src+1], Tin and Tf [C, n_src+1+S]
  std::vector<std::vector<Scalar>> Tc(C, std::vector<Scalar>(n_src + 1, Scalar(0)));
  std::vector<std::vector<Scalar>> Tin(C, std::vector<Scalar>(n_tr, Scalar(0)));
  std::vector<std::vector<Scalar>> Tf(C, std::vector<Scalar>(n_tr, Scalar(0)));
  Step<Scalar> st;
  double loss = 0;

  for (std::size_t t = 0; t < T; ++t) {
    const Scalar* x_t = x + t * n_in;
    forward_step(cfg, sh, P, x_t, a_prev, s_prev, st);

    // ---- traces (every step, with or without a target)
    for (std::size_t c = 0; c < C; ++c) {
      const std::size_t j = c / S;
      // the trace source vector [u(t), 1, s[jS..jS+S-1](t-1)]
      std::vector<Scalar> src(n_tr, Scalar(0));
      for (std::size_t m = 0; m < n_src; ++m) src[m] = st.u[m];
      src[n_src] = Scalar(1);
      for (std::size_t v = 0; v < S; ++v) src[n_src + 1 + v] = st.s_prev[j * S + v];
      // sigma'(net_in[j]), sigma'(net_f[j]), g(net_c[c]), g'(net_c[c])
      const Scalar dsig_in = squash_derivative(Squash::Logistic, st.net_in[j]);
      const Scalar dsig_f = cfg.forget_gate ? squash_derivative(Squash::Logistic, st.net_f[j]) : Scalar(0);
      const Scalar g_c = squash(cfg.g, st.net_c[c]);
      const Scalar dg_c = squash_derivative(cfg.g, st.net_c[c]);
      // Tc[c, :] = y_f[j] Tc[c, :] + g'(net_c[c]) y_in[j] [u(t), 1]        (eq. 27)
      for (std::size_t m = 0; m <= n_src; ++m) Tc[c][m] = st.y_f[j] * Tc[c][m] + dg_c * st.y_in[j] * src[m];
      // Tin[c, :] = y_f[j] Tin[c, :] + g(net_c[c]) sigma'(net_in[j]) [u(t), 1, s_block(t-1)]   (eq. 25)
      for (std::size_t m = 0; m < n_tr; ++m) Tin[c][m] = st.y_f[j] * Tin[c][m] + g_c * dsig_in * src[m];
      // Tf[c, :] = y_f[j] Tf[c, :] + s[c](t-1) sigma'(net_f[j]) [u(t), 1, s_block(t-1)]
      if (cfg.forget_gate)
        for (std::size_t m = 0; m < n_tr; ++m)
          Tf[c][m] = st.y_f[j] * Tf[c][m] + st.s_prev[c] * dsig_f * src[m];
    }

    if (!mask || mask[t]) {
      const Scalar* tg = target + t * n_out;
      // step loss 1/2 sum_k (target[t,k] - y_k(t))^2
      for (std::size_t k = 0; k < n_out; ++k) {
        const double d = double(tg[k]) - double(st.y_k[k]);
        loss += 0.5 * d * d;
      }
      // g(t) := 0
      for (auto& v : g) v = Scalar(0);
      // dnet_k = -e_k = -f_k'(net_k) (target - y_k)
      std::vector<Scalar> dnet_k(n_out);
      for (std::size_t k = 0; k < n_out; ++k)
        dnet_k[k] = -squash_derivative(cfg.out, st.net_k[k]) * (tg[k] - st.y_k[k]);
      // dW_y[k, i] = dnet_k z_i(t);  db_y[k] = dnet_k
      for (std::size_t k = 0; k < n_out; ++k) {
        for (std::size_t i = 0; i < sh.n_z; ++i) g[sh.Wy(k, i)] = dnet_k[k] * st.z[i];
        if (cfg.bias_outputs) g[sh.by(k)] = dnet_k[k];
      }
      // dy_c[c] = sum_k W_y[k, c] dnet_k   (this step's output error only)
      std::vector<Scalar> dy_c(C, Scalar(0));
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t k = 0; k < n_out; ++k) dy_c[c] += P[sh.Wy(k, c)] * dnet_k[k];
      // e_s[c] = y_out[j] h'(s[c]) dy_c[c]
      std::vector<Scalar> e_s(C);
      for (std::size_t c = 0; c < C; ++c)
        e_s[c] = st.y_out[c / S] * squash_derivative(cfg.h, st.s[c]) * dy_c[c];

      for (std::size_t j = 0; j < B; ++j) {
        if (cfg.output_gate) {
          // dnet_out[j] = sigma'(net_out[j]) sum_v h(s[jS+v]) dy_c[jS+v]   (no error through the peephole)
          Scalar back = 0;
          for (std::size_t v = 0; v < S; ++v) back += squash(cfg.h, st.s[j * S + v]) * dy_c[j * S + v];
          const Scalar dnet_out = squash_derivative(Squash::Logistic, st.net_out[j]) * back;
          // dW_out[j] = dnet_out[j] u(t); db_out[j] = dnet_out[j]; dp_out[c] = dnet_out[j] s[c](t)
          for (std::size_t m = 0; m < n_src; ++m) g[sh.W(sh.uo + j, m)] = dnet_out * st.u[m];
          if (cfg.bias_gates) g[sh.b(sh.uo + j)] = dnet_out;
          if (cfg.peepholes)
            for (std::size_t v = 0; v < S; ++v) g[sh.p_out(j * S + v)] = dnet_out * st.s[j * S + v];
        }
        for (std::size_t v = 0; v < S; ++v) {
          const std::size_t c = j * S + v;
          // dW_cell[c] = e_s[c] Tc[c, :n_src];  db_cell[c] = e_s[c] Tc[c, n_src]
          for (std::size_t m = 0; m < n_src; ++m) g[sh.W(c, m)] = e_s[c] * Tc[c][m];
          if (cfg.bias_cells) g[sh.b(c)] = e_s[c] * Tc[c][n_src];
          // dW_in[j] = sum_v e_s[jS+v] Tin[jS+v, :n_src];  db_in[j]: column n_src;
          // dp_in[jS+v'] = sum_v e_s[jS+v] Tin[jS+v, n_src+1+v']
          for (std::size_t m = 0; m < n_src; ++m) g[sh.W(sh.ui + j, m)] += e_s[c] * Tin[c][m];
          if (cfg.bias_gates) g[sh.b(sh.ui + j)] += e_s[c] * Tin[c][n_src];
          if (cfg.peepholes)
            for (std::size_t w = 0; w < S; ++w) g[sh.p_in(j * S + w)] += e_s[c] * Tin[c][n_src + 1 + w];
          if (cfg.forget_gate) {
            // dW_forget, db_forget, dp_forget: likewise with Tf
            for (std::size_t m = 0; m < n_src; ++m) g[sh.W(sh.uf + j, m)] += e_s[c] * Tf[c][m];
            if (cfg.bias_gates) g[sh.b(sh.uf + j)] += e_s[c] * Tf[c][n_src];
            if (cfg.peepholes)
              for (std::size_t w = 0; w < S; ++w) g[sh.p_f(j * S + w)] += e_s[c] * Tf[c][n_src + 1 + w];
          }
        }
      }
      // grad_sum += g(t)
      for (std::size_t i = 0; i < g.size(); ++i) grad_sum[i] += g[i];
      // update="step": w -= lr g(t) now; the pass goes on with the new weights
      if (update_per_step)
        for (std::size_t i = 0; i < g.size(); ++i) P[i] -= lr * g[i];
    }
    // states, activations and traces carry on: a(t-1) := a(t), s(t-1) := s(t)
    a_prev = st.a;
    s_prev = st.s;
  }
  return loss;
}

}  // namespace naive_detail

// x: [T, n_in] -> y: [T, n_out], from the zero state a(-1) = 0, s(-1) = 0.
template <typename Scalar>
void naive_forward(const Lstm1997Config& cfg, const Scalar* params, const Scalar* x, std::size_t T, Scalar* y) {
  cfg.validate();
  const naive_detail::Shape sh(cfg);
  std::vector<Scalar> a_prev(sh.U, Scalar(0)), s_prev(sh.C, Scalar(0));
  naive_detail::Step<Scalar> st;
  for (std::size_t t = 0; t < T; ++t) {
    naive_detail::forward_step(cfg, sh, params, x + t * sh.n_in, a_prev, s_prev, st);
    // y[t] = y_k(t)
    for (std::size_t k = 0; k < sh.n_out; ++k) y[t * sh.n_out + k] = st.y_k[k];
    a_prev = st.a;
    s_prev = st.s;
  }
}

// L = 1/2 sum_t mask[t] sum_k (target[t,k] - y_k(t))^2   (mask nullptr: every step), in double.
template <typename Scalar>
double naive_loss(const Lstm1997Config& cfg, const Scalar* params, const Scalar* x, const Scalar* target,
                  const std::uint8_t* mask, std::size_t T) {
  std::vector<Scalar> y(T * cfg.n_out);
  naive_forward(cfg, params, x, T, y.data());
  double L = 0;
  for (std::size_t t = 0; t < T; ++t) {
    if (mask && !mask[t]) continue;
    for (std::size_t k = 0; k < cfg.n_out; ++k) {
      const double d = double(target[t * cfg.n_out + k]) - double(y[t * cfg.n_out + k]);
      L += 0.5 * d * d;
    }
  }
  return L;
}

// The 1997 truncated gradient dL/dw by RTRL traces, summed over the sequence, into grad
// [layout().total] (structural zeros are 0). Returns L.
template <typename Scalar>
double naive_gradient_rtrl(const Lstm1997Config& cfg, const Scalar* params, const Scalar* x, const Scalar* target,
                           const std::uint8_t* mask, std::size_t T, Scalar* grad) {
  std::vector<Scalar> P(params, params + ParamLayout(cfg).total);
  std::vector<Scalar> sum;
  const double loss = naive_detail::rtrl_pass(cfg, P.data(), x, target, mask, T, false, Scalar(0), sum);
  for (std::size_t i = 0; i < sum.size(); ++i) grad[i] = sum[i];
  return loss;
}

// One online pass with the truncated RTRL rule, updating params in place.
// update_per_step: w -= lr g(t) after every step t with mask[t] (the pass continues with the new
// weights); otherwise w -= lr sum_t g(t) once at the end. Returns the sum of the steps' losses.
template <typename Scalar>
double naive_train_sequence(const Lstm1997Config& cfg, Scalar* params, const Scalar* x, const Scalar* target,
                            const std::uint8_t* mask, std::size_t T, Scalar lr, bool update_per_step) {
  std::vector<Scalar> sum;
  const double loss = naive_detail::rtrl_pass(cfg, params, x, target, mask, T, update_per_step, lr, sum);
  // update="sequence": w -= lr sum_t g(t)
  if (!update_per_step)
    for (std::size_t i = 0; i < sum.size(); ++i) params[i] -= lr * sum[i];
  return loss;
}

}  // namespace lstmcore
