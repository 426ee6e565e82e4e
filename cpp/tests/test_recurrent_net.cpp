// C++ tests of lstmcore::RecurrentNet (no framework). Groups, chosen on the command line:
//   counts       the paper's weight counts (Tables 1 and 2)
//   finite_diff  the exact gradient (BPTT) against central finite differences, float64
//   rtrl_bptt    RTRL == BPTT, and a sequence update == one gradient step
//   nomalloc     (built with EIGEN_RUNTIME_NO_MALLOC) every time loop runs with allocation forbidden
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "lstmcore/recurrent_net.hpp"
#include "test_support.hpp"

using lstmcore::RecurrentGradient;
using lstmcore::RecurrentLayout;
using lstmcore::RecurrentNet;
using lstmcore::RecurrentNetConfig;
using lstmcore::RecurrentUpdate;

namespace {


RecurrentNetConfig config(std::size_t I, std::size_t H, std::size_t K, RecurrentLayout layout, bool shortcut,
                          bool bias) {
  RecurrentNetConfig c;
  c.n_in = I;
  c.n_hidden = H;
  c.n_out = K;
  c.layout = layout;
  c.shortcut = shortcut;
  c.bias = bias;
  return c;
}

std::vector<RecurrentNetConfig> small_configs() {
  return {config(3, 2, 2, RecurrentLayout::Full, false, true), config(2, 3, 2, RecurrentLayout::Hidden, true, true),
          config(3, 2, 3, RecurrentLayout::Self, true, false), config(2, 2, 2, RecurrentLayout::Hidden, false, false)};
}

template <typename Scalar>
void randomize(RecurrentNet<Scalar>& net, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (std::size_t i = 0; i < net.params().size(); ++i) {
    std::vector<Scalar> w(net.params()[i].size());
    for (auto& v : w) v = Scalar(u(rng));
    net.set_param(i, w.data());
  }
}

struct Data {
  std::vector<double> x, target;
  std::vector<std::uint8_t> mask;
};

Data make_data(const RecurrentNetConfig& c, std::size_t T, std::mt19937_64& rng) {
  std::normal_distribution<double> n;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Data d;
  for (std::size_t i = 0; i < T * c.n_in; ++i) d.x.push_back(n(rng));
  for (std::size_t i = 0; i < T * c.n_out; ++i) d.target.push_back(u(rng));
  for (std::size_t t = 0; t < T; ++t) d.mask.push_back(u(rng) < 0.6 || t + 1 == T);
  return d;
}

std::vector<double> all(const RecurrentNet<double>& net, bool grad) {
  std::vector<double> out;
  for (std::size_t i = 0; i < net.params().size(); ++i) {
    std::vector<double> w(net.params()[i].size());
    if (grad)
      net.get_grad(i, w.data());
    else
      net.get_param(i, w.data());
    out.insert(out.end(), w.begin(), w.end());
  }
  return out;
}

void test_counts() {
  struct Case {
    RecurrentNetConfig c;
    std::size_t w;
  };
  const Case cases[] = {
      {config(7, 3, 7, RecurrentLayout::Full, false, false), 170},
      {config(7, 12, 7, RecurrentLayout::Full, false, false), 494},
      {config(7, 15, 7, RecurrentLayout::Hidden, false, false), 435},
      {config(5, 1, 5, RecurrentLayout::Self, true, false), 36},
      {config(11, 1, 11, RecurrentLayout::Self, true, false), 144},
      {config(101, 1, 101, RecurrentLayout::Self, true, false), 10404},
  };
  for (const auto& k : cases) {
    RecurrentNet<double> net(k.c);
    CHECK_MSG(net.n_weights() == k.w, "weight count " + std::to_string(net.n_weights()) + " != " + std::to_string(k.w));
  }
}

void test_finite_diff() {
  std::mt19937_64 rng(1);
  for (const auto& c : small_configs()) {
    RecurrentNet<double> net(c);
    randomize(net, rng);
    const std::size_t T = 8;
    Data d = make_data(c, T, rng);
    net.gradient(d.x.data(), d.target.data(), d.mask.data(), T, RecurrentGradient::Bptt);
    const std::vector<double> g = all(net, true);
    std::size_t flat = 0;
    for (std::size_t i = 0; i < net.params().size(); ++i) {
      std::vector<double> w(net.params()[i].size());
      net.get_param(i, w.data());
      for (std::size_t j = 0; j < w.size(); ++j, ++flat) {
        const double eps = 1e-6, w0 = w[j];
        double L[2];
        for (int s = 0; s < 2; ++s) {
          w[j] = w0 + (s ? -eps : eps);
          net.set_param(i, w.data());
          L[s] = net.gradient(d.x.data(), d.target.data(), d.mask.data(), T, RecurrentGradient::Elman);
        }
        w[j] = w0;
        net.set_param(i, w.data());
        const double fd = (L[0] - L[1]) / (2 * eps);
        CHECK_MSG(std::abs(fd - g[flat]) < 1e-8 * std::max(1.0, std::abs(fd)),
              "finite differences: weight " + std::to_string(flat) + " fd " + std::to_string(fd) + " bptt " +
                  std::to_string(g[flat]));
      }
    }
  }
}

void test_rtrl_bptt() {
  std::mt19937_64 rng(2);
  for (const auto& c : small_configs()) {
    RecurrentNet<double> net(c);
    randomize(net, rng);
    const std::size_t T = 40;
    Data d = make_data(c, T, rng);
    const double L1 = net.gradient(d.x.data(), d.target.data(), d.mask.data(), T, RecurrentGradient::Rtrl);
    const std::vector<double> g1 = all(net, true);
    const double L2 = net.gradient(d.x.data(), d.target.data(), d.mask.data(), T, RecurrentGradient::Bptt);
    const std::vector<double> g2 = all(net, true);
    CHECK_MSG(L1 == L2, "rtrl and bptt losses differ");
    for (std::size_t k = 0; k < g1.size(); ++k)
      CHECK_MSG(std::abs(g1[k] - g2[k]) <= 1e-10 * std::max(1.0, std::abs(g2[k])), "rtrl != bptt at " + std::to_string(k));
    // a sequence update is w - lr * g
    const std::vector<double> w0 = all(net, false);
    net.train_sequence(d.x.data(), d.target.data(), d.mask.data(), T, 0.25, RecurrentGradient::Bptt,
                       RecurrentUpdate::Sequence);
    const std::vector<double> w1 = all(net, false);
    for (std::size_t k = 0; k < w0.size(); ++k)
      CHECK_MSG(std::abs(w1[k] - (w0[k] - 0.25 * g2[k])) < 1e-15, "sequence update at " + std::to_string(k));
  }
}

#ifdef EIGEN_RUNTIME_NO_MALLOC
// Every entry point once (the build forbids allocation inside the time loops: Eigen asserts, and
// test_support.hpp's operator new aborts).
template <typename Scalar>
void run_all_paths() {
  std::mt19937_64 rng(3);
  auto configs = small_configs();
  configs.push_back(config(7, 12, 7, RecurrentLayout::Full, false, false));       // Table 1, 494 weights
  configs.push_back(config(101, 1, 101, RecurrentLayout::Self, true, false));     // Table 2, 10404 weights
  configs.push_back(config(7, 15, 7, RecurrentLayout::Hidden, false, false));     // Table 1 ELM
  for (const auto& c : configs) {
    RecurrentNet<Scalar> net(c);
    randomize(net, rng);
    const std::size_t T = 12;
    Data d = make_data(c, T, rng);
    std::vector<Scalar> x(d.x.begin(), d.x.end()), target(d.target.begin(), d.target.end());
    std::vector<Scalar> y(T * c.n_out);
    net.forward(x.data(), T, y.data());
    for (auto m : {RecurrentGradient::Rtrl, RecurrentGradient::Bptt, RecurrentGradient::Elman}) {
      net.gradient(x.data(), target.data(), d.mask.data(), T, m);
      net.train_sequence(x.data(), target.data(), d.mask.data(), T, Scalar(0.1), m, RecurrentUpdate::Sequence);
      if (m != RecurrentGradient::Bptt)
        net.train_sequence(x.data(), target.data(), d.mask.data(), T, Scalar(0.1), m, RecurrentUpdate::Step);
    }
  }
}

void test_nomalloc() {
  run_all_paths<double>();
  run_all_paths<float>();
}
#endif

}  // namespace

int main(int argc, char** argv) {
  return run_test_groups(argc, argv, {
#ifdef EIGEN_RUNTIME_NO_MALLOC
                                         {"nomalloc", test_nomalloc},
#endif
                                         {"counts", test_counts},
                                         {"finite_diff", test_finite_diff},
                                         {"rtrl_bptt", test_rtrl_bptt},
                                     });
}
