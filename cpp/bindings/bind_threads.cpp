// Bindings of the core's thread bounds (lstmcore/threads.hpp): no logic here.
#include "common.hpp"
#include "lstmcore/threads.hpp"

namespace lstmcore_py {

void bind_threads(py::module_& m) {
  m.def("hardware_cores", &lstmcore::hardware_cores, "Cores of the machine.");
  m.def("max_threads", &lstmcore::max_threads, "The largest num_threads a call accepts (4 per core).");
  m.def("usable_threads", &lstmcore::usable_threads, py::arg("requested"),
        "The team size a parallel region asking for `requested` threads gets in this process.");
  m.def("single_threaded_after_fork", &lstmcore::single_threaded_after_fork,
        "True in a forked child whose OpenMP runtime could not be paused (every region on one thread).");
}

}  // namespace lstmcore_py
