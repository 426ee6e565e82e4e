// One direction of the torch-style LSTM layer (gate order i, f, g, o) through the installed lstmcore
// C++ library: a forward pass over a batch of sequences, the exact gradient by backward, and a
// check of one weight's gradient against a central finite difference of the loss
//   L = sum over t, n, j of out[t, n, j] * w[t, n, j]      (w fixed random weights, so dL/d out = w).
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "lstmcore/lstm_layer.hpp"

int main() {
  using namespace lstmcore;
  constexpr std::size_t I = 3, H = 4, T = 7, N = 5;  // input size, hidden size, steps, sequences
  LstmLayerDims dims;
  dims.input_size = I;
  dims.hidden_size = H;
  dims.bias = true;

  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  auto random = [&](std::size_t n) {
    std::vector<double> v(n);
    for (double& e : v) e = u(rng);
    return v;
  };
  // parameters: W_ih [4H, I], W_hh [4H, H], b_ih, b_hh [4H]
  std::vector<double> W_ih = random(4 * H * I), W_hh = random(4 * H * H), b_ih = random(4 * H), b_hh = random(4 * H);
  LstmLayerParams<double> params;
  params.W_ih = W_ih.data(), params.W_hh = W_hh.data(), params.b_ih = b_ih.data(), params.b_hh = b_hh.data();
  const std::vector<double> x = random(T * N * I), w = random(T * N * H);  // x: [T, N, I]; dL/d out: [T, N, H]

  LstmLayer<double> layer(dims);
  std::vector<double> out(T * N * H), h_n(N * H), c_n(N * H);
  LstmForwardArgs<double> fwd;
  fwd.x = x.data(), fwd.steps = T, fwd.batch = N;  // h0, c0: zeros; every sequence runs T steps
  fwd.out = out.data(), fwd.h_n = h_n.data(), fwd.c_n = c_n.data();
  auto loss = [&] {
    layer.forward(params, fwd, 2);
    double L = 0;
    for (std::size_t k = 0; k < out.size(); ++k) L += out[k] * w[k];
    return L;
  };
  const double L0 = loss();

  std::vector<double> grad_x(T * N * I), grad_h0(N * H), grad_c0(N * H);
  std::vector<double> gW_ih(W_ih.size()), gW_hh(W_hh.size()), gb_ih(b_ih.size()), gb_hh(b_hh.size());
  LstmBackwardArgs<double> bwd;
  bwd.grad_out = w.data();  // dL/d out
  bwd.grad_x = grad_x.data(), bwd.grad_h0 = grad_h0.data(), bwd.grad_c0 = grad_c0.data();
  LstmLayerGrads<double> grads;
  grads.W_ih = gW_ih.data(), grads.W_hh = gW_hh.data(), grads.b_ih = gb_ih.data(), grads.b_hh = gb_hh.data();
  layer.backward(params, bwd, grads, 2);

  // dL/dW_hh[5] by central differences: (L(w + e) - L(w - e)) / 2e
  const double eps = 1e-6, saved = W_hh[5];
  W_hh[5] = saved + eps;
  const double Lp = loss();
  W_hh[5] = saved - eps;
  const double Lm = loss();
  W_hh[5] = saved;
  const double fd = (Lp - Lm) / (2 * eps);
  std::printf("loss %.6f; dL/dW_hh[5]: backward %.9f, finite difference %.9f\n", L0, gW_hh[5], fd);
  if (!(std::fabs(fd - gW_hh[5]) <= 1e-6 * std::max(1.0, std::fabs(fd)))) {
    std::fprintf(stderr, "backward and finite difference disagree\n");
    return 1;
  }
  return 0;
}
