// Instruction-set levels of x86-64 and the choice of one at run time (docs/ARCHITECTURE.md,
// "ISA levels").
//
// The default build compiles the core once per level (CMakeLists.txt, LSTMCORE_ISA_LEVELS): the
// x86-64 baseline (SSE2), x86-64-v3 (AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT) and x86-64-v4
// (AVX-512 F/BW/CD/DQ/VL). A process runs exactly one of them, chosen once from what the CPU and
// the operating system support (cpu_level()) and what the environment asks for (choose_level()).
// A native build (-DLSTMCORE_NATIVE=ON) compiles one core with -march=native and chooses nothing.
#pragma once

#include <string>
#include <vector>

namespace lstmcore {
namespace isa {

// Ordered: a CPU that runs a level runs every lower one.
enum class Level : int {
  Baseline = 0,  // "x86-64": SSE2, what every x86-64 CPU runs (any CPU on other architectures)
  V3 = 1,        // "x86-64-v3": AVX2 + FMA + BMI1/2 + F16C + MOVBE + LZCNT (and x86-64-v2)
  V4 = 2,        // "x86-64-v4": x86-64-v3 + AVX-512 F/BW/CD/DQ/VL
};

// "x86-64", "x86-64-v3", "x86-64-v4" (the names of GCC's and Clang's -march levels).
const char* level_name(Level level);

// The highest level this CPU runs with the operating system's support: cpuid for the instructions,
// xgetbv for the register state the OS saves (YMM for v3, opmask and ZMM for v4). Baseline on CPUs
// that are not x86-64. Computed once.
Level cpu_level();

// The level this copy of the core was compiled for: a level_name(), or "native" (-march=native).
const char* build_level();

// The levels compiled into this build, lowest first, as level_name()s ("native" alone in a native build).
std::vector<std::string> built_levels();

// Parses a value of LSTMCORE_ISA: "baseline" or "x86-64", "v3" or "x86-64-v3", "v4" or "x86-64-v4".
// Returns false for anything else.
bool parse_level(const std::string& text, Level* out);

// The level a dispatching build runs, from
//   isa_env:  the value of LSTMCORE_ISA, or nullptr/"" when unset: a level to force (lower than or
//             equal to the CPU's, for testing the lower levels on a newer CPU);
//   gemm_env: the value of LSTMCORE_GEMM, or nullptr/"": "generic" asks for the plain C++ GEMM
//             kernels, which only the baseline level has; "auto" is the same as unset;
//   cpu:      cpu_level();
//   built:    the levels compiled in (at least the baseline).
// Unset: the highest level that is both compiled in and run by the CPU. Throws std::invalid_argument
// with the reason when the environment asks for something impossible: an unknown value, a level
// above the CPU's (it would stop on an illegal instruction), a level not compiled in, or
// LSTMCORE_GEMM=generic together with a level above the baseline.
Level choose_level(const char* isa_env, const char* gemm_env, Level cpu, const std::vector<Level>& built);

}  // namespace isa
}  // namespace lstmcore
