// Unit tests of the streaming layer stack (lstm_stream.hpp) and online trainer (lstm_online.hpp)
// against the layer kernel (lstm_layer.hpp), the vectorised tanh, and (in the build with
// EIGEN_RUNTIME_NO_MALLOC) the absence of heap allocation in their steps.
//
// Usage: test_streaming [group ...]   (no argument: every group of this build)
// Groups:
//   stream     one-step stream, run over chunks == LstmLayer::forward (double to 1e-12), with state,
//              without and with a projection (proj_size)
//   online     LstmOnline::run gradients == LstmLayer::backward(truncated) (double to 1e-10), and
//              step + accumulate == run, without and with a projection
//   tanh       detail::tanh_and_hidden(double) within 4 ulp of std::tanh on 2^-30 .. 2^4 and the limits
//   sigmoid    detail::sigmoid_packet(double) within 4 ulp of 1 / (1 + exp(-x)) on [-708, 40], 0/1/NaN ends
//   nomalloc   only with EIGEN_RUNTIME_NO_MALLOC: step, run, accumulate allocate nothing
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "lstmcore/detail/cell_math.hpp"
#include "lstmcore/detail/squash.hpp"
#include "lstmcore/lstm_layer.hpp"
#include "lstmcore/lstm_online.hpp"
#include "lstmcore/lstm_stream.hpp"

#include "test_support.hpp"

using namespace lstmcore;

static void test_stream() {
  std::mt19937_64 rng(1);
  for (bool bias : {true, false})
    for (bool peep : {false, true})
      for (std::size_t N : {1, 3, 11})
        for (std::size_t P : {0, 2}) {
        const std::size_t I = 3, H = 5, L = 2, T = 9, R = P ? P : H;
        std::vector<Layer> layers = {Layer(rng, I, H, P), Layer(rng, R, H, P)};
        const Vec x = random_vec(rng, T * N * I), h0 = random_vec(rng, L * N * R), c0 = random_vec(rng, L * N * H);
        // reference: the layer kernel, layer by layer
        Vec in = x, hn(N * R), cn(N * H);
        Vec ref_h(L * N * R), ref_c(L * N * H);
        for (std::size_t k = 0; k < L; ++k) {
          LstmLayerDims d;
          d.input_size = k == 0 ? I : R;
          d.hidden_size = H;
          d.bias = bias;
          d.peepholes = peep;
          d.proj_size = P;
          LstmLayer<double> layer(d);
          Vec out(T * N * R);
          LstmForwardArgs<double> fa;
          fa.x = in.data(), fa.steps = T, fa.batch = N, fa.h0 = h0.data() + k * N * R, fa.c0 = c0.data() + k * N * H;
          fa.out = out.data(), fa.h_n = hn.data(), fa.c_n = cn.data();
          layer.forward(layers[k].params(bias, peep), fa, 1);
          std::copy(hn.begin(), hn.end(), ref_h.begin() + k * N * R);
          std::copy(cn.begin(), cn.end(), ref_c.begin() + k * N * H);
          in = out;
        }
        LstmStackDims sd;
        sd.input_size = I;
        sd.hidden_size = H;
        sd.num_layers = L;
        sd.bias = bias;
        sd.peepholes = peep;
        sd.proj_size = P;
        LstmStream<double> s(sd, {layers[0].params(bias, peep), layers[1].params(bias, peep)}, N);
        s.reset(h0.data(), c0.data());
        Vec out(T * N * R);
        for (std::size_t t = 0; t < 4; ++t) s.step(x.data() + t * N * I, out.data() + t * N * R, 2);
        s.run(x.data() + 4 * N * I, T - 4, out.data() + 4 * N * R, 2);
        CHECKF(max_abs_diff(out, in) < 1e-12, "output, N=%zu P=%zu: %g", N, P, max_abs_diff(out, in));
        CHECKF(max_abs_diff(Vec(s.h(), s.h() + L * N * R), ref_h) < 1e-12, "h_n");
        CHECKF(max_abs_diff(Vec(s.c(), s.c() + L * N * H), ref_c) < 1e-12, "c_n");
      }
}

