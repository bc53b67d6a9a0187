// convkit.Tensor and its exchange with numpy (array interface and buffer, zero copy both ways) and with
// any DLPack producer or consumer (torch, numpy), dtypes, factories and random numbers.
#include <dlpack/dlpack.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bindings.h"

static_assert(DLPACK_VERSION == 60, "convkit speaks DLPack 0.6");

namespace convkit::python {

namespace {

// ---- numpy ---------------------------------------------------------------------------

// numpy's name of a dtype ("<f4"); bfloat16 has none, as torch's numpy() says.
const char* numpy_typestr(DType t) {
  switch (t) {
    case kFloat32: return "<f4";
    case kFloat64: return "<f8";
    case kFloat16: return "<f2";
    case kComplex64: return "<c8";
    case kComplex128: return "<c16";
    default: throw py::type_error("Got unsupported ScalarType BFloat16 (numpy has no bfloat16; use DLPack)");
  }
}

// numpy's array interface (version 3): numpy reads the memory in place and keeps the tensor
// alive as the array's base. (Not the buffer protocol: pybind11 2.10 cannot raise from it, and
// a bfloat16 tensor must raise TypeError, not abort.)
py::dict array_interface(const Tensor& t) {
  py::dict d;
  py::list strides;
  for (int64_t s : t.strides()) strides.append(s * t.element_size());
  d["shape"] = py::tuple(py::cast(t.sizes()));
  d["typestr"] = numpy_typestr(t.dtype());
  d["data"] = py::make_tuple(reinterpret_cast<std::uintptr_t>(t.data_ptr()), false);
  d["strides"] = py::tuple(strides);
  d["version"] = 3;
  return d;
}

// Drops a Python reference from any thread, if Python still runs (else the object leaks:
// nothing may run Python code after the interpreter is gone).
void release_python(py::object* owner) {
  if (!Py_IsInitialized()) return;
  py::gil_scoped_acquire gil;
  delete owner;
}

DType numpy_dtype(const py::array& a) {
  const std::string name = py::str(a.dtype());
  for (DType t : {kFloat64, kFloat32, kFloat16, kComplex64, kComplex128})
    if (name == dtype_name(t)) return t;
  throw py::type_error("can't convert np.ndarray of type numpy." + name +
                       ". The only supported types are: float64, float32, float16, complex64, complex128.");
}

// The array's memory as a Tensor (no copy); the tensor keeps the array alive.
Tensor from_numpy(const py::object& obj) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error("expected np.ndarray (got " + std::string(py::str(obj.get_type().attr("__name__"))) + ")");
  const auto a = py::reinterpret_borrow<py::array>(obj);
  const DType dtype = numpy_dtype(a);
  Shape shape, strides;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    const py::ssize_t st = a.strides(i);
    if (st < 0)
      throw py::value_error("At least one stride in the given numpy array is negative, and tensors with negative "
                            "strides are not currently supported. (You can probably work around this by making a "
                            "copy of your array with array.copy().)");
    if (st % a.itemsize() != 0)
      throw py::value_error("given numpy array strides not a multiple of the element byte size. Copy the numpy "
                            "array to reallocate the memory.");
    shape.push_back(a.shape(i));
    strides.push_back(st / a.itemsize());
  }
  if (!a.writeable() &&
      PyErr_WarnEx(PyExc_UserWarning,
                   "The given NumPy array is not writable, and convkit does not support non-writable tensors: the "
                   "tensor shares its memory, so writing through it is undefined. Copy the array first to protect "
                   "its data.",
                   1) < 0)
    throw py::error_already_set();  // the warning is an error here (-W error)
  alignas(64) static std::byte empty[64];
  void* data = a.size() == 0 || a.data() == nullptr ? static_cast<void*>(empty) : const_cast<void*>(a.data());
  auto* owner = new py::object(obj);
  return Tensor::from_blob(data, shape, dtype, strides, [owner](void*) { release_python(owner); });
}

// ---- DLPack --------------------------------------------------------------------------

