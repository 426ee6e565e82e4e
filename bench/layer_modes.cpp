// lstmcore_bench modes `fwd` and `fwdbwd`: the torch-style batched layer (lstm_layer.cpp).
//
//   lstmcore_bench fwd|fwdbwd [--I 64] [--H 128] [--N 32] [--T 100] [--threads 2] [--dtype f32|f64]
//                             [--repeats 15] [--truncated]
//
// Before timing, the fast kernel is checked against the naive loop kernel (naive_layer.hpp) on the
// same shapes (T cut to at most 20 steps, N to at most 8 sequences, to keep the naive kernel quick)
// and with the gradient that is timed (exact, or truncated with --truncated):
// outputs, grad_x and every weight gradient, relative error <= 1e-10 in f64 and 1e-4 in f32; the
// benchmark aborts otherwise. Reported: median wall time per call over the repeats (one warm-up),
// GFLOP/s of the GEMM work (2 * T * N * 4H * (I + H) forward, three times that with backward).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>  // SimdInstructionSetsInUse

#include "lstmcore/lstm_layer.hpp"
#include "lstmcore/naive_layer.hpp"

namespace {

using namespace lstmcore;
using Clock = std::chrono::steady_clock;

struct LayerArgs {
  long I = 64, H = 128, N = 32, T = 100, threads = 2, repeats = 15;
  std::string dtype = "f32";
  bool truncated = false;
};

template <typename Scalar>
struct LayerData {
  LstmLayerDims dims;
  std::vector<Scalar> W_ih, W_hh, b_ih, b_hh;
  LstmLayerParams<Scalar> params() const {
    LstmLayerParams<Scalar> p;
    p.W_ih = W_ih.data(), p.W_hh = W_hh.data(), p.b_ih = b_ih.data(), p.b_hh = b_hh.data();
    return p;
  }
};

template <typename Scalar>
LayerData<Scalar> make_layer(long I, long H) {
  LayerData<Scalar> L;
  L.dims.input_size = std::size_t(I);
  L.dims.hidden_size = std::size_t(H);
  std::mt19937_64 rng(7);
  const double bound = 1.0 / std::sqrt(double(H));
  std::uniform_real_distribution<double> u(-bound, bound);
  auto fill = [&](std::vector<Scalar>& v, std::size_t n) {
    v.resize(n);
    for (auto& e : v) e = Scalar(u(rng));
  };
  fill(L.W_ih, std::size_t(4 * H * I));
  fill(L.W_hh, std::size_t(4 * H * H));
  fill(L.b_ih, std::size_t(4 * H));
  fill(L.b_hh, std::size_t(4 * H));
  return L;
}

template <typename Scalar>
std::vector<Scalar> randn(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d;
  std::vector<Scalar> v(n);
  for (auto& e : v) e = Scalar(d(rng));
  return v;
}

double rel_err(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 1e-30;
  for (std::size_t k = 0; k < a.size(); ++k) {
    num = std::max(num, std::fabs(a[k] - b[k]));
    den = std::max(den, std::fabs(b[k]));
  }
  return num / den;
}

template <typename Scalar>
std::vector<double> as_double(const Scalar* p, std::size_t n) {
  return std::vector<double>(p, p + n);
}

// Fast vs naive on the benchmark's layer, in the benchmark's dtype, with the gradient the benchmark
// times (exact or truncated). Returns the worst relative error.
template <typename Scalar>
double verify_layer(const LayerData<Scalar>& L, long T_full, long N_full, bool truncated, int threads) {
  const std::size_t T = std::size_t(std::min<long>(T_full, 20)), N = std::size_t(std::min<long>(N_full, 8));
  const std::size_t I = L.dims.input_size, H = L.dims.hidden_size, G = 4 * H;
  const auto x = randn<Scalar>(T * N * I, 11), gout = randn<Scalar>(T * N * H, 12);
  const auto p = L.params();
  std::vector<Scalar> out(T * N * H), hn(N * H), cn(N * H), out_ref(T * N * H);
  LstmLayer<Scalar> layer(L.dims);
  LstmForwardArgs<Scalar> fa;
  fa.x = x.data(), fa.steps = T, fa.batch = N, fa.out = out.data(), fa.h_n = hn.data(), fa.c_n = cn.data();
  layer.forward(p, fa, threads);
  NaiveLayerTape<Scalar> tape;
  naive_layer_forward<Scalar>(L.dims, p, x.data(), T, N, nullptr, nullptr, nullptr, out_ref.data(), nullptr, nullptr,
                              tape);
  std::vector<Scalar> gx(T * N * I), gh0(N * H), gc0(N * H), gx_ref(T * N * I);
  std::vector<Scalar> gW_ih(G * I), gW_hh(G * H), gb_ih(G), gb_hh(G), rW_ih(G * I), rW_hh(G * H), rb_ih(G), rb_hh(G);
  LstmLayerGrads<Scalar> g, r;
  g.W_ih = gW_ih.data(), g.W_hh = gW_hh.data(), g.b_ih = gb_ih.data(), g.b_hh = gb_hh.data();
  r.W_ih = rW_ih.data(), r.W_hh = rW_hh.data(), r.b_ih = rb_ih.data(), r.b_hh = rb_hh.data();
  LstmBackwardArgs<Scalar> ba;
  ba.grad_out = gout.data(), ba.truncated = truncated;
  ba.grad_x = gx.data(), ba.grad_h0 = gh0.data(), ba.grad_c0 = gc0.data();
  layer.backward(p, ba, g, threads);
  naive_layer_backward<Scalar>(L.dims, p, x.data(), T, N, tape, gout.data(), nullptr, nullptr, truncated,
                               gx_ref.data(), nullptr, nullptr, r);
  double worst = rel_err(as_double(out.data(), out.size()), as_double(out_ref.data(), out.size()));
  worst = std::max(worst, rel_err(as_double(gx.data(), gx.size()), as_double(gx_ref.data(), gx.size())));
  worst = std::max(worst, rel_err(as_double(g.W_ih, G * I), as_double(r.W_ih, G * I)));
  worst = std::max(worst, rel_err(as_double(g.W_hh, G * H), as_double(r.W_hh, G * H)));
  worst = std::max(worst, rel_err(as_double(g.b_ih, G), as_double(r.b_ih, G)));
  return worst;
}

template <typename Scalar>
int run(const LayerArgs& a, bool backward) {
  const LayerData<Scalar> L = make_layer<Scalar>(a.I, a.H);
  const double tol = sizeof(Scalar) == 8 ? 1e-10 : 1e-4;
  const double err = verify_layer(L, a.T, a.N, a.truncated, int(a.threads));
  if (!(err <= tol)) {
    std::fprintf(stderr, "lstmcore_bench: ABORT: fast and naive layer kernels differ by %.3g (> %.0e)\n", err, tol);
    return 1;
  }
  const std::size_t T = std::size_t(a.T), N = std::size_t(a.N), I = std::size_t(a.I), H = std::size_t(a.H);
  const std::size_t G = 4 * H;
  const auto x = randn<Scalar>(T * N * I, 1), gout = randn<Scalar>(T * N * H, 2);
  std::vector<Scalar> out(T * N * H), hn(N * H), cn(N * H), gx(T * N * I), gh0(N * H), gc0(N * H);
  std::vector<Scalar> gW_ih(G * I), gW_hh(G * H), gb_ih(G), gb_hh(G);
  LstmLayerGrads<Scalar> g;
  g.W_ih = gW_ih.data(), g.W_hh = gW_hh.data(), g.b_ih = gb_ih.data(), g.b_hh = gb_hh.data();
  const auto p = L.params();
  LstmLayer<Scalar> layer(L.dims);
  LstmForwardArgs<Scalar> fa;
  fa.x = x.data(), fa.steps = T, fa.batch = N, fa.out = out.data(), fa.h_n = hn.data(), fa.c_n = cn.data();
  LstmBackwardArgs<Scalar> ba;
  ba.grad_out = gout.data(), ba.truncated = a.truncated;
  ba.grad_x = gx.data(), ba.grad_h0 = gh0.data(), ba.grad_c0 = gc0.data();
  std::vector<double> times, cpu_times;
  for (long rep = -1; rep < a.repeats; ++rep) {
    const std::clock_t c0 = std::clock();
    const auto t0 = Clock::now();
    layer.forward(p, fa, int(a.threads));
    if (backward) layer.backward(p, ba, g, int(a.threads));
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const double cpu_ms = double(std::clock() - c0) * 1e3 / CLOCKS_PER_SEC;
    if (rep >= 0) times.push_back(ms), cpu_times.push_back(cpu_ms);
  }
  std::sort(cpu_times.begin(), cpu_times.end());
  std::sort(times.begin(), times.end());
  const double med = times[times.size() / 2];
  const double flops = 2.0 * double(T * N * G * (I + H)) * (backward ? 3.0 : 1.0);
  std::printf("  GEMM micro-kernel: %s; Eigen SIMD (pointwise): %s\n", lstm_layer_gemm_kernel(),
              Eigen::SimdInstructionSetsInUse());
  std::printf("lstmcore_bench %s: I%zu H%zu N%zu T%zu %s threads %ld%s: median %.3f ms (min %.3f, max %.3f) over %ld "
              "repeats, %.1f GFLOP/s of GEMM work, %.3f us/step; process CPU time median %.3f ms; verify err vs naive %.1e\n",
              backward ? "fwdbwd" : "fwd", I, H, N, T, a.dtype.c_str(), a.threads,
              backward && a.truncated ? " truncated" : "", med, times.front(), times.back(), a.repeats,
              flops / med * 1e-6, med * 1e3 / double(T), cpu_times[cpu_times.size() / 2], err);
  return 0;
}

bool parse_long(const char* s, long lo, long hi, long& out) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (!end || *end || end == s || v < lo || v > hi) return false;
  out = v;
  return true;
}

}  // namespace

