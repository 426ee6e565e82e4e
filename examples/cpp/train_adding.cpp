// Online training of the 1997 paper's adding-problem network (Exp. 4: 2 inputs, 1 output, 2 memory
// cell blocks of 2 cells, 93 weights) with its truncated RTRL learning rule, through the installed
// lstmcore C++ library. Sequences are short (T = 20 .. 22 steps, the paper uses 100 and more), so
// that 30,000 of them train in a fraction of a second. The program fails unless the mean squared
// error at the sequence end over the last 2000 sequences falls below 0.01 (the paper's stopping
// threshold for this task; always predicting the mean target scores about 0.042).
//
// The adding problem: each step reads a pair (value in [-1, 1], marker). Two pairs carry marker
// 1.0: one of the first ten, and one of the first T/2 - 1; the first and last pairs carry -1.0,
// all others 0.0. At the last step the target is 0.5 + (X1 + X2) / 4 for the two marked values;
// no other step has a target. (A marked first pair keeps marker -1.0 and counts as X1 = 0.)
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "lstmcore/lstm1997.hpp"

int main() {
  using lstmcore::Lstm1997;
  using lstmcore::Lstm1997Config;
  constexpr std::size_t T = 20;             // minimal sequence length
  constexpr std::size_t kSequences = 30000;  // training sequences
  constexpr std::size_t kWindow = 2000;      // sequences per reported mean error
  constexpr double kLearningRate = 0.5;
  constexpr double kSuccessError = 0.01;  // mean squared error of the last window

  // The network of Exp. 4: cells and gates feed back, g in [-2, 2], h in [-1, 1], logistic output,
  // biases on every unit.
  Lstm1997Config cfg;
  cfg.n_in = 2;
  cfg.n_out = 1;
  cfg.blocks = 2;
  cfg.cells_per_block = 2;
  cfg.bias_gates = cfg.bias_cells = cfg.bias_outputs = true;
  Lstm1997<double> net(cfg);
  if (net.layout().n_weights != 93) {
    std::fprintf(stderr, "expected the paper's 93 weights, got %zu\n", net.layout().n_weights);
    return 1;
  }

  // Weights uniform in [-0.1, 0.1]; input gate biases -3 and -6 (block 1, block 2), as in the paper.
  std::mt19937_64 rng(1997);
  std::uniform_real_distribution<double> init(-0.1, 0.1), value(-1.0, 1.0);
  const auto& present = net.layout().present;
  for (std::size_t k = 0; k < net.layout().total; ++k) net.params()[k] = present[k] ? init(rng) : 0.0;
  const lstmcore::ParamView* b_in = net.layout().find("b_in");
  net.params()[b_in->offset + 0] = -3.0;
  net.params()[b_in->offset + 1] = -6.0;

  std::vector<double> x, target;
  std::vector<std::uint8_t> mask;
  double window_sum = 0, first_window = -1, last_window = -1;
  for (std::size_t s = 1; s <= kSequences; ++s) {
    // one sequence of L = T .. T + T/10 steps
    const std::size_t L = T + std::size_t(rng() % (T / 10 + 1));
    x.assign(L * 2, 0.0);
    target.assign(L, 0.0);
    mask.assign(L, 0);
    for (std::size_t t = 0; t < L; ++t) x[t * 2] = value(rng);
    x[1] = -1.0;
    x[(L - 1) * 2 + 1] = -1.0;
    const std::size_t first = rng() % 10;
    std::size_t second;
    do second = rng() % (T / 2 - 1); while (second == first);
    double sum = 0;
    for (std::size_t p : {first, second}) {
      if (p == 0) continue;  // a marked first pair keeps its -1 marker and counts as 0
      x[p * 2 + 1] = 1.0;
      sum += x[p * 2];
    }
    target[L - 1] = 0.5 + sum / 4.0;
    mask[L - 1] = 1;
    // one online pass: forward, the truncated RTRL gradient, w -= lr g at the step with a target
    const double loss = net.train_sequence(x.data(), target.data(), mask.data(), L, kLearningRate,
                                           lstmcore::UpdateSchedule::Step);
    if (!std::isfinite(loss)) {
      std::fprintf(stderr, "sequence %zu: loss is not finite\n", s);
      return 1;
    }
    window_sum += 2 * loss;  // loss = 1/2 squared error at the last step
    if (s % kWindow == 0) {
      const double mse = window_sum / double(kWindow);
      std::printf("sequences %5zu: mean squared error at the sequence end %.5f\n", s, mse);
      if (first_window < 0) first_window = mse;
      last_window = mse;
      window_sum = 0;
    }
  }
  if (!(last_window < kSuccessError)) {
    std::fprintf(stderr, "not learned: mean squared error %.5f (first window %.5f), expected < %.2f\n", last_window,
                 first_window, kSuccessError);
    return 1;
  }
  std::printf("training error fell from %.5f to %.5f\n", first_window, last_window);
  return 0;
}
