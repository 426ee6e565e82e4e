// lstmcore_bench: standalone benchmarks of the C++ core.
//
//   lstmcore_bench rtrl [--net exp1|exp4|exp6b|all] [--steps N] [--repeats R] [--dtype f64|f32]
//   lstmcore_bench fwd|fwdbwd ...   (the torch-style layer; see layer_modes.cpp)
//
// Mode `rtrl`: online truncated-RTRL training speed, the 1997 paper's learning rule: train_sequence
// with update="step" (w -= lr g(t) after every step), mask all true, sequences of 100 steps, on the
// paper's networks (recurrent cells+gates, g2/h1, logistic outputs):
//   exp1   Exp. 1 embedded Reber:  (7, 7, 3 blocks x 2 cells, bias gates)  276 weights, one-hot inputs
//   exp4   Exp. 4 adding:          (2, 1, 2 x 2, bias all)                  93 weights, [value, marker]
//   exp6b  Exp. 6b temporal order: (8, 8, 3 x 2, bias all)                 308 weights, one-hot inputs
// Before timing, the fast engine is checked against the naive reference kernel (naive1997.hpp) on
// the same net in double; the benchmark aborts if they differ by more than 1e-10. Reported: the median
// over repeats of ns per training step, steps/s, ns per (weight x step), and the naive kernel's
// ns per step for comparison.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "lstmcore/isa.hpp"
#include "lstmcore/lstm1997.hpp"
#include "lstmcore/naive1997.hpp"

using namespace lstmcore;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kSeqLen = 100;    // steps per sequence
constexpr std::size_t kPoolSize = 16;   // distinct sequences, cycled through
constexpr double kInitRange = 0.1;      // weights uniform in [-0.1, 0.1] (LSTM1997 default init_range)
constexpr double kVerifyTol = 1e-10;

struct NetSpec {
  std::string name;
  std::string what;
  Lstm1997Config cfg;
  std::size_t expected_weights;
  double lr;
  bool one_hot;  // one-hot inputs and targets (exp1, exp6b); else the adding problem's [value, marker]
};

std::vector<NetSpec> paper_nets() {
  std::vector<NetSpec> nets;
  auto base = [](std::size_t n_in, std::size_t n_out, std::size_t B, std::size_t S) {
    Lstm1997Config c;
    c.n_in = n_in;
    c.n_out = n_out;
    c.blocks = B;
    c.cells_per_block = S;
    c.recurrent = Recurrence::CellsAndGates;
    c.g = Squash::G2;
    c.h = Squash::H1;
    c.out = Squash::Logistic;
    return c;
  };
  {
    Lstm1997Config c = base(7, 7, 3, 2);
    c.bias_gates = true;
    c.bias_cells = c.bias_outputs = false;
    nets.push_back({"exp1", "Exp.1 embedded Reber (7,7,3x2, bias gates)", c, 276, 0.1, true});
  }
  {
    Lstm1997Config c = base(2, 1, 2, 2);
    c.bias_gates = c.bias_cells = c.bias_outputs = true;
    nets.push_back({"exp4", "Exp.4 adding (2,1,2x2, bias all)", c, 93, 0.5, false});
  }
  {
    Lstm1997Config c = base(8, 8, 3, 2);
    c.bias_gates = c.bias_cells = c.bias_outputs = true;
    nets.push_back({"exp6b", "Exp.6b temporal order (8,8,3x2, bias all)", c, 308, 0.5, true});
  }
  return nets;
}

struct Pool {
  std::vector<std::vector<double>> x, target;
  std::vector<std::uint8_t> mask;  // all true
};

Pool make_pool(const NetSpec& spec, std::mt19937_64& rng) {
  const Lstm1997Config& c = spec.cfg;
  Pool p;
  p.mask.assign(kSeqLen, 1);
  std::uniform_real_distribution<double> u01(0, 1), u11(-1, 1);
  for (std::size_t s = 0; s < kPoolSize; ++s) {
    std::vector<double> x(kSeqLen * c.n_in, 0.0), tg(kSeqLen * c.n_out, 0.0);
    for (std::size_t t = 0; t < kSeqLen; ++t) {
      if (spec.one_hot) {
        // a random symbol per step; the target is the next step's symbol (a prediction task)
        x[t * c.n_in + std::size_t(u01(rng) * double(c.n_in)) % c.n_in] = 1.0;
        tg[t * c.n_out + std::size_t(u01(rng) * double(c.n_out)) % c.n_out] = 1.0;
      } else {
        // adding problem: a value in [-1, 1] and a marker in {0, 1}; target in [0, 1]
        x[t * c.n_in + 0] = u11(rng);
        x[t * c.n_in + 1] = u01(rng) < 0.02 ? 1.0 : 0.0;
        tg[t * c.n_out + 0] = u01(rng);
      }
    }
    p.x.push_back(std::move(x));
    p.target.push_back(std::move(tg));
  }
  return p;
}

