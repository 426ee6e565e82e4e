// Which instruction-set level of the core this module runs (lstmcore/isa.hpp).
#include "common.hpp"
#include "lstmcore/isa.hpp"

namespace lstmcore_py {

void bind_isa(py::module_& m) {
  m.def("kernel_level", &lstmcore::isa::build_level,
        "The instruction-set level the core of this module was compiled for: 'x86-64', 'x86-64-v3', "
        "'x86-64-v4', or 'native' (a -march=native build).");
  m.def(
      "isa_levels", [] { return py::tuple(py::cast(lstmcore::isa::built_levels())); },
      "The levels compiled into this build, lowest first (('native',) in a -march=native build).");
  m.def(
      "cpu_level", [] { return lstmcore::isa::level_name(lstmcore::isa::cpu_level()); },
      "The highest x86-64 level this CPU and operating system run (cpuid and xgetbv).");
}

}  // namespace lstmcore_py
