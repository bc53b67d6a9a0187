// The convkit Python extension (_convkit): what its parts share. The Python package
// (python/convkit) builds torch-like signatures on top of these bindings.
#pragma once

#include <pybind11/pybind11.h>

#include "convkit/convkit.h"

namespace convkit::python {

namespace py = pybind11;

/// Tensor, dtypes, numpy and DLPack exchange, factories and random numbers.
void bind_tensor(py::module_& m);
/// ConvSpec, the functional entries, and the module classes of every rank.
void bind_nn(py::module_& m);

/// A DType argument: a convkit dtype object or its name; None gives `fallback`.
DType dtype_arg(const py::handle& h, DType fallback = kFloat32);

}  // namespace convkit::python
