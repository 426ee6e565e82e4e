// Unit tests of the C++ core: the fast engine (lstm1997.cpp) against the naive reference kernel
// (naive1997.hpp), finite differences, its own two truncated-gradient methods, float against double,
// the published weight counts, configuration validation and (in the build with
// EIGEN_RUNTIME_NO_MALLOC) the absence of heap allocation inside the time loops.
//
// No test framework: CHECK macros (test_support.hpp) count failures; the exit code is non-zero if any failed.
// Usage: test_lstm1997 [group ...]   (no argument: every group of this build). ctest runs one
// group per test so that `ctest -j` spreads them over the cores. LSTMCORE_TEST_SEED=n draws other
// random cases (default 0).
//
// Groups:
//   naive         (a) fast == naive kernel: forward, train_sequence (step and sequence) in double
//                     to 1e-12, on 200 random configurations covering every option (a trajectory
//                     that itself amplifies a 1e-15 weight perturbation gets 100x that amplification)
//   finite_diff   (b) the full (BPTT) gradient == central finite differences of the loss;
//                     train_sequence_full == one step with it
//   rtrl_bptt     (c) truncated gradient by RTRL == by truncated BPTT == naive RTRL to 1e-12
//   float_double  (d) float engine == double engine (and float naive) to float precision, 2e-5
//                     relative (or 1000x the result's own amplification of a 6e-8 perturbation)
//   weight_counts (e) the paper's published weight counts (docs/ENGINE.md, "Weight counts")
//   invalid       (f) impossible configurations throw std::invalid_argument
//   determinism       results do not depend on buffer addresses (bit for bit)
//   nomalloc      (g) only with EIGEN_RUNTIME_NO_MALLOC: no heap allocation inside any time loop
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "lstmcore/lstm1997.hpp"
#include "lstmcore/naive1997.hpp"
#include "test_support.hpp"

#ifdef EIGEN_RUNTIME_NO_MALLOC
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <new>
#endif

using namespace lstmcore;

// ---------------------------------------------------------------------------------------------
// Helpers.

static const char* name_of(Squash s) {
  switch (s) {
    case Squash::Logistic: return "logistic";
    case Squash::G2: return "g2";
    case Squash::H1: return "h1";
    case Squash::Tanh: return "tanh";
    case Squash::Identity: return "identity";
  }
  return "?";
}
static const char* name_of(Recurrence r) {
  switch (r) {
    case Recurrence::CellsAndGates: return "cells+gates";
    case Recurrence::Cells: return "cells";
    case Recurrence::None: return "none";
  }
  return "?";
}

static std::string describe(const Lstm1997Config& c) {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "(%zu,%zu,%zu,%zu rec=%s sc=%d bias[g=%d c=%d o=%d] og=%d fg=%d peep=%d g=%s h=%s out=%s)",
                c.n_in, c.n_out, c.blocks, c.cells_per_block, name_of(c.recurrent), int(c.shortcut),
                int(c.bias_gates), int(c.bias_cells), int(c.bias_outputs), int(c.output_gate),
                int(c.forget_gate), int(c.peepholes), name_of(c.g), name_of(c.h), name_of(c.out));
  return buf;
}

using Rng = std::mt19937_64;

// Every group draws from a fixed seed; LSTMCORE_TEST_SEED=n shifts them all (to explore more cases).
static std::uint64_t g_seed_offset = 0;
static std::uint64_t seed(std::uint64_t base) { return base + 1000003 * g_seed_offset; }

static double uniform(Rng& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}
static std::size_t pick(Rng& rng, std::size_t n) {
  return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
}

// A random valid configuration; every option is drawn (coverage is checked by the callers).
static Lstm1997Config random_config(Rng& rng) {
  static const Recurrence recs[] = {Recurrence::CellsAndGates, Recurrence::Cells, Recurrence::None};
  // g and h may be any squash (config.cpp); the paper's are g2 and h1.
  static const Squash gs[] = {Squash::G2, Squash::Logistic, Squash::Tanh, Squash::Identity, Squash::H1};
  static const Squash hs[] = {Squash::H1, Squash::Tanh, Squash::Identity, Squash::G2, Squash::Logistic};
  static const Squash outs[] = {Squash::Logistic, Squash::Identity};
  Lstm1997Config c;
  c.n_in = 1 + pick(rng, 4);
  c.n_out = 1 + pick(rng, 3);
  c.blocks = 1 + pick(rng, 3);
  c.cells_per_block = 1 + pick(rng, 3);
  c.recurrent = recs[pick(rng, 3)];
  c.shortcut = pick(rng, 2);
  c.bias_gates = pick(rng, 2);
  c.bias_cells = pick(rng, 2);
  c.bias_outputs = pick(rng, 2);
  c.output_gate = pick(rng, 2);
  c.forget_gate = pick(rng, 2);
  c.peepholes = pick(rng, 2);
  c.g = gs[pick(rng, 5)];
  c.h = hs[pick(rng, 5)];
  c.out = outs[pick(rng, 2)];
  return c;
}

// Counts, per option value, how many configurations had it; every value must occur.
struct Coverage {
  std::map<std::string, int> seen;
  void add(const Lstm1997Config& c) {
    seen[std::string("rec=") + name_of(c.recurrent)]++;
    seen["shortcut=" + std::to_string(c.shortcut)]++;
    seen["bias_gates=" + std::to_string(c.bias_gates)]++;
    seen["bias_cells=" + std::to_string(c.bias_cells)]++;
    seen["bias_outputs=" + std::to_string(c.bias_outputs)]++;
    seen["output_gate=" + std::to_string(c.output_gate)]++;
    seen["forget_gate=" + std::to_string(c.forget_gate)]++;
    seen["peepholes=" + std::to_string(c.peepholes)]++;
    seen[std::string("g=") + name_of(c.g)]++;
    seen[std::string("h=") + name_of(c.h)]++;
    seen[std::string("out=") + name_of(c.out)]++;
    seen["S=" + std::to_string(c.cells_per_block)]++;
    seen["B=" + std::to_string(c.blocks)]++;
    if (c.peepholes && c.forget_gate && c.output_gate) seen["peep+og+fg"]++;
  }
  void check(const char* group) const {
    static const char* need[] = {
        "rec=cells+gates", "rec=cells", "rec=none", "shortcut=0", "shortcut=1", "bias_gates=0",
        "bias_gates=1", "bias_cells=0", "bias_cells=1", "bias_outputs=0", "bias_outputs=1",
        "output_gate=0", "output_gate=1", "forget_gate=0", "forget_gate=1", "peepholes=0",
        "peepholes=1", "g=g2", "g=logistic", "g=tanh", "g=identity", "g=h1", "h=h1", "h=tanh",
        "h=identity", "h=g2", "h=logistic", "out=logistic", "out=identity", "S=1", "S=2", "S=3", "B=1", "B=2", "B=3",
        "peep+og+fg"};
    for (const char* n : need) {
      auto it = seen.find(n);
      CHECKF(it != seen.end() && it->second > 0, "[%s] option value %s never drawn", group, n);
    }
  }
};