static void test_online() {
  std::mt19937_64 rng(2);
  for (bool bias : {true, false})
    for (bool peep : {false, true})
      for (std::size_t N : {1, 4, 10})
        for (std::size_t P : {0, 3}) {
        const std::size_t I = 4, H = 6, T = 12, R = P ? P : H;
        Layer layer(rng, I, H, P);
        const Vec x = random_vec(rng, T * N * I), go = random_vec(rng, T * N * R), h0 = random_vec(rng, N * R),
                  c0 = random_vec(rng, N * H);
        LstmLayerDims d;
        d.input_size = I;
        d.hidden_size = H;
        d.bias = bias;
        d.peepholes = peep;
        d.proj_size = P;
        const LstmLayerParams<double> p = layer.params(bias, peep);
        LstmLayer<double> ref_layer(d);
        Vec out(T * N * R), hn(N * R), cn(N * H), gx(T * N * I), gh0(N * R), gc0(N * H);
        LstmForwardArgs<double> fa;
        fa.x = x.data(), fa.steps = T, fa.batch = N, fa.h0 = h0.data(), fa.c0 = c0.data();
        fa.out = out.data(), fa.h_n = hn.data(), fa.c_n = cn.data();
        ref_layer.forward(p, fa, 1);
        Grads ref(I, H, P), run(I, H, P), steps(I, H, P);
        LstmBackwardArgs<double> ba;
        ba.grad_out = go.data(), ba.truncated = true, ba.grad_x = gx.data(), ba.grad_h0 = gh0.data();
        ba.grad_c0 = gc0.data();
        ref_layer.backward(p, ba, ref.view(), 1);
        LstmOnline<double> online(d, p, run.view(), N);
        online.reset(h0.data(), c0.data());
        Vec y(T * N * R);
        online.run(x.data(), go.data(), T, y.data(), 2);
        CHECKF(max_abs_diff(y, out) < 1e-12, "output");
        LstmOnline<double> stepper(d, p, steps.view(), N);
        stepper.reset(h0.data(), c0.data());
        for (std::size_t t = 0; t < T; ++t) {
          stepper.step(x.data() + t * N * I, nullptr, 1);
          stepper.accumulate(go.data() + t * N * R, 1);
        }
        const std::vector<std::pair<const Vec*, const Vec*>> pairs = {
            {&ref.W_ih, &run.W_ih}, {&ref.W_hh, &run.W_hh}, {&ref.b_ih, &run.b_ih}, {&ref.b_hh, &run.b_hh},
            {&ref.w_ci, &run.w_ci}, {&ref.w_cf, &run.w_cf}, {&ref.w_co, &run.w_co}, {&ref.W_hr, &run.W_hr}};
        for (std::size_t k = 0; k < pairs.size(); ++k) {
          if ((k == 2 || k == 3) && !bias) continue;
          if (k >= 4 && k < 7 && !peep) continue;
          const Vec &a = *pairs[k].first, &b = *pairs[k].second;
          double scale = 1e-300;
          for (double v : a) scale = std::max(scale, std::fabs(v));
          CHECKF(max_abs_diff(a, b) <= 1e-10 * scale, "gradient %zu, N=%zu: %g", k, N, max_abs_diff(a, b));
        }
        CHECKF(max_abs_diff(steps.W_hh, run.W_hh) < 1e-13 && max_abs_diff(steps.W_ih, run.W_ih) < 1e-13,
               "step + accumulate != run");
        CHECKF(max_abs_diff(steps.W_hr, run.W_hr) < 1e-13, "step + accumulate != run (W_hr)");
        CHECKF(std::equal(stepper.h(), stepper.h() + N * R, online.h()), "step state != run state");
      }
  // a reverse direction cannot train online
  LstmLayerDims d;
  d.reverse = true;
  std::mt19937_64 r(3);
  Layer layer(r, 1, 1);
  Grads g(1, 1);
  bool threw = false;
  try {
    LstmOnline<double>(d, layer.params(true, false), g.view(), 1);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECKF(threw, "reverse accepted");
}

static void test_tanh() {
  std::mt19937_64 rng(4);
  Vec xs = {0.0, 0.625, -0.625, 20.0, -20.0, 710.0, -1e300, 1e300};
  for (int e = -30; e <= 4; ++e)
    for (int k = 0; k < 2000; ++k)
      xs.push_back(std::ldexp(std::uniform_real_distribution<double>(0.5, 1.0)(rng), e) * (k % 2 ? -1 : 1));
  for (std::size_t n : {xs.size(), std::size_t(1), std::size_t(3), std::size_t(7)}) {  // tails through the buffer
    Vec v(xs.begin(), xs.begin() + n);
    detail::tanh_and_hidden<double>(v.data(), nullptr, Eigen::Index(n), v.data());
    double worst = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const double r = std::tanh(xs[k]);
      worst = std::max(worst, r == 0 ? std::fabs(v[k]) : std::fabs(v[k] - r) / std::fabs(r));
    }
    CHECKF(worst <= 4 * 2.220446049250313e-16, "tanh relative error %g (n=%zu)", worst, n);
  }
  const Vec odd = {std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  Vec v = odd;
  detail::tanh_and_hidden<double>(v.data(), nullptr, 3, v.data());
  CHECKF(std::isnan(v[0]) && v[1] == 1.0 && v[2] == -1.0, "tanh(nan, inf, -inf) = %g %g %g", v[0], v[1], v[2]);
}

// detail::sigmoid_packet(double) against 1 / (1 + exp(-x)) in long double: relative error where the
// result is normal, exact 0 and 1 at the ends, NaN kept
static void test_sigmoid() {
  using namespace Eigen::internal;
  using P = packet_traits<double>::type;
  constexpr int L = packet_traits<double>::size;
  std::mt19937_64 rng(6);
  Vec xs = {0.0, -0.0, 0.625, 36.0, 37.0, 40.0, 41.0, 1e300, -700.0, -708.0};
  for (int k = 0; k < 200000; ++k) xs.push_back(std::uniform_real_distribution<double>(-708.0, 40.0)(rng));
  for (int e = -30; e <= 4; ++e)
    for (int k = 0; k < 200; ++k)
      xs.push_back(std::ldexp(std::uniform_real_distribution<double>(0.5, 1.0)(rng), e) * (k % 2 ? -1 : 1));
  double worst = 0;
  for (std::size_t k = 0; k + L <= xs.size(); k += L) {
    double out[L];
    pstoreu(out, detail::sigmoid_packet(ploadu<P>(&xs[k])));
    for (int l = 0; l < L; ++l) {
      const long double r = 1.0L / (1.0L + std::exp(-(long double)xs[k + l]));
      worst = std::max(worst, double(std::fabs((long double)out[l] - r) / r));
    }
  }
  CHECKF(worst <= 4 * 2.220446049250313e-16, "sigmoid relative error %g", worst);
  double ends[L] = {};
  // the four special inputs, padded with zeros to whole packets (a packet may hold 2, 4 or 8 doubles)
  std::vector<double> in = {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), -1e300,
                            std::nan("")};
  in.resize((in.size() + L - 1) / L * L, 0.0);
  for (std::size_t k = 0; k < 4; k += L) {
    pstoreu(ends, detail::sigmoid_packet(ploadu<P>(in.data() + k)));
    for (std::size_t l = 0; l < L && k + l < 4; ++l) {
      const double x = in[k + l];
      const bool ok = std::isnan(x) ? std::isnan(ends[l]) : ends[l] == (x > 0 ? 1.0 : 0.0);
      CHECKF(ok, "sigmoid(%g) = %g", x, ends[l]);
    }
  }
}