int run_layer_mode(const std::string& mode, int argc, char** argv) {
  LayerArgs a;
  for (int i = 0; i < argc; ++i) {
    const std::string o = argv[i];
    if (o == "--truncated") {
      a.truncated = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "lstmcore_bench: %s needs a value\n", o.c_str());
      return 2;
    }
    const char* v = argv[++i];
    bool ok = true;
    if (o == "--I") ok = parse_long(v, 1, 1 << 16, a.I);
    else if (o == "--H") ok = parse_long(v, 1, 1 << 16, a.H);
    else if (o == "--N") ok = parse_long(v, 1, 1 << 20, a.N);
    else if (o == "--T") ok = parse_long(v, 1, 1 << 24, a.T);
    else if (o == "--threads") ok = parse_long(v, 1, 1024, a.threads);
    else if (o == "--repeats") ok = parse_long(v, 1, 100000, a.repeats);
    else if (o == "--dtype") ok = (a.dtype = v) == "f32" || a.dtype == "f64";
    else {
      std::fprintf(stderr, "lstmcore_bench: unknown option '%s'\n", o.c_str());
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "lstmcore_bench: %s: bad value '%s'\n", o.c_str(), v);
      return 2;
    }
  }
  const bool bwd = mode == "fwdbwd";
  return a.dtype == "f64" ? run<double>(a, bwd) : run<float>(a, bwd);
}