// Random parameters: every real parameter uniform in [-scale, scale], structural zeros 0.
static std::vector<double> random_params(const Lstm1997Config& cfg, Rng& rng, double scale) {
  const ParamLayout L(cfg);
  std::vector<double> p(L.total, 0.0);
  for (std::size_t i = 0; i < L.total; ++i)
    if (L.present[i]) p[i] = uniform(rng, -scale, scale);
  return p;
}

struct Data {
  std::size_t T;
  std::vector<double> x, target;
  std::vector<std::uint8_t> mask;
};

// Inputs in [-1, 1]; targets in [0, 1] (logistic outputs) or [-1, 1] (linear); mask ~70% on,
// with at least one step on.
static Data random_data(const Lstm1997Config& cfg, std::size_t T, Rng& rng) {
  Data d;
  d.T = T;
  d.x.resize(T * cfg.n_in);
  d.target.resize(T * cfg.n_out);
  d.mask.resize(T);
  for (auto& v : d.x) v = uniform(rng, -1, 1);
  for (auto& v : d.target) v = cfg.out == Squash::Logistic ? uniform(rng, 0, 1) : uniform(rng, -1, 1);
  for (auto& m : d.mask) m = uniform(rng, 0, 1) < 0.7;
  d.mask[pick(rng, T)] = 1;
  return d;
}

template <typename To, typename From>
static std::vector<To> cast(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

// max |a - b| / max(1, max |a|, max |b|): an error relative to the scale of the arrays.
template <typename A, typename B>
static double rel_err(const A* a, const B* b, std::size_t n) {
  double num = 0, den = 1;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = double(a[i]), y = double(b[i]);
    if (!(std::fabs(x - y) <= num)) num = std::fabs(x - y);  // NaN propagates to num
    den = std::max(den, std::max(std::fabs(x), std::fabs(y)));
  }
  return num / den;
}
template <typename A, typename B>
static double rel_err(const std::vector<A>& a, const std::vector<B>& b) {
  if (a.size() != b.size()) return INFINITY;
  return rel_err(a.data(), b.data(), a.size());
}
static double rel_err(double a, double b) { return std::fabs(a - b) / std::max(1.0, std::max(std::fabs(a), std::fabs(b))); }

// Structural zeros of a parameter or gradient buffer must be exactly 0 (and not -0 either
// would be fine; only the value is checked).
template <typename Scalar>
static bool structural_zeros_ok(const ParamLayout& L, const Scalar* p) {
  for (std::size_t i = 0; i < L.total; ++i)
    if (!L.present[i] && p[i] != Scalar(0)) return false;
  return true;
}

template <typename Scalar>
static void set_params(Lstm1997<Scalar>& net, const std::vector<double>& p) {
  for (std::size_t i = 0; i < p.size(); ++i) net.params()[i] = Scalar(p[i]);
}
template <typename Scalar>
static std::vector<Scalar> get_params(const Lstm1997<Scalar>& net) {
  return std::vector<Scalar>(net.params(), net.params() + net.layout().total);
}

static Lstm1997Config make(std::size_t n_in, std::size_t n_out, std::size_t blocks, std::size_t S) {
  Lstm1997Config c;
  c.n_in = n_in;
  c.n_out = n_out;
  c.blocks = blocks;
  c.cells_per_block = S;
  return c;
}
static void set_bias(Lstm1997Config& c, bool gates, bool cells, bool outputs) {
  c.bias_gates = gates;
  c.bias_cells = cells;
  c.bias_outputs = outputs;
}

// A learning rate at which two online passes (naive kernel, double) stay tame: the weights move
// by at most 0.5 and the losses stay finite. Online steps on unbounded units (identity squashers,
// linear outputs) diverge at large rates, and a diverging trajectory amplifies rounding without
// bound, so comparisons of trajectories need a tame rate. Starts at lr0 and halves it.
static double tame_lr(const Lstm1997Config& cfg, const std::vector<double>& p0, const Data& data, bool per_step,
                      double lr0) {
  double lr = lr0;
  for (int k = 0; k < 40; ++k, lr *= 0.5) {
    std::vector<double> p = p0;
    bool ok = true;
    for (int pass = 0; pass < 2 && ok; ++pass) {
      const double l = naive_train_sequence(cfg, p.data(), data.x.data(), data.target.data(),
                                            pass == 0 ? data.mask.data() : nullptr, data.T, lr, per_step);
      ok = std::isfinite(l);
    }
    for (std::size_t i = 0; i < p.size() && ok; ++i) ok = std::fabs(p[i] - p0[i]) <= 0.5;
    if (ok) return lr;
  }
  return 0;
}

// Random parameters at which the forward pass stays finite and O(1e3): with identity squashers and
// no output gate the recurrent loop can grow exponentially over T steps; the scale shrinks then.
static std::vector<double> tame_params(const Lstm1997Config& cfg, const Data& data, Rng& rng, double scale) {
  std::vector<double> p;
  for (int k = 0; k < 30; ++k, scale *= 0.7) {
    p = random_params(cfg, rng, scale);
    const double l = naive_loss(cfg, p.data(), data.x.data(), data.target.data(), data.mask.data(), data.T);
    if (std::isfinite(l) && l < 1e6) break;
  }
  return p;
}

// How much an online-training trajectory amplifies rounding: two naive (double) runs of
// two passes, from p0 and from p0 with every weight perturbed by a relative `delta`; returns the
// relative difference of the final weights and of the losses. Two implementations that differ only
// by rounding (fast vs naive; float vs double) can disagree by about this much times
// (their per-operation rounding difference / delta).
static double trajectory_sensitivity(const Lstm1997Config& cfg, const std::vector<double>& p0, const Data& data,
                                     bool per_step, double lr, double delta) {
  Rng rng(12345);
  std::vector<double> pa = p0, pb = p0;
  for (auto& v : pb) v *= 1 + delta * uniform(rng, -1, 1);
  double el = 0;
  for (int pass = 0; pass < 2; ++pass) {
    const std::uint8_t* mask = pass == 0 ? data.mask.data() : nullptr;
    const double la = naive_train_sequence(cfg, pa.data(), data.x.data(), data.target.data(), mask, data.T, lr, per_step);
    const double lb = naive_train_sequence(cfg, pb.data(), data.x.data(), data.target.data(), mask, data.T, lr, per_step);
    el = std::max(el, rel_err(la, lb));
  }
  return std::max(el, rel_err(pa, pb));
}

