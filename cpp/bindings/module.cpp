// The extension module lstmcore._core: one bind_<topic>() per binding file.
#include "common.hpp"

namespace lstmcore_py {
void bind_recurrent_net(py::module_& m);  // bind_recurrent_net.cpp
void bind_isa(py::module_& m);            // bind_isa.cpp
}

PYBIND11_MODULE(_core, m) {
  m.doc() = "lstmcore's C++ core (use the lstmcore package, not this module directly)";
  lstmcore_py::bind_lstm1997(m);
  lstmcore_py::bind_lstm_layer(m);
  lstmcore_py::bind_lstm_stream(m);
  lstmcore_py::bind_lstm_online(m);
  lstmcore_py::bind_checks(m);
  lstmcore_py::bind_threads(m);
  lstmcore_py::bind_recurrent_net(m);
  lstmcore_py::bind_isa(m);
}
