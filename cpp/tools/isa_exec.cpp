// Runs the program built for one instruction-set level of the core (lstmcore/isa.hpp), in one of
// two forms, both compiled for the x86-64 baseline so that they start on any x86-64 CPU:
//
//   lstmcore_isa_exec LEVEL PROGRAM [ARGS...]
//       runs PROGRAM if this CPU runs LEVEL (x86-64, x86-64-v3, x86-64-v4), else exits with 77
//       (ctest's "skipped", SKIP_RETURN_CODE) saying why. The C++ tests of the levels above the
//       baseline run through it.
//   <name> [ARGS...]   (compiled with LSTMCORE_LAUNCH_PROGRAM="<name>", e.g. lstmcore_bench)
//       runs <name>-<level> from its own directory, for the level isa::choose_level() picks from
//       the CPU, LSTMCORE_ISA and LSTMCORE_GEMM: the same choice the Python package makes at import.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "lstmcore/isa.hpp"

namespace {

int run(const std::string& program, char** argv) {
  execv(program.c_str(), argv);
  std::fprintf(stderr, "cannot run %s: %s\n", program.c_str(), std::strerror(errno));
  return 127;
}

#ifdef LSTMCORE_LAUNCH_PROGRAM
// The directory of this executable (/proc/self/exe), with a trailing '/'.
std::string own_directory(const char* argv0) {
  std::vector<char> buf(4096);
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  std::string path = n > 0 ? std::string(buf.data(), std::size_t(n)) : std::string(argv0);
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string("./") : path.substr(0, slash + 1);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  using namespace lstmcore::isa;
#ifdef LSTMCORE_LAUNCH_PROGRAM
  (void)argc;
  std::vector<Level> built;
  for (const std::string& name : built_levels()) {
    Level level;
    if (parse_level(name, &level)) built.push_back(level);
  }
  try {
    const Level level = choose_level(std::getenv("LSTMCORE_ISA"), std::getenv("LSTMCORE_GEMM"), cpu_level(), built);
    const std::string program = own_directory(argv[0]) + LSTMCORE_LAUNCH_PROGRAM "-" + level_name(level);
    return run(program, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: %s\n", LSTMCORE_LAUNCH_PROGRAM, e.what());
    return 2;
  }
#else
  if (argc < 3) {
    std::fprintf(stderr, "usage: lstmcore_isa_exec LEVEL PROGRAM [ARGS...]\n");
    return 2;
  }
  Level level;
  if (!parse_level(argv[1], &level)) {
    std::fprintf(stderr, "lstmcore_isa_exec: LEVEL: expected x86-64, x86-64-v3 or x86-64-v4, got '%s'\n", argv[1]);
    return 2;
  }
  if (int(level) > int(cpu_level())) {
    std::printf("skipped: this CPU runs %s at most, not %s\n", level_name(cpu_level()), level_name(level));
    return 77;
  }
  return run(argv[2], argv + 2);
#endif
}