DLDataType dl_dtype(DType t) {
  switch (t) {
    case kFloat32: return {kDLFloat, 32, 1};
    case kFloat64: return {kDLFloat, 64, 1};
    case kFloat16: return {kDLFloat, 16, 1};
    case kBFloat16: return {kDLBfloat, 16, 1};
    case kComplex64: return {kDLComplex, 64, 1};
    case kComplex128: return {kDLComplex, 128, 1};
  }
  return {kDLFloat, 32, 1};
}

DType from_dl_dtype(DLDataType d) {
  if (d.lanes == 1) {
    for (DType t : {kFloat32, kFloat64, kFloat16, kBFloat16, kComplex64, kComplex128}) {
      const DLDataType w = dl_dtype(t);
      if (w.code == d.code && w.bits == d.bits) return t;
    }
  }
  throw py::type_error("from_dlpack: unsupported DLPack dtype (code " + std::to_string(d.code) + ", " +
                       std::to_string(d.bits) + " bits, " + std::to_string(d.lanes) +
                       " lanes); convkit holds float16/32/64, bfloat16 and complex64/128");
}

// What an exported DLManagedTensor owns: the tensor (its memory) and the shape arrays. Its
// deleter touches no Python (torch calls it without the GIL), only C++ ownership.
struct Exported {
  Tensor t;
  Shape shape, strides;
  DLManagedTensor managed{};
};

void capsule_destructor(PyObject* capsule) {
  // Still named "dltensor": nobody consumed it, so the producer frees it.
  if (!PyCapsule_IsValid(capsule, "dltensor")) return;
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
  if (m && m->deleter) m->deleter(m);
}

py::capsule to_dlpack(const Tensor& t) {
  auto* e = new Exported{t, t.sizes(), t.strides(), {}};
  DLTensor& d = e->managed.dl_tensor;
  d.data = t.numel() > 0 ? t.data_ptr() : nullptr;
  d.device = {kDLCPU, 0};
  d.ndim = static_cast<int32_t>(t.dim());
  d.dtype = dl_dtype(t.dtype());
  d.shape = e->shape.data();
  d.strides = e->strides.data();
  d.byte_offset = 0;  // data points at the first element (torch 1.13 ignores byte_offset)
  e->managed.manager_ctx = e;
  e->managed.deleter = [](DLManagedTensor* m) { delete static_cast<Exported*>(m->manager_ctx); };
  PyObject* cap = PyCapsule_New(&e->managed, "dltensor", capsule_destructor);
  if (!cap) {
    delete e;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(cap);
}

Tensor from_dlpack(const py::object& obj) {
  py::object cap = obj;
  if (!PyCapsule_CheckExact(obj.ptr())) {
    if (!py::hasattr(obj, "__dlpack__"))
      throw py::type_error("from_dlpack: expected an object with __dlpack__ (a torch tensor, a numpy array) or a "
                           "DLPack capsule, got " + std::string(py::str(obj.get_type().attr("__name__"))));
    if (py::hasattr(obj, "__dlpack_device__")) {
      const auto dev = obj.attr("__dlpack_device__")().cast<std::pair<int, int>>();
      if (dev.first != kDLCPU)
        throw py::value_error("from_dlpack: convkit computes on the CPU only, got DLPack device type " +
                              std::to_string(dev.first));
    }
    cap = obj.attr("__dlpack__")();
  }
  if (!PyCapsule_IsValid(cap.ptr(), "dltensor"))
    throw py::value_error("from_dlpack: the DLPack capsule was already consumed (a capsule can be used once)");
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
  const DLTensor& d = m->dl_tensor;
  if (d.device.device_type != kDLCPU)
    throw py::value_error("from_dlpack: convkit computes on the CPU only, got DLPack device type " +
                          std::to_string(d.device.device_type));
  const DType dtype = from_dl_dtype(d.dtype);
  Shape shape(d.shape, d.shape + d.ndim), strides;
  if (d.strides) {
    strides.assign(d.strides, d.strides + d.ndim);
    for (int64_t s : strides)
      if (s < 0) throw py::value_error("from_dlpack: negative strides are not supported (copy the array first)");
  }
  // Consumed from here on: the tensor calls the producer's deleter when it is gone.
  PyCapsule_SetName(cap.ptr(), "used_dltensor");
  alignas(64) static std::byte empty[64];
  void* data = d.data ? static_cast<void*>(static_cast<char*>(d.data) + d.byte_offset) : static_cast<void*>(empty);
  return Tensor::from_blob(data, shape, dtype, strides, [m](void*) {
    if (!m->deleter) return;
    // numpy's deleter drops a Python reference: it needs the GIL (and a running interpreter).
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    m->deleter(m);
  });
}

py::tuple shape_tuple(const Shape& s) { return py::cast(std::vector<int64_t>(s.begin(), s.end())).cast<py::tuple>(); }

py::object grad_of(const Tensor& t) { return t.grad().defined() ? py::cast(t.grad()) : py::none(); }

void bind_dtype(py::module_& m) {
  py::class_<DType>(m, "dtype", "A tensor element type: convkit.float32, float64, float16, bfloat16, complex64, complex128.")
      .def("__repr__", [](DType t) { return std::string("convkit.") + dtype_name(t); })
      .def("__eq__", [](DType a, const py::object& b) { return py::isinstance<DType>(b) && a == b.cast<DType>(); })
      .def("__hash__", [](DType t) { return static_cast<int>(t); })
      .def_property_readonly("itemsize", [](DType t) { return element_size(t); }, "Bytes per element.")
      .def_property_readonly("is_complex", [](DType t) { return is_complex(t); })
      .def_property_readonly("is_floating_point", [](DType t) { return !is_complex(t); })
      .def_property_readonly("name", [](DType t) { return std::string(dtype_name(t)); });
  for (DType t : {kFloat32, kFloat64, kFloat16, kBFloat16, kComplex64, kComplex128}) m.attr(dtype_name(t)) = t;
  m.attr("float") = kFloat32;
  m.attr("double") = kFloat64;
  m.attr("half") = kFloat16;
  m.attr("cfloat") = kComplex64;
  m.attr("cdouble") = kComplex128;
}

}  // namespace

