// Unit tests of the core's team sizes (threads.hpp): bounds, and fork after (and inside) an
// OpenMP parallel region. Every child sets an alarm, so a regression fails instead of hanging.
//
// Usage: test_threads [group ...]   (no argument: every group)
// Groups:
//   bounds          usable_threads within [1, max_threads()], max_threads() = 4 per core
//   fork            fork after a team of 2 ran: the child runs its own team of 2, the parent carries on
//   fork_in_region  fork inside a region (the runtime cannot be paused): the child runs on one thread
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "lstmcore/threads.hpp"
#include "test_support.hpp"

namespace {

// Threads of a region run with usable_threads(n), and the sum 0 + 1 + ... + 999 it computes.
int team_of(int n, long* sum) {
  int team = 0;
  long s = 0;
#pragma omp parallel num_threads(lstmcore::usable_threads(n)) reduction(+ : s)
  {
#pragma omp single
    team = omp_get_num_threads();
#pragma omp for schedule(static)
    for (int i = 0; i < 1000; ++i) s += i;
  }
  *sum = s;
  return team;
}

// Exit code of the child, or -1 if it was killed (the alarm of a hung child).
int wait_child(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void test_bounds() {
  CHECK_MSG(lstmcore::max_threads() == 4 * lstmcore::hardware_cores(), "max_threads == 4 per core");
  CHECK_MSG(lstmcore::usable_threads(0) == 1 && lstmcore::usable_threads(-3) == 1, "<= 0 -> 1");
  CHECK_MSG(lstmcore::usable_threads(1) == 1, "1 -> 1");
  const int many = lstmcore::usable_threads(1 << 20);
  CHECK_MSG(many >= 1 && many <= lstmcore::max_threads(), "bounded by max_threads");
}

void test_fork() {
  long sum = 0;
  CHECK_MSG(team_of(2, &sum) == 2 && sum == 499500, "parent team of 2");
  for (int round = 0; round < 3; ++round) {
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(60);
      long s = 0;
      const int team = team_of(2, &s);
      _exit(team == 2 && s == 499500 && !lstmcore::single_threaded_after_fork() ? 0 : 1);
    }
    CHECK_MSG(pid > 0 && wait_child(pid) == 0, "child after fork runs its own team of 2");
    CHECK_MSG(team_of(2, &sum) == 2 && sum == 499500, "parent team of 2 after fork");
  }
}

void test_fork_in_region() {
  long sum = 0;
  team_of(2, &sum);
  int code = -2;
#pragma omp parallel num_threads(lstmcore::usable_threads(2))
  {
#pragma omp master
    {
      const pid_t pid = fork();
      if (pid == 0) {
        alarm(60);
        // only this thread exists here: the region must not be left (its barrier would wait)
        long s = 0;
        const int team = team_of(2, &s);  // a nested region: one thread anyway
        _exit(lstmcore::single_threaded_after_fork() && lstmcore::usable_threads(2) == 1 && team == 1 &&
                      s == 499500
                  ? 0
                  : 1);
      }
      code = pid > 0 ? wait_child(pid) : -3;
    }
  }
  CHECK_MSG(code == 0, "child forked inside a region runs on one thread");
  CHECK_MSG(!lstmcore::single_threaded_after_fork(), "the parent keeps its threads");
}

}  // namespace

int main(int argc, char** argv) {
  return run_test_groups(argc, argv,
                         {{"bounds", test_bounds}, {"fork", test_fork}, {"fork_in_region", test_fork_in_region}});
}
