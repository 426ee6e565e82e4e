// The threads a parallel region of the core may start: bounded per machine, checked for creation
// failure, and safe across fork().
//
// Every OpenMP region of the core takes its team size from usable_threads(requested):
//  - at most max_threads() (4 per core of the machine): more threads only cost memory and
//    switching, and thousands of them can exhaust a process's limits;
//  - threads the process cannot create are not asked for: before the first team larger than any
//    started so far, the same number of plain threads is started and joined; if the system
//    refuses some (a memory or thread limit), the team is cut to the threads that did start (the
//    results are bitwise identical for any team size). The OpenMP runtime itself would end the
//    process on such a failure (libgomp: "Thread creation failed"), without an exception;
//  - fork: once a team of 2 or more threads has run, the runtime keeps its worker threads parked
//    in a pool, and a forked child (which has only the forking thread) would wait for them forever
//    at its next parallel region. A pthread_atfork handler, registered before the first team,
//    ends the forking thread's pool just before fork (omp_pause_resource_all, OpenMP 5.0); parent
//    and child then start new workers at their next region. Where the runtime cannot pause (an
//    older OpenMP, or fork called inside a parallel region), the child runs every region on one
//    thread instead (as torch does). The pause is used with GCC's libgomp only: there each thread
//    that starts teams owns its own pool, and the pause ends only the forking thread's, so teams
//    another thread runs at that moment are untouched. Other runtimes (LLVM's libomp pauses
//    process-wide) take the one-thread fallback.
#pragma once

namespace lstmcore {

// Cores of the machine (std::thread::hardware_concurrency, at least 1).
int hardware_cores();

// The largest thread count a call accepts: 4 per core of the machine.
int max_threads();

// The team size for a region that asks for `requested` threads: 1 for requested <= 1, else
// min(requested, max_threads(), threads this process can create), and 1 in a forked child whose
// OpenMP runtime could not be made safe. Thread-safe.
int usable_threads(int requested);

// True in a forked child that must run every region on one thread (see above).
bool single_threaded_after_fork();

}  // namespace lstmcore