#ifdef EIGEN_RUNTIME_NO_MALLOC
static void test_nomalloc() {
  std::mt19937_64 rng(5);
  for (std::size_t N : {1, 9})
    for (std::size_t P : {0, 3}) {
    const std::size_t I = 5, H = 7, T = 20, R = P ? P : H;
    std::vector<Layer> layers = {Layer(rng, I, H, P), Layer(rng, R, H, P)};
    const Vec x = random_vec(rng, T * N * I), go = random_vec(rng, T * N * R);
    Vec out(T * N * R);
    LstmStackDims sd;
    sd.input_size = I;
    sd.hidden_size = H;
    sd.num_layers = 2;
    sd.peepholes = true;
    sd.proj_size = P;
    LstmStream<double> s(sd, {layers[0].params(true, true), layers[1].params(true, true)}, N);
    s.step(x.data(), out.data(), 1);  // aborts the process on any allocation in a step
    s.run(x.data(), T, out.data(), 1);
    LstmLayerDims d;
    d.input_size = I;
    d.hidden_size = H;
    d.peepholes = true;
    d.proj_size = P;
    Grads g(I, H, P);
    LstmOnline<double> online(d, layers[0].params(true, true), g.view(), N);
    online.step(x.data(), out.data(), 1);
    online.accumulate(go.data(), 1);
    online.run(x.data(), go.data(), T, out.data(), 1);
    CHECKF(Eigen::internal::is_malloc_allowed(), "a step left allocation forbidden");
  }
}
#endif

int main(int argc, char** argv) {
  return run_test_groups(argc, argv, {
#ifdef EIGEN_RUNTIME_NO_MALLOC
                                         {"nomalloc", test_nomalloc},
#endif
                                         {"stream", test_stream},
                                         {"online", test_online},
                                         {"tanh", test_tanh},
                                         {"sigmoid", test_sigmoid},
                                     });
}
