// The extension module lstmcore._cpu: the CPU's instruction-set level and the choice of the core to
// load (lstmcore/isa.hpp). Compiled for the x86-64 baseline and imported before any core, by
// python/lstmcore/_load_core.py.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "lstmcore/isa.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "The CPU's instruction-set level and the choice of lstmcore's compiled core (internal).";
  m.def(
      "cpu_level", [] { return lstmcore::isa::level_name(lstmcore::isa::cpu_level()); },
      "The highest x86-64 level this CPU and operating system run: 'x86-64', 'x86-64-v3' or 'x86-64-v4'.");
  m.def(
      "choose_level",
      [](const std::optional<std::string>& isa_env, const std::optional<std::string>& gemm_env,
         const std::vector<std::string>& built, const std::optional<std::string>& cpu) {
        lstmcore::isa::Level cpu_level = lstmcore::isa::cpu_level();
        if (cpu && !lstmcore::isa::parse_level(*cpu, &cpu_level))
          throw py::value_error("cpu: expected a level name like 'x86-64-v3', got '" + *cpu + "'");
        std::vector<lstmcore::isa::Level> levels;
        for (const auto& name : built) {
          lstmcore::isa::Level level;
          if (!lstmcore::isa::parse_level(name, &level))
            throw py::value_error("built: expected level names like 'x86-64-v3', got '" + name + "'");
          levels.push_back(level);
        }
        const auto level = lstmcore::isa::choose_level(isa_env ? isa_env->c_str() : nullptr,
                                                       gemm_env ? gemm_env->c_str() : nullptr,
                                                       cpu_level, levels);
        return std::string(lstmcore::isa::level_name(level));
      },
      py::arg("isa_env"), py::arg("gemm_env"), py::arg("built"), py::arg("cpu") = py::none(),
      "The level to load from LSTMCORE_ISA, LSTMCORE_GEMM (None when unset), the CPU's level (None: this "
      "CPU's) and the levels compiled in; ValueError saying why when the environment asks for something "
      "the CPU cannot run or the build does not have.");
}
