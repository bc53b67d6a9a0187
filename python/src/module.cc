// PYBIND11_MODULE(_convkit): errors mapped to Python's kinds, then the parts.
#include "bindings.h"

namespace convkit::python {

PYBIND11_MODULE(_convkit, m) {
  m.doc() = "convkit's C++ core; use the convkit package, not this module.";
  // PyTorch raises RuntimeError for a convolution's bad shapes and arguments; the Python layer
  // turns constructor errors into ValueError as torch.nn does. A bad file is an OSError.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ArgumentError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const FileError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    }
  });
  m.def("version", [] { return std::string(version()); }, "The C++ library's version, major.minor.patch.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"), "Threads used by convolutions (>= 1).");
  m.def("get_num_threads", &get_num_threads, "The thread count convolutions use now.");
  bind_tensor(m);
  bind_nn(m);
}

}  // namespace convkit::python