std::vector<double> init_params(const Lstm1997Config& cfg, std::mt19937_64& rng) {
  const ParamLayout L(cfg);
  std::vector<double> w(L.total, 0.0);
  std::uniform_real_distribution<double> u(-kInitRange, kInitRange);
  for (std::size_t i = 0; i < L.total; ++i)
    if (L.present[i]) w[i] = u(rng);
  return w;
}

template <typename To>
std::vector<To> cast(const std::vector<double>& v) {
  return std::vector<To>(v.begin(), v.end());
}

double rel_diff(const std::vector<double>& a, const double* b) {
  double num = 0, den = 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(a[i] - b[i]);
    if (!(d <= num)) num = d;
    den = std::max(den, std::max(std::fabs(a[i]), std::fabs(b[i])));
  }
  return num / den;
}

// Fast engine vs naive kernel in double: forward, then 4 sequences of online training.
// Returns the largest relative difference seen.
double verify(const NetSpec& spec, const std::vector<double>& w0, const Pool& pool) {
  const Lstm1997Config& c = spec.cfg;
  Lstm1997<double> net(c);
  std::copy(w0.begin(), w0.end(), net.params());
  std::vector<double> w = w0;
  std::vector<double> yf(kSeqLen * c.n_out), yn(kSeqLen * c.n_out);
  net.forward(pool.x[0].data(), kSeqLen, yf.data());
  naive_forward(c, w.data(), pool.x[0].data(), kSeqLen, yn.data());
  double worst = rel_diff(yf, yn.data());
  for (std::size_t s = 0; s < 4; ++s) {
    const double lf = net.train_sequence(pool.x[s].data(), pool.target[s].data(), pool.mask.data(), kSeqLen,
                                         spec.lr, UpdateSchedule::Step);
    const double ln = naive_train_sequence(c, w.data(), pool.x[s].data(), pool.target[s].data(), pool.mask.data(),
                                           kSeqLen, spec.lr, true);
    worst = std::max(worst, std::fabs(lf - ln) / std::max(1.0, std::fabs(ln)));
    worst = std::max(worst, rel_diff(w, net.params()));
    if (!std::isfinite(lf) || !std::isfinite(ln)) worst = INFINITY;
  }
  return worst;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// What time_run measures (--clock): wall time (default), or the CPU time of this thread
// (CLOCK_THREAD_CPUTIME_ID: the time it ran, not the time it waited for a core; steadier on a
// shared, oversubscribed machine; the benchmark is single-threaded).
bool g_cpu_clock = false;

double now_ns() {
  if (g_cpu_clock) {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
  }
  return std::chrono::duration<double, std::nano>(Clock::now().time_since_epoch()).count();
}

// One timed run: `steps` online training steps (whole sequences of kSeqLen) from the initial
// weights. Returns ns per step.
template <typename Scalar, typename Train>
double time_run(std::size_t steps, Train&& train_one_sequence) {
  const std::size_t n_seq = std::max<std::size_t>(1, (steps + kSeqLen - 1) / kSeqLen);
  const double t0 = now_ns();
  for (std::size_t s = 0; s < n_seq; ++s) train_one_sequence(s % kPoolSize);
  const double t1 = now_ns();
  return (t1 - t0) / double(n_seq * kSeqLen);
}

struct Row {
  std::string name;
  std::size_t weights;
  double ns_step, naive_ns_step, verify_err;
};

template <typename Scalar>
Row bench_net(const NetSpec& spec, std::size_t steps, int repeats) {
  const Lstm1997Config& c = spec.cfg;
  std::mt19937_64 rng(1997);
  const std::vector<double> w0 = init_params(c, rng);
  const Pool pool = make_pool(spec, rng);

  Lstm1997<Scalar> net(c);
  if (net.layout().n_weights != spec.expected_weights) {
    std::fprintf(stderr, "lstmcore_bench: %s has %zu weights, the paper's net has %zu\n", spec.name.c_str(),
                 net.layout().n_weights, spec.expected_weights);
    std::exit(1);
  }

  // The fast engine must agree with the naive kernel (double) before it is timed.
  const double err = verify(spec, w0, pool);
  if (!(err <= kVerifyTol)) {
    std::fprintf(stderr,
                 "lstmcore_bench: ABORT: on %s the fast engine and the naive kernel differ by %.3g (> %.0e) in "
                 "double; not timing a wrong engine\n",
                 spec.name.c_str(), err, kVerifyTol);
    std::exit(1);
  }

  const std::vector<Scalar> w0s = cast<Scalar>(w0);
  std::vector<std::vector<Scalar>> xs, ts;
  for (std::size_t s = 0; s < kPoolSize; ++s) {
    xs.push_back(cast<Scalar>(pool.x[s]));
    ts.push_back(cast<Scalar>(pool.target[s]));
  }
  const Scalar lr = Scalar(spec.lr);

  // fast engine: one warm-up run, then `repeats` timed runs, each from the initial weights
  auto fast = [&](std::size_t s) {
    net.train_sequence(xs[s].data(), ts[s].data(), pool.mask.data(), kSeqLen, lr, UpdateSchedule::Step);
  };
  std::vector<double> t_fast;
  for (int r = -1; r < repeats; ++r) {
    std::copy(w0s.begin(), w0s.end(), net.params());
    const double ns = time_run<Scalar>(steps, fast);
    if (r >= 0) t_fast.push_back(ns);
  }

  // naive kernel: fewer steps (it is slower), at least one sequence, 3 repeats at most
  std::vector<Scalar> wn = w0s;
  auto naive = [&](std::size_t s) {
    naive_train_sequence(c, wn.data(), xs[s].data(), ts[s].data(), pool.mask.data(), kSeqLen, lr, true);
  };
  const std::size_t naive_steps = std::max<std::size_t>(kSeqLen, steps / 20);
  std::vector<double> t_naive;
  for (int r = 0; r < std::min(repeats, 3); ++r) {
    wn = w0s;
    t_naive.push_back(time_run<Scalar>(naive_steps, naive));
  }
  return Row{spec.name, net.layout().n_weights, median(t_fast), median(t_naive), err};
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  }
  return "unknown (no model name in /proc/cpuinfo)";
}

