// Naive reference kernel of one torch-style LSTM layer direction (gate order i, f, g, o, optional
// peepholes): plain loops, no blocking, no vectorisation hints, no threads. It is the yardstick the
// fast kernel (lstm_layer.cpp) is checked against in the C++ tests and before every benchmark run;
// never use it for speed. Maths as in lstm_layer.hpp; every sequence runs all T steps (no lengths)
// from zero state, forward in time.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "lstmcore/lstm_layer.hpp"

namespace lstmcore {

template <typename Scalar>
struct NaiveLayerTape {
  std::vector<Scalar> gates, c_prev, h_prev, c;  // [T*N, 4H], [T*N, H] x 3
};

// x: [T, N, I] -> out: [T, N, H]; the tape keeps what naive_layer_backward needs.
template <typename Scalar>
void naive_layer_forward(const LstmLayerDims& d, const LstmLayerParams<Scalar>& p, const Scalar* x, std::size_t T,
                         std::size_t N, Scalar* out, NaiveLayerTape<Scalar>& tape) {
  const std::size_t I = d.input_size, H = d.hidden_size, G = 4 * H;
  tape.gates.assign(T * N * G, 0);
  tape.c_prev.assign(T * N * H, 0);
  tape.h_prev.assign(T * N * H, 0);
  tape.c.assign(T * N * H, 0);
  std::vector<Scalar> h(N * H, 0), c(N * H, 0), a(G);
  auto sig = [](Scalar v) { return Scalar(1) / (Scalar(1) + std::exp(-v)); };
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t n = 0; n < N; ++n) {
      const std::size_t row = t * N + n;
      // a = W_ih x + b_ih + W_hh h(t-1) + b_hh
      for (std::size_t r = 0; r < G; ++r) {
        Scalar s = d.bias ? p.b_ih[r] + p.b_hh[r] : Scalar(0);
        for (std::size_t k = 0; k < I; ++k) s += p.W_ih[r * I + k] * x[row * I + k];
        for (std::size_t k = 0; k < H; ++k) s += p.W_hh[r * H + k] * h[n * H + k];
        a[r] = s;
      }
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
        tape.h_prev[row * H + j] = h[n * H + j];
        tape.c[row * H + j] = cn;
        out[row * H + j] = o * std::tanh(cn);
      }
      for (std::size_t j = 0; j < H; ++j) {
        c[n * H + j] = tape.c[row * H + j];
        h[n * H + j] = out[row * H + j];
      }
    }
}

// Exact BPTT of naive_layer_forward for the loss sum(grad_out * out):
//   grad_out: [T, N, H] -> grad_x: [T, N, I]; grads overwritten (same shapes as the params).
template <typename Scalar>
void naive_layer_backward(const LstmLayerDims& d, const LstmLayerParams<Scalar>& p, const Scalar* x,
                          std::size_t T, std::size_t N, const NaiveLayerTape<Scalar>& tape, const Scalar* grad_out,
                          Scalar* grad_x, const LstmLayerGrads<Scalar>& g) {
  const std::size_t I = d.input_size, H = d.hidden_size, G = 4 * H;
  for (std::size_t k = 0; k < G * I; ++k) g.W_ih[k] = 0;
  for (std::size_t k = 0; k < G * H; ++k) g.W_hh[k] = 0;
  if (d.bias)
    for (std::size_t k = 0; k < G; ++k) g.b_ih[k] = g.b_hh[k] = 0;
  if (d.peepholes)
    for (std::size_t k = 0; k < H; ++k) g.w_ci[k] = g.w_cf[k] = g.w_co[k] = 0;
  std::vector<Scalar> dh(N * H, 0), dc(N * H, 0), da(G);
  for (std::size_t t = T; t-- > 0;)
    for (std::size_t n = 0; n < N; ++n) {
      const std::size_t row = t * N + n;
      const Scalar* gt = &tape.gates[row * G];
      for (std::size_t j = 0; j < H; ++j) {
        const Scalar i = gt[j], f = gt[H + j], gg = gt[2 * H + j], o = gt[3 * H + j];
        const Scalar cp = tape.c_prev[row * H + j], cn = tape.c[row * H + j], tc = std::tanh(cn);
        const Scalar dhj = dh[n * H + j] + grad_out[row * H + j];
        const Scalar dao = dhj * tc * o * (1 - o);
        Scalar dcj = dc[n * H + j] + dhj * o * (1 - tc * tc) + (d.peepholes ? dao * p.w_co[j] : Scalar(0));
        const Scalar dai = dcj * gg * i * (1 - i), daf = dcj * cp * f * (1 - f), dag = dcj * i * (1 - gg * gg);
        da[j] = dai, da[H + j] = daf, da[2 * H + j] = dag, da[3 * H + j] = dao;
        dc[n * H + j] = dcj * f + (d.peepholes ? dai * p.w_ci[j] + daf * p.w_cf[j] : Scalar(0));
        if (d.peepholes) g.w_ci[j] += dai * cp, g.w_cf[j] += daf * cp, g.w_co[j] += dao * cn;
      }
      for (std::size_t k = 0; k < I; ++k) {
        Scalar s = 0;
        for (std::size_t r = 0; r < G; ++r) s += da[r] * p.W_ih[r * I + k];
        grad_x[row * I + k] = s;
      }
      for (std::size_t k = 0; k < H; ++k) {
        Scalar s = 0;
        for (std::size_t r = 0; r < G; ++r) s += da[r] * p.W_hh[r * H + k];
        dh[n * H + k] = s;
      }
      for (std::size_t r = 0; r < G; ++r) {
        for (std::size_t k = 0; k < I; ++k) g.W_ih[r * I + k] += da[r] * x[row * I + k];
        for (std::size_t k = 0; k < H; ++k) g.W_hh[r * H + k] += da[r] * tape.h_prev[row * H + k];
        if (d.bias) g.b_ih[r] += da[r], g.b_hh[r] += da[r];
      }
    }
}

}  // namespace lstmcore