DType dtype_arg(const py::handle& h, DType fallback) {
  if (h.is_none()) return fallback;
  if (py::isinstance<py::str>(h)) return dtype_from_name(h.cast<std::string>());
  if (py::isinstance<DType>(h)) return h.cast<DType>();
  throw py::type_error("expected a convkit dtype (e.g. convkit.float32) or its name, got " +
                       std::string(py::str(h.get_type().attr("__name__"))));
}

void bind_tensor(py::module_& m) {
  bind_dtype(m);
  py::class_<Generator>(m, "Generator", "MT19937 with PyTorch's seeding: the same numbers as torch.Generator.")
      .def(py::init<>())
      .def(py::init<uint64_t>(), py::arg("seed"))
      .def("manual_seed", [](Generator& g, int64_t seed) -> Generator& {
             g.manual_seed(static_cast<uint64_t>(seed));
             return g;
           }, py::arg("seed"), py::return_value_policy::reference)
      .def("initial_seed", &Generator::initial_seed);

  using T = Tensor;
  py::class_<T>(m, "Tensor", py::dynamic_attr(),
                "An N-d array of one dtype; views share memory. numpy() and __dlpack__ share it without copying.")
      .def(py::init<const T&>(), py::arg("other"), "A new handle to the same memory.")
      .def_property_readonly("__array_interface__", &array_interface)
      .def_property_readonly("shape", [](const T& t) { return shape_tuple(t.sizes()); })
      .def_property_readonly("dtype", &T::dtype)
      .def_property_readonly("ndim", &T::dim)
      .def("dim", &T::dim)
      .def("size", [](const T& t, py::object d) -> py::object {
             if (d.is_none()) return shape_tuple(t.sizes());
             return py::cast(t.size(d.cast<int64_t>()));
           }, py::arg("dim") = py::none())
      .def("stride", [](const T& t, py::object d) -> py::object {
             if (d.is_none()) return shape_tuple(t.strides());
             return py::cast(t.stride(d.cast<int64_t>()));
           }, py::arg("dim") = py::none())
      .def("numel", &T::numel)
      .def("element_size", &T::element_size)
      .def("is_contiguous", &T::is_contiguous)
      .def("contiguous", &T::contiguous)
      .def("clone", &T::clone)
      .def("to", [](const T& t, py::object dtype) { return t.to(dtype_arg(dtype)); }, py::arg("dtype"))
      .def("copy_", &T::copy_, py::arg("src"), py::return_value_policy::reference_internal)
      .def("item", &T::item)
      .def("view", &T::view, py::arg("shape"))
      .def("reshape", &T::reshape, py::arg("shape"))
      .def("permute", &T::permute, py::arg("dims"))
      .def("transpose", &T::transpose, py::arg("dim0"), py::arg("dim1"))
      .def("unsqueeze", &T::unsqueeze, py::arg("dim"))
      .def("squeeze", &T::squeeze, py::arg("dim"))
      .def("flip", &T::flip, py::arg("dims"))
      .def("_values", &T::to_vector, "Flat row-major values as floats (real parts).")
      .def_property("grad", &grad_of, [](T& t, py::object g) { t.mutable_grad() = g.is_none() ? T() : g.cast<T>(); })
      .def("numpy", [](py::object self) {
             numpy_typestr(self.cast<const T&>().dtype());  // bfloat16: TypeError, as torch's numpy()
             return py::module_::import("numpy").attr("asarray")(self);
           }, "The same memory as a numpy array (no copy).")
      .def("__array__", [](py::object self, py::object dtype) {
             numpy_typestr(self.cast<const T&>().dtype());
             py::object a = py::module_::import("numpy").attr("asarray")(self);
             return dtype.is_none() ? a : a.attr("astype")(dtype, py::arg("copy") = false);
           }, py::arg("dtype") = py::none())
      .def("__dlpack__", [](const T& t, py::object stream) {
             if (!stream.is_none()) throw py::buffer_error("__dlpack__: stream must be None on the CPU");
             return to_dlpack(t);
           }, py::arg("stream") = py::none())
      .def("__dlpack_device__", [](const T&) { return std::make_pair(static_cast<int>(kDLCPU), 0); })
      .def("__len__", [](const T& t) {
             if (t.dim() == 0) throw py::type_error("len() of a 0-d tensor");
             return t.size(0);
           })
      .def("__repr__", &T::to_string)
      .def("__str__", &T::to_string);

  m.def("from_numpy", &from_numpy, py::arg("ndarray"), "A tensor sharing the numpy array's memory (no copy).");
  m.def("from_dlpack", &from_dlpack, py::arg("ext_tensor"),
        "A tensor sharing the memory of a DLPack producer (a torch tensor, a numpy array) or capsule.");
  m.def("manual_seed", [](int64_t seed) { manual_seed(static_cast<uint64_t>(seed)); }, py::arg("seed"),
        "Seeds the default generator (torch.manual_seed; negative seeds wrap modulo 2**64).");
  m.def("initial_seed", [] { return initial_seed(); }, "The default generator's seed (torch.initial_seed).");
  m.def("_randn", [](const Shape& s, py::object dtype, Generator* g) { return randn(s, dtype_arg(dtype), g); },
        py::arg("size"), py::arg("dtype"), py::arg("generator"));
  m.def("_rand", [](const Shape& s, py::object dtype, Generator* g) { return rand(s, dtype_arg(dtype), g); },
        py::arg("size"), py::arg("dtype"), py::arg("generator"));
  m.def("_zeros", [](const Shape& s, py::object dtype) { return T::zeros(s, dtype_arg(dtype)); });
  m.def("_full", [](const Shape& s, double v, py::object dtype) { return T::full(s, v, dtype_arg(dtype)); });
  m.def("_arange", [](int64_t n, py::object dtype) { return T::arange(n, dtype_arg(dtype)); });
  m.def("_dtype_arg", [](py::object d) { return dtype_arg(d); });
}

}  // namespace convkit::python