std::string simd_macros() {
  std::string s;
#ifdef __AVX512F__
  s += "AVX-512F ";
#endif
#ifdef __AVX2__
  s += "AVX2 ";
#endif
#ifdef __FMA__
  s += "FMA ";
#endif
#ifdef __AVX__
  s += "AVX ";
#endif
#ifdef __SSE4_2__
  s += "SSE4.2 ";
#endif
  if (s.empty()) s = "baseline x86-64 (SSE2) or non-x86 ";
  s.pop_back();
  return s;
}

void print_header(const char* dtype, std::size_t steps, int repeats) {
  std::printf("lstmcore_bench rtrl: online truncated-RTRL training (train_sequence, update=step, mask all true)\n");
  std::printf("  CPU:        %s\n", cpu_model().c_str());
#if defined(__AVX512F__) || defined(__AVX2__)
  const char* wide = "yes";
#else
  const char* wide = "no";
#endif
  std::printf("  build:      ISA level %s (CPU runs up to %s); AVX2/AVX-512 code %s; ISA macros: %s\n",
              isa::build_level(), isa::level_name(isa::cpu_level()), wide, simd_macros().c_str());
  std::printf("  Eigen %d.%d.%d, SIMD in use: %s; %s; compiler %s\n", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION,
              EIGEN_MINOR_VERSION, Eigen::SimdInstructionSetsInUse(),
#ifdef NDEBUG
              "NDEBUG (optimised build)",
#else
              "assertions ON (not an optimised build: numbers are not representative)",
#endif
              __VERSION__);
  std::printf("  dtype %s; sequences of %zu steps, %zu distinct, cycled; %zu steps per repeat, median of %d "
              "repeats (after 1 warm-up); single thread; %s time\n",
              dtype, kSeqLen, kPoolSize, steps, repeats, g_cpu_clock ? "thread CPU" : "wall");
  std::printf("  naive kernel: %zu steps per repeat, median of %d\n\n", std::max<std::size_t>(kSeqLen, steps / 20),
              std::min(repeats, 3));
}

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: lstmcore_bench rtrl [--net exp1|exp4|exp6b|all] [--steps N] [--repeats R] [--dtype f64|f32]\n"
               "                           [--clock wall|cpu]\n"
               "       lstmcore_bench fwd|fwdbwd [--I 64] [--H 128] [--N 32] [--T 100] [--threads 2] [--dtype f32|f64]\n"
               "                                 [--repeats 15] [--truncated]\n"
               "  fwd, fwdbwd   the torch-style batched layer: forward, forward+backward (verified vs the naive kernel)\n"
               "  rtrl   online truncated-RTRL training steps per second on the 1997 paper's nets\n"
               "         defaults: --net all --steps 200000 --repeats 7 --dtype f64 --clock wall (cpu: the thread's\n"
               "         CPU time, steadier on a shared machine)\n"
               "environment: LSTMCORE_ISA=baseline|v3|v4 runs the core of a lower instruction-set level than the\n"
               "  CPU's best (a dispatching build; this one: %s); LSTMCORE_GEMM=generic the baseline's plain kernels\n",
               isa::build_level());
}