// ---------------------------------------------------------------------------------------------
// (a) fast engine == naive kernel.

static void test_naive() {
  Rng rng(seed(20240601));
  Coverage cov;
  double worst_fwd = 0, worst_step = 0, worst_seq = 0, worst_loss = 0, lr_min = INFINITY, lr_max = 0;
  int n_sensitive = 0;
  const int n_configs = 200;
  for (int i = 0; i < n_configs; ++i) {
    const Lstm1997Config cfg = random_config(rng);
    cov.add(cfg);
    const std::string d = describe(cfg);
    const std::size_t T = 1 + pick(rng, 40);
    const Data data = random_data(cfg, T, rng);
    const std::vector<double> p0 = tame_params(cfg, data, rng, 0.5);
    Lstm1997<double> net(cfg);
    const ParamLayout& L = net.layout();
    CHECKF(L.total == p0.size(), "%s layout size", d.c_str());

    // forward
    set_params(net, p0);
    std::vector<double> y_fast(T * cfg.n_out), y_naive(T * cfg.n_out);
    net.forward(data.x.data(), T, y_fast.data());
    naive_forward(cfg, p0.data(), data.x.data(), T, y_naive.data());
    const double ef = rel_err(y_fast, y_naive);
    worst_fwd = std::max(worst_fwd, ef);
    CHECKF(ef <= 1e-12, "%s T=%zu forward: rel err %.3g", d.c_str(), T, ef);

    // train_sequence, both schedules, twice in a row (the second pass starts from the zero state
    // again, with the weights of the first), with a mask and without one.
    for (int per_step = 0; per_step < 2; ++per_step) {
      const double lr = tame_lr(cfg, p0, data, per_step == 1, uniform(rng, 0.05, 0.5));
      CHECKF(lr > 0, "%s test data: no tame learning rate", d.c_str());
      lr_min = std::min(lr_min, lr);
      lr_max = std::max(lr_max, lr);
      // Tolerance 1e-12, unless the trajectory itself amplifies rounding (a perturbation of the
      // weights by 1e-15 grows beyond 1e-14 by the end): then 100 times that amplification.
      const double sens = trajectory_sensitivity(cfg, p0, data, per_step == 1, lr, 1e-15);
      const double tol = std::max(1e-12, 100 * sens);
      if (tol > 1e-12) ++n_sensitive;
      const UpdateSchedule sched = per_step ? UpdateSchedule::Step : UpdateSchedule::Sequence;
      set_params(net, p0);
      std::vector<double> p_naive = p0;
      for (int pass = 0; pass < 2; ++pass) {
        const std::uint8_t* mask = pass == 0 ? data.mask.data() : nullptr;
        const double l_fast = net.train_sequence(data.x.data(), data.target.data(), mask, T, lr, sched);
        const double l_naive = naive_train_sequence(cfg, p_naive.data(), data.x.data(), data.target.data(),
                                                    mask, T, lr, per_step == 1);
        const double el = rel_err(l_fast, l_naive);
        worst_loss = std::max(worst_loss, el);
        CHECKF(el <= tol, "%s T=%zu train(%s) pass %d: loss %.17g vs naive %.17g (tol %.2g)", d.c_str(), T,
               per_step ? "step" : "sequence", pass, l_fast, l_naive, tol);
        const std::vector<double> p_fast = get_params(net);
        const double ep = rel_err(p_fast, p_naive);
        (per_step ? worst_step : worst_seq) = std::max(per_step ? worst_step : worst_seq, ep);
        CHECKF(ep <= tol, "%s T=%zu train(%s) pass %d: params rel err %.3g (tol %.2g)", d.c_str(), T,
               per_step ? "step" : "sequence", pass, ep, tol);
        CHECKF(structural_zeros_ok(L, p_fast.data()), "%s fast engine wrote a structural zero", d.c_str());
        CHECKF(structural_zeros_ok(L, p_naive.data()), "%s naive kernel wrote a structural zero", d.c_str());
      }
    }

    // train_sequence with lr = 0 leaves the weights unchanged and returns the loss of forward.
    set_params(net, p0);
    const double l0 = net.train_sequence(data.x.data(), data.target.data(), data.mask.data(), T, 0.0,
                                         UpdateSchedule::Step);
    const double l_ref = naive_loss(cfg, p0.data(), data.x.data(), data.target.data(), data.mask.data(), T);
    CHECKF(rel_err(l0, l_ref) <= 1e-12, "%s lr=0 loss %.17g vs naive_loss %.17g", d.c_str(), l0, l_ref);
    CHECKF(std::equal(p0.begin(), p0.end(), net.params()), "%s lr=0 changed the weights", d.c_str());
  }
  cov.check("naive");
  std::printf("  naive: %d configs; worst rel err forward %.2e, train step %.2e, train sequence %.2e, loss %.2e "
              "(lr in [%.2g, %.2g]; %d of %d trajectories amplify rounding and got a looser tolerance)\n",
              n_configs, worst_fwd, worst_step, worst_seq, worst_loss, lr_min, lr_max, n_sensitive, 2 * n_configs);
}

// ---------------------------------------------------------------------------------------------
// (b) full gradient == central finite differences (double).

