// The CPU's instruction-set level and the choice of the level a dispatching build runs (isa.hpp).
//
// This file is compiled into every copy of the core (once per level), so build_level() answers for
// the copy it is linked into: LSTMCORE_ISA_LEVEL_NAME is set by CMakeLists.txt ("x86-64-v3", ...,
// or "native"), LSTMCORE_ISA_BUILT lists the levels of the whole build (","-separated).
#include "lstmcore/isa.hpp"

#include <cstdint>
#include <stdexcept>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define LSTMCORE_ISA_X86 1
#include <cpuid.h>
#else
#define LSTMCORE_ISA_X86 0
#endif

#ifndef LSTMCORE_ISA_LEVEL_NAME
#define LSTMCORE_ISA_LEVEL_NAME "unknown"
#endif
#ifndef LSTMCORE_ISA_BUILT
#define LSTMCORE_ISA_BUILT LSTMCORE_ISA_LEVEL_NAME
#endif

namespace lstmcore {
namespace isa {

const char* level_name(Level level) {
  switch (level) {
    case Level::Baseline: return "x86-64";
    case Level::V3: return "x86-64-v3";
    case Level::V4: return "x86-64-v4";
  }
  return "x86-64";
}

namespace {

#if LSTMCORE_ISA_X86
bool bit(std::uint32_t reg, int n) { return (reg >> n) & 1u; }

// XCR0: which register states the operating system saves on a context switch (and so lets
// programs use). Only readable (xgetbv) when the OS has set CR4.OSXSAVE, reported by cpuid.
std::uint64_t xcr0() {
  std::uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (std::uint64_t(hi) << 32) | lo;
}

Level detect() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Level::Baseline;
  const std::uint32_t ecx1 = c;
  // x86-64-v2 (implied by v3): SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT, CMPXCHG16B (leaf 1, ecx) and
  // LAHF/SAHF in 64-bit mode (leaf 0x80000001, ecx bit 0).
  const bool v2 = bit(ecx1, 0) && bit(ecx1, 9) && bit(ecx1, 19) && bit(ecx1, 20) && bit(ecx1, 23) && bit(ecx1, 13);
  // v3, leaf 1 ecx: FMA 12, MOVBE 22, OSXSAVE 27, AVX 28, F16C 29
  const bool v3_leaf1 = bit(ecx1, 12) && bit(ecx1, 22) && bit(ecx1, 28) && bit(ecx1, 29);
  const bool osxsave = bit(ecx1, 27);
  unsigned ext_c = 0;
  if (__get_cpuid(0x80000001u, &a, &b, &c, &d)) ext_c = c;
  const bool lahf = bit(ext_c, 0), lzcnt = bit(ext_c, 5);  // LAHF-SAHF, ABM (LZCNT)
  if (__get_cpuid_max(0, nullptr) < 7) return Level::Baseline;
  __cpuid_count(7, 0, a, b, c, d);
  const std::uint32_t ebx7 = b;
  // leaf 7 ebx: BMI1 3, AVX2 5, BMI2 8
  const bool v3_leaf7 = bit(ebx7, 3) && bit(ebx7, 5) && bit(ebx7, 8);
  if (!(v2 && lahf && v3_leaf1 && lzcnt && v3_leaf7 && osxsave)) return Level::Baseline;
  const std::uint64_t xcr = xcr0();
  if ((xcr & 0x6) != 0x6) return Level::Baseline;  // XMM (bit 1) and YMM (bit 2) state
  // v4, leaf 7 ebx: AVX512F 16, AVX512DQ 17, AVX512CD 28, AVX512BW 30, AVX512VL 31; and the
  // opmask (bit 5), upper halves of ZMM0-15 (bit 6) and ZMM16-31 (bit 7) state
  const bool avx512 = bit(ebx7, 16) && bit(ebx7, 17) && bit(ebx7, 28) && bit(ebx7, 30) && bit(ebx7, 31);
  if (avx512 && (xcr & 0xE6) == 0xE6) return Level::V4;
  return Level::V3;
}
#else
Level detect() { return Level::Baseline; }
#endif

}  // namespace

Level cpu_level() {
  static const Level level = detect();
  return level;
}

const char* build_level() { return LSTMCORE_ISA_LEVEL_NAME; }

std::vector<std::string> built_levels() {
  std::vector<std::string> out;
  const std::string all = LSTMCORE_ISA_BUILT;
  std::size_t start = 0;
  while (start <= all.size()) {
    const std::size_t end = all.find(',', start);
    const std::string item = all.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!item.empty()) out.push_back(item);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

bool parse_level(const std::string& text, Level* out) {
  if (text == "baseline" || text == "x86-64") {
    *out = Level::Baseline;
  } else if (text == "v3" || text == "x86-64-v3") {
    *out = Level::V3;
  } else if (text == "v4" || text == "x86-64-v4") {
    *out = Level::V4;
  } else {
    return false;
  }
  return true;
}

Level choose_level(const char* isa_env, const char* gemm_env, Level cpu, const std::vector<Level>& built) {
  auto is_built = [&](Level l) {
    for (Level b : built)
      if (b == l) return true;
    return false;
  };
  std::string built_names;
  for (Level b : built) built_names += std::string(built_names.empty() ? "" : ", ") + level_name(b);

  const std::string gemm = gemm_env ? gemm_env : "";
  if (!gemm.empty() && gemm != "auto" && gemm != "generic")
    throw std::invalid_argument("LSTMCORE_GEMM: expected auto or generic, got '" + gemm + "'");
  const bool plain_gemm = gemm == "generic";

  const std::string wanted = isa_env ? isa_env : "";
  if (wanted.empty()) {
    if (plain_gemm) return Level::Baseline;  // the plain C++ GEMM kernels are the baseline level's
    Level best = Level::Baseline;
    for (Level b : built)
      if (int(b) <= int(cpu) && int(b) > int(best)) best = b;
    return best;
  }
  Level level;
  if (!parse_level(wanted, &level))
    throw std::invalid_argument("LSTMCORE_ISA: expected baseline, v3 or v4 (or x86-64, x86-64-v3, x86-64-v4), got '" +
                                wanted + "'");
  if (int(level) > int(cpu))
    throw std::invalid_argument("LSTMCORE_ISA=" + wanted + " asks for " + level_name(level) + ", but this CPU runs " +
                                level_name(cpu) + " at most: refused (it would stop on an illegal instruction)");
  if (!is_built(level))
    throw std::invalid_argument("LSTMCORE_ISA=" + wanted + ": " + level_name(level) +
                                " is not compiled into this build (it has " + built_names + ")");
  if (plain_gemm && level != Level::Baseline)
    throw std::invalid_argument("LSTMCORE_GEMM=generic asks for the plain C++ GEMM kernels of the x86-64 baseline, "
                                "but LSTMCORE_ISA=" + wanted + " asks for " + level_name(level));
  return level;
}

}  // namespace isa
}  // namespace lstmcore