// A mistake: the message and the usage on stderr, exit code 2.
int usage(const char* msg) {
  if (msg) std::fprintf(stderr, "lstmcore_bench: %s\n", msg);
  print_usage(stderr);
  return 2;
}

// --help: the usage on stdout (it can be piped to a pager), exit code 0.
int help() {
  print_usage(stdout);
  return 0;
}

bool parse_count(const char* s, long long lo, long long hi, long long& out) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  if (errno || !end || *end || end == s || v < lo || v > hi) return false;
  out = v;
  return true;
}

int run_rtrl(int argc, char** argv) {
  std::string which = "all", dtype = "f64";
  long long steps = 200000, repeats = 7;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* opt) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lstmcore_bench: %s needs a value\n", opt);
        std::exit(usage(nullptr));
      }
      return argv[++i];
    };
    if (a == "--net") {
      which = value("--net");
    } else if (a == "--steps") {
      if (!parse_count(value("--steps"), 1, 1LL << 40, steps)) return usage("--steps: expected an integer >= 1");
    } else if (a == "--repeats") {
      if (!parse_count(value("--repeats"), 1, 1000, repeats)) return usage("--repeats: expected an integer in [1, 1000]");
    } else if (a == "--dtype") {
      dtype = value("--dtype");
    } else if (a == "--clock") {
      const std::string clock = value("--clock");
      if (clock != "wall" && clock != "cpu") return usage(("--clock: expected wall or cpu, got '" + clock + "'").c_str());
      g_cpu_clock = clock == "cpu";
    } else if (a == "-h" || a == "--help") {
      return help();
    } else {
      return usage(("unknown option '" + a + "'").c_str());
    }
  }
  if (dtype != "f64" && dtype != "f32") return usage(("--dtype: expected f64 or f32, got '" + dtype + "'").c_str());
  std::vector<NetSpec> nets;
  for (const NetSpec& n : paper_nets())
    if (which == "all" || which == n.name) nets.push_back(n);
  if (nets.empty()) return usage(("--net: expected exp1, exp4, exp6b or all, got '" + which + "'").c_str());

  print_header(dtype.c_str(), std::size_t(steps), int(repeats));
  std::printf("%-6s %-44s %7s %10s %12s %13s %14s %9s %11s\n", "net", "configuration", "weights", "ns/step",
              "steps/s", "ns/weight-step", "naive ns/step", "speedup", "verify err");
  for (const NetSpec& n : nets) {
    const Row r = dtype == "f64" ? bench_net<double>(n, std::size_t(steps), int(repeats))
                                 : bench_net<float>(n, std::size_t(steps), int(repeats));
    std::printf("%-6s %-44s %7zu %10.1f %12.0f %13.3f %14.1f %8.1fx %11.1e\n", r.name.c_str(), n.what.c_str(),
                r.weights, r.ns_step, 1e9 / r.ns_step, r.ns_step / double(r.weights), r.naive_ns_step,
                r.naive_ns_step / r.ns_step, r.verify_err);
    std::fflush(stdout);
  }
  std::printf("\n(lr: exp1 0.1, exp4 0.5, exp6b 0.5; weights uniform in [-%.1f, %.1f]; verify err: fast vs naive, "
              "double, forward + 4 online sequences)\n", kInitRange, kInitRange);
  return 0;
}

}  // namespace

int run_layer_mode(const std::string& mode, int argc, char** argv);  // layer_modes.cpp

int main(int argc, char** argv) {
  if (argc < 2) return usage("missing mode");
  const std::string mode = argv[1];
  if (mode == "rtrl") return run_rtrl(argc - 2, argv + 2);
  if (mode == "fwd" || mode == "fwdbwd") return run_layer_mode(mode, argc - 2, argv + 2);
  if (mode == "-h" || mode == "--help") return help();
  return usage(("unknown mode '" + mode + "'").c_str());
}