static void test_finite_diff() {
  Rng rng(seed(777));
  Coverage cov;
  double worst = 0, worst_trunc_equal = 0, worst_full_step = 0;
  int n_trunc_equal = 0, n_differ = 0, n_recurrent = 0;
  const int n_configs = 100;
  for (int i = 0; i < n_configs; ++i) {
    const Lstm1997Config cfg = random_config(rng);
    cov.add(cfg);
    const std::string d = describe(cfg);
    const std::size_t T = 4 + pick(rng, 12);
    const Data data = random_data(cfg, T, rng);
    const std::vector<double> p0 = random_params(cfg, rng, 0.6);
    Lstm1997<double> net(cfg);
    const ParamLayout& L = net.layout();
    set_params(net, p0);
    std::vector<double> g_full(L.total), g_trunc(L.total);
    const double l_full = net.gradient(data.x.data(), data.target.data(), data.mask.data(), T,
                                       GradientMode::Full, g_full.data());
    net.gradient(data.x.data(), data.target.data(), data.mask.data(), T, GradientMode::TruncatedBptt,
                 g_trunc.data());
    const double l_ref = naive_loss(cfg, p0.data(), data.x.data(), data.target.data(), data.mask.data(), T);
    CHECKF(rel_err(l_full, l_ref) <= 1e-12, "%s full-mode loss %.17g vs naive %.17g", d.c_str(), l_full, l_ref);
    CHECKF(structural_zeros_ok(L, g_full.data()), "%s full gradient nonzero at a structural zero", d.c_str());

    // central differences D(h) = (L(w+h) - L(w-h)) / 2h with Richardson extrapolation
    // (4 D(h/2) - D(h)) / 3: truncation O(h^4), rounding ~ 1e-16 L / h; h = 1e-4.
    std::vector<double> p = p0, fd(L.total, 0.0);
    auto central = [&](std::size_t k, double h) {
      p[k] = p0[k] + h;
      const double lp = naive_loss(cfg, p.data(), data.x.data(), data.target.data(), data.mask.data(), T);
      p[k] = p0[k] - h;
      const double lm = naive_loss(cfg, p.data(), data.x.data(), data.target.data(), data.mask.data(), T);
      p[k] = p0[k];
      return (lp - lm) / (2 * h);
    };
    for (std::size_t k = 0; k < L.total; ++k) {
      if (!L.present[k]) continue;
      const double h = 1e-4;
      fd[k] = (4 * central(k, h / 2) - central(k, h)) / 3;
    }
    const double e = rel_err(g_full, fd);
    worst = std::max(worst, e);
    CHECKF(e <= 1e-7, "%s T=%zu full gradient vs finite differences: rel err %.3g", d.c_str(), T, e);

    // train_sequence_full: one step w -= lr * (full gradient); returns the loss before the step
    {
      const double lr = 0.25;
      const double ls = net.train_sequence_full(data.x.data(), data.target.data(), data.mask.data(), T, lr);
      std::vector<double> expect(L.total);
      for (std::size_t k = 0; k < L.total; ++k) expect[k] = p0[k] - lr * g_full[k];
      const double es = rel_err(get_params(net), expect);
      worst_full_step = std::max(worst_full_step, es);
      // (1e-15, not bitwise: see the determinism group)
      CHECKF(es <= 1e-15 && ls == l_full, "%s train_sequence_full != w - lr grad_full: %.3g, loss %.17g vs %.17g",
             d.c_str(), es, ls, l_full);
      CHECKF(structural_zeros_ok(L, net.params()), "%s train_sequence_full wrote a structural zero", d.c_str());
      set_params(net, p0);
    }

    // Without recurrent connections and peepholes, the truncation cuts nothing: the carousel is
    // the only path through time, so the truncated gradient is exact.
    const double et = rel_err(g_trunc, g_full);
    if (cfg.recurrent == Recurrence::None && !cfg.peepholes) {
      ++n_trunc_equal;
      worst_trunc_equal = std::max(worst_trunc_equal, et);
      CHECKF(et <= 1e-12, "%s truncated != full without recurrence/peepholes: %.3g", d.c_str(), et);
    } else if (cfg.recurrent != Recurrence::None && T > 1) {
      ++n_recurrent;
      if (et > 1e-6) ++n_differ;
    }
  }
  cov.check("finite_diff");
  // With recurrent connections the truncation must actually cut something (almost always).
  CHECKF(n_differ * 10 >= n_recurrent * 8, "truncated == full in %d of %d recurrent configs",
         n_recurrent - n_differ, n_recurrent);
  CHECKF(n_trunc_equal >= 1, "no config without recurrence and peepholes drawn");
  std::printf("  finite_diff: %d configs; worst rel err full vs FD %.2e; truncated == full (no recurrence, "
              "no peepholes) in %d configs to %.2e; truncated != full in %d/%d recurrent configs; "
              "train_sequence_full vs w - lr grad %.2e\n",
              n_configs, worst, n_trunc_equal, worst_trunc_equal, n_differ, n_recurrent, worst_full_step);
}

// ---------------------------------------------------------------------------------------------
// (c) truncated gradient: RTRL == truncated BPTT == naive RTRL, and train_sequence("sequence")
//     == one gradient step with it.

static void test_rtrl_bptt() {
  Rng rng(seed(4242));
  Coverage cov;
  double worst_rb = 0, worst_naive = 0, worst_train = 0;
  const int n_configs = 200;
  for (int i = 0; i < n_configs; ++i) {
    const Lstm1997Config cfg = random_config(rng);
    cov.add(cfg);
    const std::string d = describe(cfg);
    const std::size_t T = 1 + pick(rng, 30);
    const Data data = random_data(cfg, T, rng);
    const std::vector<double> p0 = random_params(cfg, rng, 0.5);
    Lstm1997<double> net(cfg);
    const ParamLayout& L = net.layout();
    set_params(net, p0);
    std::vector<double> g_rtrl(L.total, 99.0), g_bptt(L.total, 99.0), g_naive(L.total, 99.0);
    const double l_rtrl = net.gradient(data.x.data(), data.target.data(), data.mask.data(), T,
                                       GradientMode::TruncatedRtrl, g_rtrl.data());
    const double l_bptt = net.gradient(data.x.data(), data.target.data(), data.mask.data(), T,
                                       GradientMode::TruncatedBptt, g_bptt.data());
    const double l_naive = naive_gradient_rtrl(cfg, p0.data(), data.x.data(), data.target.data(),
                                               data.mask.data(), T, g_naive.data());
    CHECKF(rel_err(l_rtrl, l_bptt) <= 1e-12 && rel_err(l_rtrl, l_naive) <= 1e-12,
           "%s losses rtrl %.17g bptt %.17g naive %.17g", d.c_str(), l_rtrl, l_bptt, l_naive);
    const double e1 = rel_err(g_rtrl, g_bptt), e2 = rel_err(g_rtrl, g_naive);
    worst_rb = std::max(worst_rb, e1);
    worst_naive = std::max(worst_naive, e2);
    CHECKF(e1 <= 1e-12, "%s T=%zu RTRL vs truncated BPTT: rel err %.3g", d.c_str(), T, e1);
    CHECKF(e2 <= 1e-12, "%s T=%zu RTRL vs naive RTRL: rel err %.3g", d.c_str(), T, e2);
    CHECKF(structural_zeros_ok(L, g_rtrl.data()) && structural_zeros_ok(L, g_bptt.data()),
           "%s truncated gradient nonzero at a structural zero", d.c_str());
    CHECKF(std::equal(p0.begin(), p0.end(), net.params()), "%s gradient() changed the weights", d.c_str());

    // mask = nullptr is the all-ones mask, in every mode
    // (into the same buffer: see the determinism group for why)
    const std::vector<std::uint8_t> ones(T, 1);
    for (GradientMode mode : {GradientMode::Full, GradientMode::TruncatedBptt, GradientMode::TruncatedRtrl}) {
      std::vector<double> buf(L.total);
      const double la = net.gradient(data.x.data(), data.target.data(), nullptr, T, mode, buf.data());
      const std::vector<double> ga = buf;
      const double lb = net.gradient(data.x.data(), data.target.data(), ones.data(), T, mode, buf.data());
      CHECKF(la == lb && ga == buf, "%s mode %d: mask=nullptr differs from an all-ones mask", d.c_str(), int(mode));
    }

    // train_sequence(update="sequence") == w - lr * (RTRL gradient)
    const double lr = 0.3;
    const double lt = net.train_sequence(data.x.data(), data.target.data(), data.mask.data(), T, lr,
                                         UpdateSchedule::Sequence);
    std::vector<double> expect(L.total);
    for (std::size_t k = 0; k < L.total; ++k) expect[k] = p0[k] - lr * g_rtrl[k];
    const double e3 = rel_err(get_params(net), expect);
    worst_train = std::max(worst_train, e3);
    CHECKF(e3 <= 1e-14 && lt == l_rtrl, "%s train_sequence(sequence) != w - lr grad: %.3g", d.c_str(), e3);
  }
  cov.check("rtrl_bptt");
  std::printf("  rtrl_bptt: %d configs; worst rel err RTRL vs BPTT %.2e, vs naive RTRL %.2e, "
              "train(sequence) vs w - lr g %.2e\n", n_configs, worst_rb, worst_naive, worst_train);
}

