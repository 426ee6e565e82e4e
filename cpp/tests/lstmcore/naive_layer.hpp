// Naive reference kernel of one torch-style LSTM layer direction (gate order i, f, g, o, optional
// bias and peepholes, per-sequence lengths, reverse direction, initial state, exact and truncated
// gradient, optional projection h = W_hr (o * tanh(c))): plain loops, no blocking, no vectorisation hints, no threads. It is the yardstick the
// fast kernel (LstmLayer, lstm_layer.cpp) is checked against in the C++ tests and before every
// benchmark run; never use it for speed. The maths is that of lstm_layer.hpp and docs/ENGINE.md
// ("The torch-style layer").
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "lstmcore/lstm_layer.hpp"

namespace lstmcore {

// R = d.recurrent_size(): the width of h (P with a projection, else H).
template <typename Scalar>
struct NaiveLayerTape {
  std::vector<Scalar> gates, c_prev, h_prev, c, m;  // [T*N, 4H], [T*N, H], [T*N, R], [T*N, H], [T*N, H]
  std::vector<char> valid;                          // [T*N]: step t of sequence n ran (t < length[n])
};

// Forward. x: [T, N, I]; h0: [N, R], c0: [N, H], each or nullptr (zeros); lengths: [N] or nullptr
// (all T); out: [T, N, R] (0 past a sequence's end); h_n: [N, R], c_n: [N, H], or nullptr. The tape
// keeps what naive_layer_backward needs.
template <typename Scalar>
void naive_layer_forward(const LstmLayerDims& d, const LstmLayerParams<Scalar>& p, const Scalar* x, std::size_t T,
                         std::size_t N, const Scalar* h0, const Scalar* c0, const std::int64_t* lengths,
                         Scalar* out, Scalar* h_n, Scalar* c_n, NaiveLayerTape<Scalar>& tape) {
  const std::size_t I = d.input_size, H = d.hidden_size, G = 4 * H, P = d.proj_size, R = d.recurrent_size();
  tape.gates.assign(T * N * G, 0);
  tape.c_prev.assign(T * N * H, 0);
  tape.h_prev.assign(T * N * R, 0);
  tape.c.assign(T * N * H, 0);
  tape.m.assign(T * N * H, 0);
  tape.valid.assign(T * N, 0);
  std::vector<Scalar> h(N * R, 0), c(N * H, 0), a(G);
  if (h0) h.assign(h0, h0 + N * R);
  if (c0) c.assign(c0, c0 + N * H);
  auto sig = [](Scalar v) { return Scalar(1) / (Scalar(1) + std::exp(-v)); };
  for (std::size_t s = 0; s < T; ++s) {
    const std::size_t t = d.reverse ? T - 1 - s : s;
    for (std::size_t n = 0; n < N; ++n) {
      const std::size_t row = t * N + n;
      if (lengths && std::int64_t(t) >= lengths[n]) {
        // past the end: state unchanged, output 0
        for (std::size_t j = 0; j < R; ++j) out[row * R + j] = 0;
        continue;
      }
      tape.valid[row] = 1;
      // a = W_ih x + b_ih + W_hh h(t-1) + b_hh
      for (std::size_t r = 0; r < G; ++r) {
        Scalar sum = d.bias ? p.b_ih[r] + p.b_hh[r] : Scalar(0);
        for (std::size_t k = 0; k < I; ++k) sum += p.W_ih[r * I + k] * x[row * I + k];
        for (std::size_t k = 0; k < R; ++k) sum += p.W_hh[r * R + k] * h[n * R + k];
        a[r] = sum;
      }
      for (std::size_t k = 0; k < R; ++k) tape.h_prev[row * R + k] = h[n * R + k];
      for (std::size_t j = 0; j < H; ++j) {
        const Scalar cp = c[n * H + j];
        const Scalar i = sig(a[j] + (d.peepholes ? p.w_ci[j] * cp : Scalar(0)));
        const Scalar f = sig(a[H + j] + (d.peepholes ? p.w_cf[j] * cp : Scalar(0)));
        const Scalar g = std::tanh(a[2 * H + j]);
        const Scalar cn = f * cp + i * g;
        const Scalar o = sig(a[3 * H + j] + (d.peepholes ? p.w_co[j] * cn : Scalar(0)));
        Scalar* gt = &tape.gates[row * G];
        gt[j] = i, gt[H + j] = f, gt[2 * H + j] = g, gt[3 * H + j] = o;
        tape.c_prev[row * H + j] = cp;
        tape.c[row * H + j] = cn;
        // m = o tanh(c)
        tape.m[row * H + j] = o * std::tanh(cn);
      }
      // h = m (no projection) or h = W_hr m
      for (std::size_t q = 0; q < R; ++q) {
        Scalar sum = 0;
        if (P)
          for (std::size_t j = 0; j < H; ++j) sum += p.W_hr[q * H + j] * tape.m[row * H + j];
        else
          sum = tape.m[row * H + q];
        out[row * R + q] = sum;
      }
      for (std::size_t j = 0; j < H; ++j) c[n * H + j] = tape.c[row * H + j];
      for (std::size_t q = 0; q < R; ++q) h[n * R + q] = out[row * R + q];
    }
  }
  if (h_n) std::copy(h.begin(), h.end(), h_n);
  if (c_n) std::copy(c.begin(), c.end(), c_n);
}

// Backward of naive_layer_forward for the loss sum(grad_out * out) + sum(grad_hn * h_n) +
// sum(grad_cn * c_n). grad_out: [T, N, R], grad_hn: [N, R], grad_cn: [N, H], each or nullptr
// (zeros). truncated: the 1997 truncated gradient (no error back in time through W_hh or the
// peepholes; the projection is inside the step and always differentiated). grad_x: [T, N, I];
// grad_h0: [N, R], grad_c0: [N, H], or nullptr; grads overwritten.
template <typename Scalar>
void naive_layer_backward(const LstmLayerDims& d, const LstmLayerParams<Scalar>& p, const Scalar* x,
                          std::size_t T, std::size_t N, const NaiveLayerTape<Scalar>& tape, const Scalar* grad_out,
                          const Scalar* grad_hn, const Scalar* grad_cn, bool truncated, Scalar* grad_x,
                          Scalar* grad_h0, Scalar* grad_c0, const LstmLayerGrads<Scalar>& g) {
  const std::size_t I = d.input_size, H = d.hidden_size, G = 4 * H, P = d.proj_size, R = d.recurrent_size();
  const bool full = !truncated;
  for (std::size_t k = 0; k < G * I; ++k) g.W_ih[k] = 0;
  for (std::size_t k = 0; k < G * R; ++k) g.W_hh[k] = 0;
  for (std::size_t k = 0; k < P * H; ++k) g.W_hr[k] = 0;
  if (d.bias)
    for (std::size_t k = 0; k < G; ++k) g.b_ih[k] = g.b_hh[k] = 0;
  if (d.peepholes)
    for (std::size_t k = 0; k < H; ++k) g.w_ci[k] = g.w_cf[k] = g.w_co[k] = 0;
  std::vector<Scalar> dh(N * R, 0), dc(N * H, 0), da(G), dhr(R), dm(H);
  if (grad_hn) dh.assign(grad_hn, grad_hn + N * R);
  if (grad_cn) dc.assign(grad_cn, grad_cn + N * H);
  // steps in the reverse of processing order
  for (std::size_t s = T; s-- > 0;) {
    const std::size_t t = d.reverse ? T - 1 - s : s;
    for (std::size_t n = 0; n < N; ++n) {
      const std::size_t row = t * N + n;
      if (!tape.valid[row]) {
        // past the end: errors pass through unchanged, no gradient
        for (std::size_t k = 0; k < I; ++k) grad_x[row * I + k] = 0;
        continue;
      }
      const Scalar* gt = &tape.gates[row * G];
      // dL/dh(t) = (error from the next step) + grad_out(t)
      for (std::size_t q = 0; q < R; ++q) dhr[q] = dh[n * R + q] + (grad_out ? grad_out[row * R + q] : Scalar(0));
      // dL/dm(t) = W_hr^T dh(t) (or dh(t) itself); dW_hr += dh(t) m(t)^T
      for (std::size_t j = 0; j < H; ++j) {
        Scalar sum = 0;
        if (P)
          for (std::size_t q = 0; q < P; ++q) sum += dhr[q] * p.W_hr[q * H + j];
        else
          sum = dhr[j];
        dm[j] = sum;
      }
      for (std::size_t q = 0; q < P; ++q)
        for (std::size_t j = 0; j < H; ++j) g.W_hr[q * H + j] += dhr[q] * tape.m[row * H + j];
      for (std::size_t j = 0; j < H; ++j) {
        const Scalar i = gt[j], f = gt[H + j], gg = gt[2 * H + j], o = gt[3 * H + j];
        const Scalar cp = tape.c_prev[row * H + j], cn = tape.c[row * H + j], tc = std::tanh(cn);
        const Scalar dhj = dm[j];
        const Scalar dao = dhj * tc * o * (1 - o);
        const Scalar dcj =
            dc[n * H + j] + dhj * o * (1 - tc * tc) + (full && d.peepholes ? dao * p.w_co[j] : Scalar(0));
        const Scalar dai = dcj * gg * i * (1 - i), daf = dcj * cp * f * (1 - f), dag = dcj * i * (1 - gg * gg);
        da[j] = dai, da[H + j] = daf, da[2 * H + j] = dag, da[3 * H + j] = dao;
        dc[n * H + j] = dcj * f + (full && d.peepholes ? dai * p.w_ci[j] + daf * p.w_cf[j] : Scalar(0));
        if (d.peepholes) g.w_ci[j] += dai * cp, g.w_cf[j] += daf * cp, g.w_co[j] += dao * cn;
      }
      for (std::size_t k = 0; k < I; ++k) {
        Scalar sum = 0;
        for (std::size_t r = 0; r < G; ++r) sum += da[r] * p.W_ih[r * I + k];
        grad_x[row * I + k] = sum;
      }
      for (std::size_t k = 0; k < R; ++k) {
        Scalar sum = 0;
        if (full)
          for (std::size_t r = 0; r < G; ++r) sum += da[r] * p.W_hh[r * R + k];
        dh[n * R + k] = sum;
      }
      for (std::size_t r = 0; r < G; ++r) {
        for (std::size_t k = 0; k < I; ++k) g.W_ih[r * I + k] += da[r] * x[row * I + k];
        for (std::size_t k = 0; k < R; ++k) g.W_hh[r * R + k] += da[r] * tape.h_prev[row * R + k];
        if (d.bias) g.b_ih[r] += da[r], g.b_hh[r] += da[r];
      }
    }
  }
  if (grad_h0) std::copy(dh.begin(), dh.end(), grad_h0);
  if (grad_c0) std::copy(dc.begin(), dc.end(), grad_c0);
}

}  // namespace lstmcore
