// Shared by the C++ test programs (no test framework): the CHECK macros and their counters, the
// allocation trap of the no-malloc builds, the group runner of main(), and random layer fixtures.
// Include it in exactly one translation unit per test program (it defines operator new there).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "lstmcore/lstm_layer.hpp"

#ifdef EIGEN_RUNTIME_NO_MALLOC
#include <unistd.h>
#endif

// ---- checks: CHECKF(cond, printf-format, ...) counts a check and reports a failure (the first 40)
inline long g_checks = 0;
inline long g_failures = 0;

#define CHECKF(cond, ...)                                                               \
  do {                                                                                  \
    ++g_checks;                                                                         \
    if (!(cond)) {                                                                      \
      if (++g_failures <= 40) {                                                         \
        std::fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);   \
        std::fprintf(stderr, __VA_ARGS__);                                              \
        std::fputc('\n', stderr);                                                       \
      }                                                                                 \
    }                                                                                   \
  } while (0)
#define CHECK(cond) CHECKF(cond, "%s", "")
// the message a std::string (or anything it converts from), built only when the check fails
#define CHECK_MSG(cond, what) CHECKF(cond, "%s", std::string(what).c_str())

// ---- no-malloc builds (EIGEN_RUNTIME_NO_MALLOC): every operator new while Eigen's malloc flag is
// down (inside a time loop or a step) aborts, so std:: containers are caught as well as Eigen's own
// allocations (which Eigen asserts on itself).
#ifdef EIGEN_RUNTIME_NO_MALLOC
inline void* checked_alloc(std::size_t n) {
  if (!Eigen::internal::is_malloc_allowed()) {
    static const char msg[] = "operator new called inside a no-malloc region (a time loop or step)\n";
    (void)!write(2, msg, sizeof msg - 1);
    std::abort();
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (!p) throw std::bad_alloc();
  return p;
}
void* operator new(std::size_t n) { return checked_alloc(n); }
void* operator new[](std::size_t n) { return checked_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try { return checked_alloc(n); } catch (...) { return nullptr; }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try { return checked_alloc(n); } catch (...) { return nullptr; }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#endif

// ---- main(): `program [group ...]` runs the named groups (none named: all), in list order; exit
// code 0 if every check passed, 1 if one failed, 2 for an unknown group.
using TestGroups = std::vector<std::pair<std::string, void (*)()>>;

inline int run_test_groups(int argc, char** argv, const TestGroups& groups) {
  std::vector<std::string> wanted(argv + 1, argv + argc);
  for (const auto& w : wanted)
    if (std::none_of(groups.begin(), groups.end(), [&](const auto& g) { return g.first == w; })) {
      std::fprintf(stderr, "unknown test group '%s'; groups:", w.c_str());
      for (const auto& g : groups) std::fprintf(stderr, " %s", g.first.c_str());
      std::fprintf(stderr, "\n");
      return 2;
    }
  for (const auto& g : groups) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), g.first) == wanted.end()) continue;
    std::printf("[%s]\n", g.first.c_str());
    std::fflush(stdout);
    g.second();
  }
  std::printf("%ld checks, %ld failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}

// ---- random layer fixtures (torch-style layer, stream, online trainer)
using Vec = std::vector<double>;

inline Vec random_vec(std::mt19937_64& rng, std::size_t n, double scale = 1.0) {
  std::uniform_real_distribution<double> u(-scale, scale);
  Vec v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

inline double max_abs_diff(const Vec& a, const Vec& b) {
  double m = 0;
  for (std::size_t k = 0; k < a.size(); ++k) m = std::max(m, std::fabs(a[k] - b[k]));
  return m;
}

// One layer's parameters (owned) and the pointer view of them.
// P: the projection size (0: none); W_hh is [4H, R] with R = P or H, W_hr [P, H].
struct Layer {
  Vec W_ih, W_hh, b_ih, b_hh, w_ci, w_cf, w_co, W_hr;
  Layer(std::mt19937_64& rng, std::size_t I, std::size_t H, std::size_t P = 0)
      : W_ih(random_vec(rng, 4 * H * I, 0.8)), W_hh(random_vec(rng, 4 * H * (P ? P : H), 0.8)),
        b_ih(random_vec(rng, 4 * H)), b_hh(random_vec(rng, 4 * H)), w_ci(random_vec(rng, H)),
        w_cf(random_vec(rng, H)), w_co(random_vec(rng, H)), W_hr(random_vec(rng, P * H, 0.8)) {}
  lstmcore::LstmLayerParams<double> params(bool bias, bool peep) const {
    lstmcore::LstmLayerParams<double> p;
    p.W_ih = W_ih.data();
    p.W_hh = W_hh.data();
    if (bias) p.b_ih = b_ih.data(), p.b_hh = b_hh.data();
    if (peep) p.w_ci = w_ci.data(), p.w_cf = w_cf.data(), p.w_co = w_co.data();
    if (!W_hr.empty()) p.W_hr = W_hr.data();
    return p;
  }
};

// Gradient buffers of one layer and the pointer view of them.
struct Grads {
  Vec W_ih, W_hh, b_ih, b_hh, w_ci, w_cf, w_co, W_hr;
  Grads(std::size_t I, std::size_t H, std::size_t P = 0)
      : W_ih(4 * H * I), W_hh(4 * H * (P ? P : H)), b_ih(4 * H), b_hh(4 * H), w_ci(H), w_cf(H), w_co(H),
        W_hr(P * H) {}
  lstmcore::LstmLayerGrads<double> view() {
    return {W_ih.data(), W_hh.data(), b_ih.data(), b_hh.data(), w_ci.data(), w_cf.data(), w_co.data(),
            W_hr.empty() ? nullptr : W_hr.data()};
  }
};