// ---------------------------------------------------------------------------------------------
// (d) float == double to float precision.

static void test_float_double() {
  Rng rng(seed(31337));
  Coverage cov;
  // Float rounding (eps 6e-8) grows through T steps of recurrence and sums over sources;
  // 2e-5 relative to the arrays' scale is float precision for these short sequences.
  const double tol = 2e-5;
  double worst_fwd = 0, worst_grad = 0, worst_train = 0, worst_naive = 0, tol_max = tol;
  int n_sensitive = 0;
  const int n_configs = 200;
  for (int i = 0; i < n_configs; ++i) {
    const Lstm1997Config cfg = random_config(rng);
    cov.add(cfg);
    const std::string d = describe(cfg);
    const std::size_t T = 1 + pick(rng, 25);
    const Data data = random_data(cfg, T, rng);
    const std::vector<double> p0d = tame_params(cfg, data, rng, 0.5);
    // the same numbers in both precisions: round everything to float first
    const std::vector<float> p0f = cast<float>(p0d), xf = cast<float>(data.x), tf = cast<float>(data.target);
    const std::vector<double> p0 = cast<double>(p0f), x = cast<double>(xf), tg = cast<double>(tf);
    Lstm1997<double> nd(cfg);
    Lstm1997<float> nf(cfg);
    const std::size_t n = nd.layout().total;
    set_params(nd, p0);
    set_params(nf, p0);

    std::vector<double> yd(T * cfg.n_out);
    std::vector<float> yf(T * cfg.n_out), yfn(T * cfg.n_out);
    nd.forward(x.data(), T, yd.data());
    nf.forward(xf.data(), T, yf.data());
    naive_forward(cfg, p0f.data(), xf.data(), T, yfn.data());
    const double ef = rel_err(yf, yd), en = rel_err(yfn, yf);
    worst_fwd = std::max(worst_fwd, ef);
    worst_naive = std::max(worst_naive, en);
    CHECKF(ef <= tol, "%s forward float vs double %.3g", d.c_str(), ef);
    CHECKF(en <= tol, "%s forward float: naive vs fast %.3g", d.c_str(), en);

    for (GradientMode mode : {GradientMode::Full, GradientMode::TruncatedBptt, GradientMode::TruncatedRtrl}) {
      std::vector<double> gd(n), gp(n);
      std::vector<float> gf(n);
      const double ld = nd.gradient(x.data(), tg.data(), data.mask.data(), T, mode, gd.data());
      const double lf = nf.gradient(xf.data(), tf.data(), data.mask.data(), T, mode, gf.data());
      // float precision, or 1000 times the gradient's own amplification of a float-sized (6e-8)
      // perturbation of the weights (measured with the double engine): every float operation rounds,
      // not only the weights, hence the factor
      {
        Rng prng(777);
        std::vector<double> pp = p0;
        for (auto& v : pp) v *= 1 + 6e-8 * uniform(prng, -1, 1);
        set_params(nd, pp);
        nd.gradient(x.data(), tg.data(), data.mask.data(), T, mode, gp.data());
        set_params(nd, p0);
      }
      const double tol_g = std::max(tol, 1000 * rel_err(gp, gd));
      if (tol_g > 10 * tol) ++n_sensitive;
      tol_max = std::max(tol_max, tol_g);
      const double eg = rel_err(gf, gd);
      worst_grad = std::max(worst_grad, eg);
      CHECKF(eg <= tol_g && rel_err(lf, ld) <= tol_g, "%s gradient mode %d float vs double: grad %.3g loss %.3g (tol %.2g)",
             d.c_str(), int(mode), eg, rel_err(lf, ld), tol_g);
    }
    for (UpdateSchedule sched : {UpdateSchedule::Step, UpdateSchedule::Sequence}) {
      Data dr = data;
      dr.x = x;
      dr.target = tg;
      const float lr = float(tame_lr(cfg, p0, dr, sched == UpdateSchedule::Step, 0.2));
      // float precision, or 1000 times the trajectory's own amplification of a float-sized perturbation
      const double tol_t = std::max(tol, 1000 * trajectory_sensitivity(cfg, p0, dr, sched == UpdateSchedule::Step,
                                                                       double(lr), 6e-8));
      if (tol_t > 10 * tol) ++n_sensitive;
      tol_max = std::max(tol_max, tol_t);
      set_params(nd, p0);
      set_params(nf, p0);
      const double ld = nd.train_sequence(x.data(), tg.data(), data.mask.data(), T, double(lr), sched);
      const double lf = nf.train_sequence(xf.data(), tf.data(), data.mask.data(), T, lr, sched);
      std::vector<float> pn = p0f;
      const double lfn = naive_train_sequence(cfg, pn.data(), xf.data(), tf.data(), data.mask.data(), T, lr,
                                              sched == UpdateSchedule::Step);
      const double et = rel_err(get_params(nf), get_params(nd));
      const double etn = rel_err(get_params(nf), pn);
      worst_train = std::max(worst_train, et);
      worst_naive = std::max(worst_naive, etn);
      CHECKF(et <= tol_t && rel_err(lf, ld) <= tol_t, "%s train float vs double: params %.3g loss %.3g (tol %.2g)",
             d.c_str(), et, rel_err(lf, ld), tol_t);
      CHECKF(etn <= tol_t && rel_err(lf, lfn) <= tol_t, "%s train float: naive vs fast params %.3g loss %.3g (tol %.2g)",
             d.c_str(), etn, rel_err(lf, lfn), tol_t);
      CHECKF(structural_zeros_ok(nf.layout(), nf.params()), "%s float engine wrote a structural zero", d.c_str());
    }
  }
  cov.check("float_double");
  std::printf("  float_double: %d configs; worst rel err float vs double: forward %.2e, gradients %.2e, "
              "train %.2e; float naive vs float fast %.2e (tolerance %.0e; %d of %d gradients/trajectories amplify rounding "
              "so much that it exceeded %.0e, largest %.1e)\n",
              n_configs, worst_fwd, worst_grad, worst_train, worst_naive, tol, n_sensitive, 5 * n_configs, 10 * tol,
              tol_max);
}

