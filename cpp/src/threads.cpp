// Team sizes of the core's parallel regions: bounds, thread-creation probe, fork safety
// (threads.hpp has the why).
#include "lstmcore/threads.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
// omp_pause_resource_all (OpenMP 5.0), used with GCC's libgomp (since GCC 9, which still
// reports OpenMP 4.5), where it ends only the calling thread's pool (threads.hpp)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 9
#define LSTMCORE_HAVE_OMP_PAUSE 1
#endif
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define LSTMCORE_HAVE_ATFORK 1
#endif

namespace lstmcore {

namespace {

std::atomic<int> g_started{1};          // largest team known to start in this process
std::atomic<int> g_cannot_start{0};     // a team size the system refused (0: none yet)
std::atomic<bool> g_teams_ran{false};   // a team of >= 2 threads may have parked workers
std::atomic<bool> g_paused{false};      // the last fork's prepare handler ended the pool
std::atomic<bool> g_single_thread{false};
std::mutex g_probe;

#if LSTMCORE_HAVE_ATFORK
// Just before fork, in the forking thread: end its runtime's pool of workers, if any ran.
void before_fork() {
  bool paused = false;
  if (g_teams_ran.load()) {
#if LSTMCORE_HAVE_OMP_PAUSE
    paused = omp_pause_resource_all(omp_pause_hard) == 0;
#endif
  }
  g_paused.store(paused);
}

// In the child: without a pause, parked workers that do not exist here would be waited for.
void in_child() {
  if (g_teams_ran.load() && !g_paused.load()) g_single_thread.store(true);
  if (g_paused.load()) g_teams_ran.store(false);  // the only thread here has no pool any more
}
#endif

bool register_fork_handlers() {
#if LSTMCORE_HAVE_ATFORK
  return pthread_atfork(before_fork, nullptr, in_child) == 0;
#else
  return false;
#endif
}

// Start wanted - 1 threads that live at the same time, then end them all; returns how many could
// run at once, the calling thread included.
int probe_threads(int wanted) {
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::thread> threads;
  try {
    threads.reserve(std::size_t(wanted - 1));
    for (int i = 1; i < wanted; ++i)
      threads.emplace_back([&] {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return release; });
      });
  } catch (...) {  // std::system_error (EAGAIN: a thread or memory limit), std::bad_alloc
  }
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  return int(threads.size()) + 1;
}

}  // namespace

int hardware_cores() {
  static const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  return cores;
}

int max_threads() { return 4 * hardware_cores(); }

int usable_threads(int requested) {
  static const bool registered = register_fork_handlers();
  (void)registered;
  if (requested <= 1 || g_single_thread.load(std::memory_order_relaxed)) return 1;
  int n = std::min(requested, max_threads());
  const int refused = g_cannot_start.load();
  if (refused) n = std::min(n, refused - 1);
  if (n > g_started.load()) {
    std::lock_guard<std::mutex> lock(g_probe);
    if (n > g_started.load()) {
      const int got = probe_threads(n);
      if (got < n) {
        g_cannot_start.store(got + 1);
        n = got;
      }
      if (n > g_started.load()) g_started.store(n);
    }
  }
  if (n >= 2) g_teams_ran.store(true);
  return std::max(n, 1);
}

bool single_threaded_after_fork() { return g_single_thread.load(); }

}  // namespace lstmcore
