// Packed batches of the 1997 network (lstm1997_batch.hpp) against one call per sequence:
//   train_batch   == train_sequence of every sequence in order (losses, parameters: bit for bit),
//                    its last-step error == |target - y| of a forward pass with the weights the
//                    sequence met (targets at the last step only)
//   forward_batch == one forward call per sequence (forward_one_by_one) for 1, 2, 3 and 7
//                    threads, bit for bit, also after the parameters change
// No test framework: CHECK macros (test_support.hpp); the exit code is non-zero if a check failed.
// Usage: test_lstm1997_batch [group ...]   (no argument: every group)
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "lstmcore/lstm1997.hpp"
#include "lstmcore/lstm1997_batch.hpp"
#include "test_support.hpp"

using namespace lstmcore;

static Lstm1997Config exp6a_config() {
  Lstm1997Config cfg;
  cfg.n_in = 8;
  cfg.n_out = 4;
  cfg.blocks = 2;
  cfg.cells_per_block = 2;
  cfg.bias_gates = cfg.bias_cells = cfg.bias_outputs = true;
  cfg.validate();
  return cfg;
}

template <typename Scalar>
static void fill_params(Lstm1997<Scalar>& net, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  const auto& present = net.layout().present;
  for (std::size_t i = 0; i < net.layout().total; ++i) net.params()[i] = present[i] ? Scalar(u(rng)) : Scalar(0);
}

// The reference of forward_batch: one forward call per sequence, in order, on `net`.
template <typename Scalar>
static void forward_one_by_one(Lstm1997<Scalar>& net, const Scalar* x, const std::int64_t* offsets, std::size_t n,
                               Scalar* y) {
  const std::size_t n_in = net.config().n_in, K = net.config().n_out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t r0 = std::size_t(offsets[i]), T = std::size_t(offsets[i + 1] - offsets[i]);
    net.forward(x + r0 * n_in, T, y + r0 * K);
  }
}

template <typename Scalar>
static void run() {
  const Lstm1997Config cfg = exp6a_config();
  std::mt19937_64 rng(7);
  // 23 sequences of 5..40 steps, one-hot-ish inputs, a target at the last step only
  const std::size_t n = 23;
  std::vector<std::int64_t> offsets{0};
  std::uniform_int_distribution<int> len(5, 40), sym(0, int(cfg.n_in) - 1), cls(0, int(cfg.n_out) - 1);
  for (std::size_t i = 0; i < n; ++i) offsets.push_back(offsets.back() + len(rng));
  const std::size_t R = std::size_t(offsets.back());
  std::vector<Scalar> x(R * cfg.n_in, Scalar(0)), target(R * cfg.n_out, Scalar(0));
  std::vector<std::uint8_t> mask(R, 0);
  for (std::size_t r = 0; r < R; ++r) x[r * cfg.n_in + std::size_t(sym(rng))] = Scalar(1);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t last = std::size_t(offsets[i + 1]) - 1;
    mask[last] = 1;
    target[last * cfg.n_out + std::size_t(cls(rng))] = Scalar(1);
  }

  for (UpdateSchedule update : {UpdateSchedule::Step, UpdateSchedule::Sequence}) {
    Lstm1997<Scalar> a(cfg), b(cfg), probe(cfg);
    fill_params(a, rng);
    std::copy(a.params(), a.params() + a.layout().total, b.params());
    std::vector<double> loss_a(n), err_a(n), loss_b(n), err_b(n);
    std::vector<Scalar> y;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t r0 = std::size_t(offsets[i]), T = std::size_t(offsets[i + 1] - offsets[i]);
      // the error the sequence meets: a forward pass with the weights before it
      std::copy(a.params(), a.params() + a.layout().total, probe.params());
      y.assign(T * cfg.n_out, Scalar(0));
      probe.forward(x.data() + r0 * cfg.n_in, T, y.data());
      double e = 0;
      for (std::size_t k = 0; k < cfg.n_out; ++k)
        e = std::max(e, std::abs(double(target[(r0 + T - 1) * cfg.n_out + k]) - double(y[(T - 1) * cfg.n_out + k])));
      err_a[i] = e;
      loss_a[i] = a.train_sequence(x.data() + r0 * cfg.n_in, target.data() + r0 * cfg.n_out, mask.data() + r0, T,
                                   Scalar(0.3), update);
    }
    train_batch(b, x.data(), target.data(), mask.data(), offsets.data(), n, Scalar(0.3), update, loss_b.data(),
                err_b.data());
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(loss_a[i] == loss_b[i]);
      CHECK(err_a[i] == err_b[i]);
    }
    for (std::size_t j = 0; j < a.layout().total; ++j) CHECK(a.params()[j] == b.params()[j]);
  }

  Lstm1997<Scalar> net(cfg), ref(cfg);
  std::vector<std::unique_ptr<Lstm1997<Scalar>>> workers;
  for (int round = 0; round < 2; ++round) {  // the second round: new parameters, reused workers
    fill_params(net, rng);
    std::copy(net.params(), net.params() + net.layout().total, ref.params());
    std::vector<Scalar> expected(R * cfg.n_out);
    forward_one_by_one(ref, x.data(), offsets.data(), n, expected.data());
    for (int threads : {1, 2, 3, 7}) {
      std::vector<Scalar> got(R * cfg.n_out, Scalar(-99));
      forward_batch(net, workers, x.data(), offsets.data(), n, got.data(), threads);
      for (std::size_t j = 0; j < got.size(); ++j) CHECK(got[j] == expected[j]);
    }
  }
}

int main(int argc, char** argv) {
  return run_test_groups(argc, argv, {{"double", run<double>}, {"float", run<float>}});
}