// ---------------------------------------------------------------------------------------------
// determinism: a result must not depend on where the caller's buffers or the network's own
// parameter buffer happen to lie in memory (docs/ENGINE.md: an int seed makes everything reproducible).
// Every result is compared bit for bit.

// A buffer of n Scalars starting `offset` elements past a 64-byte boundary.
template <typename Scalar>
struct OffsetBuffer {
  std::vector<Scalar> storage;
  Scalar* p;
  OffsetBuffer(std::size_t n, std::size_t offset) : storage(n + offset + 64) {
    std::uintptr_t a = reinterpret_cast<std::uintptr_t>(storage.data());
    a = (a + 63) & ~std::uintptr_t(63);
    p = reinterpret_cast<Scalar*>(a) + offset;
  }
};

template <typename Scalar>
static void determinism_for(const Lstm1997Config& cfg, Rng& rng, int& n_bad_offsets, int& n_bad_objects) {
  const std::string d = describe(cfg);
  const std::size_t T = 30;
  const Data dd = random_data(cfg, T, rng);
  const std::vector<Scalar> x = cast<Scalar>(dd.x), tg = cast<Scalar>(dd.target);
  const std::vector<double> p0 = random_params(cfg, rng, 0.5);
  const char* modes[] = {"full", "truncated/bptt", "truncated/rtrl"};

  // (1) the same network, the gradient written to buffers at every offset modulo 64 bytes
  {
    Lstm1997<Scalar> net(cfg);
    set_params(net, p0);
    const std::size_t n = net.layout().total;
    for (int m = 0; m < 3; ++m) {
      std::vector<Scalar> ref;
      double l_ref = 0;
      for (std::size_t off = 0; off < 64 / sizeof(Scalar); ++off) {
        OffsetBuffer<Scalar> g(n, off);
        const double l = net.gradient(x.data(), tg.data(), dd.mask.data(), T, GradientMode(m), g.p);
        if (off == 0) {
          ref.assign(g.p, g.p + n);
          l_ref = l;
          continue;
        }
        std::size_t nd = 0, first = n;
        for (std::size_t k = 0; k < n; ++k)
          if (g.p[k] != ref[k] && nd++ == 0) first = k;
        if (nd != 0 || l != l_ref) ++n_bad_offsets;
        CHECKF(nd == 0 && l == l_ref,
               "%s %s gradient(%s): written %zu bytes past a 64-byte boundary, %zu of %zu entries differ "
               "from the aligned buffer's, first at %zu: %.17g vs %.17g",
               sizeof(Scalar) == 8 ? "double" : "float", d.c_str(), modes[m], off * sizeof(Scalar), nd, n, first,
               nd ? double(g.p[first]) : 0.0, nd ? double(ref[first]) : 0.0);
      }
    }
  }

  // (2) distinct network objects with the same weights, whose parameter buffers land at distinct
  //     addresses: forward, gradients (into one buffer) and both training schedules agree.
  {
    std::vector<std::vector<char>> spacers;
    std::vector<std::unique_ptr<Lstm1997<Scalar>>> nets;
    std::map<std::uintptr_t, int> alignments;
    for (int i = 0; i < 8; ++i) {
      spacers.emplace_back(16 * (i + 1));
      nets.emplace_back(new Lstm1997<Scalar>(cfg));
      set_params(*nets.back(), p0);
      alignments[reinterpret_cast<std::uintptr_t>(nets.back()->params()) % 64]++;
    }
    const std::size_t n = nets[0]->layout().total;
    OffsetBuffer<Scalar> g(n, 0);
    std::vector<std::vector<Scalar>> results(nets.size());
    for (std::size_t i = 0; i < nets.size(); ++i) {
      auto& net = *nets[i];
      auto& r = results[i];
      std::vector<Scalar> y(T * cfg.n_out);
      net.forward(x.data(), T, y.data());
      r.insert(r.end(), y.begin(), y.end());
      for (int m = 0; m < 3; ++m) {
        r.push_back(Scalar(net.gradient(x.data(), tg.data(), dd.mask.data(), T, GradientMode(m), g.p)));
        r.insert(r.end(), g.p, g.p + n);
      }
      r.push_back(Scalar(net.train_sequence(x.data(), tg.data(), dd.mask.data(), T, Scalar(0.2), UpdateSchedule::Step)));
      r.push_back(Scalar(net.train_sequence(x.data(), tg.data(), dd.mask.data(), T, Scalar(0.2), UpdateSchedule::Sequence)));
      r.insert(r.end(), net.params(), net.params() + n);
      const bool same = r == results[0];
      if (!same) ++n_bad_objects;
      CHECKF(same, "%s %s: network object %zu (params at %zu mod 64) computes other bits than object 0 "
             "(params at %zu mod 64)", sizeof(Scalar) == 8 ? "double" : "float", d.c_str(), i,
             std::size_t(reinterpret_cast<std::uintptr_t>(net.params()) % 64),
             std::size_t(reinterpret_cast<std::uintptr_t>(nets[0]->params()) % 64));
    }
    if (alignments.size() < 2)
      std::printf("    note: all %zu parameter buffers had the same alignment; part (2) is weak here\n", nets.size());
  }
}

static void test_determinism() {
  Rng rng(seed(8));
  std::vector<Lstm1997Config> cfgs;
  {  // Exp. 6b, bias all
    Lstm1997Config c = make(8, 8, 3, 2);
    set_bias(c, true, true, true);
    cfgs.push_back(c);
  }
  {  // forget gates, peepholes, shortcut, bias all
    Lstm1997Config c = make(3, 2, 3, 2);
    set_bias(c, true, true, true);
    c.forget_gate = c.peepholes = c.shortcut = true;
    cfgs.push_back(c);
  }
  for (int i = 0; i < 6; ++i) cfgs.push_back(random_config(rng));
  int bad_off = 0, bad_obj = 0;
  for (const auto& c : cfgs) {
    determinism_for<double>(c, rng, bad_off, bad_obj);
    determinism_for<float>(c, rng, bad_off, bad_obj);
  }
  std::printf("  determinism: %zu configs x {float, double}: %d gradient results changed with the output "
              "buffer's offset, %d network objects disagreed with the first\n", cfgs.size(), bad_off, bad_obj);
}

// ---------------------------------------------------------------------------------------------
// (e) published weight counts (docs/ENGINE.md, "Weight counts").

static void test_weight_counts() {
  struct Case {
    const char* name;
    Lstm1997Config cfg;
    std::size_t expected;
  };
  std::vector<Case> cases;
  {  // Exp. 1: (7, 7, 4, 1, bias="gates") / (7, 7, 3, 2, bias="gates")
    cases.push_back({"Exp.1 4x1", make(7, 7, 4, 1), 264});
    cases.push_back({"Exp.1 3x2", make(7, 7, 3, 2), 276});
  }
  {  // Exp. 2a/2b: (101, 101, 1, 1, recurrent none, shortcut, bias none, no output gate, g logistic, h identity)
    Lstm1997Config c = make(101, 101, 1, 1);
    c.recurrent = Recurrence::None;
    c.shortcut = true;
    set_bias(c, false, false, false);
    c.output_gate = false;
    c.g = Squash::Logistic;
    c.h = Squash::Identity;
    cases.push_back({"Exp.2a/2b", c, 10504});
  }
  {  // Exp. 2c: (p+4, 2, 2, 1, bias="none")
    const std::size_t ps[] = {50, 100, 200, 500, 1000};
    const std::size_t ws[] = {364, 664, 1264, 3064, 6064};
    for (int i = 0; i < 5; ++i) {
      Lstm1997Config c = make(ps[i] + 4, 2, 2, 1);
      set_bias(c, false, false, false);
      cases.push_back({"Exp.2c", c, ws[i]});
    }
  }
  {  // Exp. 3: (1, 1, 3, 1, bias="hidden")
    Lstm1997Config c = make(1, 1, 3, 1);
    set_bias(c, true, true, false);
    cases.push_back({"Exp.3", c, 102});
  }
  {  // Exp. 4 and 5: (2, 1, 2, 2, bias="all")
    Lstm1997Config c = make(2, 1, 2, 2);
    set_bias(c, true, true, true);
    cases.push_back({"Exp.4/5", c, 93});
  }
  {  // Exp. 6a / 6b: (8, 4, 2, 2, bias="all") / (8, 8, 3, 2, bias="all")
    Lstm1997Config a = make(8, 4, 2, 2), b = make(8, 8, 3, 2);
    set_bias(a, true, true, true);
    set_bias(b, true, true, true);
    cases.push_back({"Exp.6a", a, 156});
    cases.push_back({"Exp.6b", b, 308});
  }
  {  // forget-gate paper: (7, 7, 4, 2, recurrent cells, shortcut, forget gate, bias {gates, outputs})
    Lstm1997Config c = make(7, 7, 4, 2);
    c.recurrent = Recurrence::Cells;
    c.shortcut = true;
    c.forget_gate = true;
    set_bias(c, true, false, true);
    cases.push_back({"continual Reber", c, 424});
  }
  {  // peephole paper: (1, 1, 1, 1, recurrent cells, forget gate, peepholes, bias all, g identity)
    Lstm1997Config c = make(1, 1, 1, 1);
    c.recurrent = Recurrence::Cells;
    c.forget_gate = true;
    c.peepholes = true;
    set_bias(c, true, true, true);
    c.g = Squash::Identity;
    cases.push_back({"timing (peepholes)", c, 17});
  }
  std::size_t expected_order[] = {264, 276, 10504, 364, 664, 1264, 3064, 6064, 102, 93, 156, 308, 424, 17};
  CHECK(cases.size() == 14);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& k = cases[i];
    CHECK(k.expected == expected_order[i]);
    Lstm1997<double> net(k.cfg);
    const ParamLayout& L = net.layout();
    std::size_t n_present = 0, n_views = 0;
    for (unsigned char b : L.present) n_present += b;
    for (const auto& v : L.views) n_views += v.size();
    CHECKF(L.n_weights == k.expected, "%s %s: n_weights %zu, published %zu", k.name, describe(k.cfg).c_str(),
           L.n_weights, k.expected);
    CHECKF(n_present == k.expected && n_views == k.expected, "%s: present %zu views %zu", k.name, n_present,
           n_views);
    CHECKF(Lstm1997<float>(k.cfg).layout().n_weights == k.expected, "%s float layout", k.name);
  }
  std::printf("  weight_counts: %zu published counts reproduced\n", cases.size());
}

// ---------------------------------------------------------------------------------------------
// (f) impossible configurations throw std::invalid_argument (and valid ones do not).

template <typename F>
static bool throws_invalid(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return std::strlen(e.what()) > 0;
  } catch (...) {
    return false;
  }
  return false;
}

static void test_invalid() {
  std::vector<std::pair<const char*, std::function<void(Lstm1997Config&)>>> bad = {
      {"n_in = 0", [](Lstm1997Config& c) { c.n_in = 0; }},
      {"n_out = 0", [](Lstm1997Config& c) { c.n_out = 0; }},
      {"blocks = 0", [](Lstm1997Config& c) { c.blocks = 0; }},
      {"cells_per_block = 0", [](Lstm1997Config& c) { c.cells_per_block = 0; }},
      {"n_in huge", [](Lstm1997Config& c) { c.n_in = std::size_t(1) << 40; }},
      {"n_in = SIZE_MAX", [](Lstm1997Config& c) { c.n_in = std::size_t(-1); }},
      {"blocks * cells_per_block overflow", [](Lstm1997Config& c) { c.blocks = c.cells_per_block = std::size_t(1) << 33; }},
      {"blocks * cells_per_block too large", [](Lstm1997Config& c) { c.blocks = c.cells_per_block = std::size_t(1) << 13; }},
      {"weights beyond 2^34", [](Lstm1997Config& c) { c.n_in = std::size_t(1) << 20; c.blocks = std::size_t(1) << 15; }},
      {"out = tanh", [](Lstm1997Config& c) { c.out = Squash::Tanh; }},
      {"out = g2", [](Lstm1997Config& c) { c.out = Squash::G2; }},
      {"out = h1", [](Lstm1997Config& c) { c.out = Squash::H1; }},
  };
  int n = 0;
  for (auto& b : bad) {
    Lstm1997Config c = make(3, 2, 2, 2);
    b.second(c);
    CHECKF(throws_invalid([&] { c.validate(); }), "validate() did not throw for %s", b.first);
    CHECKF(throws_invalid([&] { Lstm1997<double> net(c); }), "Lstm1997<double> did not throw for %s", b.first);
    CHECKF(throws_invalid([&] { Lstm1997<float> net(c); }), "Lstm1997<float> did not throw for %s", b.first);
    CHECKF(throws_invalid([&] {
             double x = 0, y = 0;
             naive_forward(c, static_cast<const double*>(nullptr), &x, 0, &y);
           }),
           "naive_forward did not throw for %s", b.first);
    ++n;
  }
  // Valid configurations (g and h may be any squash) construct fine.
  Rng rng(seed(5));
  for (int i = 0; i < 50; ++i) {
    const Lstm1997Config c = random_config(rng);
    bool ok = true;
    try {
      c.validate();
      Lstm1997<double> net(c);
    } catch (...) {
      ok = false;
    }
    CHECKF(ok, "valid configuration rejected: %s", describe(c).c_str());
  }
  std::printf("  invalid: %d impossible configurations rejected with std::invalid_argument\n", n);
}

// ---------------------------------------------------------------------------------------------
// (g) no heap allocation inside the time loops (build with EIGEN_RUNTIME_NO_MALLOC, without NDEBUG).

#ifdef EIGEN_RUNTIME_NO_MALLOC
// Runs f in a child process with allocation forbidden; true if the child died of SIGABRT.
template <typename F>
static bool aborts_in_child(F&& f) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);  // the child's assertion message is expected
    Eigen::internal::set_is_malloc_allowed(false);
    f();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

template <typename Scalar>
static void run_all_entry_points(const Lstm1997Config& cfg, Rng& rng) {
  Lstm1997<Scalar> net(cfg);
  const std::size_t n = net.layout().total;
  set_params(net, random_params(cfg, rng, 0.5));
  std::vector<Scalar> g(n);
  // several lengths, growing and shrinking: the history is resized outside the time loop
  for (std::size_t T : {50, 7, 120, 1}) {
    const Data dd = random_data(cfg, T, rng);
    const std::vector<Scalar> x = cast<Scalar>(dd.x), tg = cast<Scalar>(dd.target);
    std::vector<Scalar> y(T * cfg.n_out);
    net.forward(x.data(), T, y.data());
    for (GradientMode mode : {GradientMode::Full, GradientMode::TruncatedBptt, GradientMode::TruncatedRtrl}) {
      net.gradient(x.data(), tg.data(), dd.mask.data(), T, mode, g.data());
      net.gradient(x.data(), tg.data(), nullptr, T, mode, g.data());
    }
    net.train_sequence(x.data(), tg.data(), dd.mask.data(), T, Scalar(0.1), UpdateSchedule::Step);
    net.train_sequence(x.data(), tg.data(), nullptr, T, Scalar(0.1), UpdateSchedule::Sequence);
    net.train_sequence_full(x.data(), tg.data(), dd.mask.data(), T, Scalar(0.1));
    CHECK(Eigen::internal::is_malloc_allowed());  // every time loop switched it back on
  }
}

static void test_nomalloc() {
  // The checks are live: with allocation forbidden, an Eigen allocation and an operator new abort.
  CHECKF(aborts_in_child([] {
           Eigen::VectorXd v(1000);
           v.setOnes();
           std::printf("%g", v.sum());
         }),
         "an Eigen allocation with malloc forbidden did not abort: are assertions (NDEBUG) off?");
  CHECKF(aborts_in_child([] {
           std::vector<int> v(1000, 1);
           std::printf("%d", v[999]);
         }),
         "operator new with malloc forbidden did not abort");
  // A child that allocates nothing exits normally.
  CHECKF(!aborts_in_child([] {}), "the child aborted without allocating");

  Rng rng(seed(99));
  std::vector<Lstm1997Config> cfgs;
  {  // Exp. 1: recurrent cells+gates, bias gates
    cfgs.push_back(make(7, 7, 3, 2));
  }
  {  // Exp. 4: bias all, S = 2
    Lstm1997Config c = make(2, 1, 2, 2);
    set_bias(c, true, true, true);
    cfgs.push_back(c);
  }
  {  // continual Reber: recurrent cells, shortcut, forget gates
    Lstm1997Config c = make(7, 7, 4, 2);
    c.recurrent = Recurrence::Cells;
    c.shortcut = true;
    c.forget_gate = true;
    set_bias(c, true, false, true);
    cfgs.push_back(c);
  }
  {  // everything on: forget gates and peepholes with cells+gates recurrence, linear outputs, S = 3
    Lstm1997Config c = make(3, 2, 2, 3);
    c.forget_gate = true;
    c.peepholes = true;
    set_bias(c, true, true, true);
    c.shortcut = true;
    c.out = Squash::Identity;
    c.g = Squash::Tanh;
    c.h = Squash::Tanh;
    cfgs.push_back(c);
  }
  {  // Exp. 2: no recurrence, no output gate
    Lstm1997Config c = make(11, 11, 1, 1);
    c.recurrent = Recurrence::None;
    c.shortcut = true;
    set_bias(c, false, false, false);
    c.output_gate = false;
    c.g = Squash::Logistic;
    c.h = Squash::Identity;
    cfgs.push_back(c);
  }
  {  // a larger net (vector paths of Eigen's GEMV kernels)
    Lstm1997Config c = make(20, 10, 8, 4);
    c.forget_gate = true;
    c.peepholes = true;
    cfgs.push_back(c);
  }
  for (const auto& c : cfgs) {
    run_all_entry_points<double>(c, rng);
    run_all_entry_points<float>(c, rng);
  }
  std::printf("  nomalloc: %zu configs x {float, double} x {forward, 3 gradient modes, 2 train schedules, "
              "train_sequence_full} "
              "ran with allocation forbidden inside the time loops\n", cfgs.size());
}
#endif

// ---------------------------------------------------------------------------------------------

int main(int argc, char** argv) {
  if (const char* env = std::getenv("LSTMCORE_TEST_SEED")) g_seed_offset = std::strtoull(env, nullptr, 10);
  return run_test_groups(argc, argv, {
#ifdef EIGEN_RUNTIME_NO_MALLOC
                                         {"nomalloc", test_nomalloc},
#endif
                                         {"weight_counts", test_weight_counts},
                                         {"invalid", test_invalid},
                                         {"naive", test_naive},
                                         {"rtrl_bptt", test_rtrl_bptt},
                                         {"finite_diff", test_finite_diff},
                                         {"float_double", test_float_double},
                                         {"determinism", test_determinism},
                                     });
}
