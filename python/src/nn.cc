// ConvSpec with the functional entries, and the Conv / ConvTranspose module classes of each
// rank. Arguments arrive normalized by the Python layer (lists of ints, names as strings);
// every computation runs without the GIL.
#include <pybind11/stl.h>

#include <optional>

#include "bindings.h"

namespace convkit::python {

namespace {

using nn::PaddingKind;

const char* padding_kind_name(PaddingKind k) {
  switch (k) {
    case PaddingKind::Explicit: return "explicit";
    case PaddingKind::Pairs: return "pairs";
    case PaddingKind::Valid: return "valid";
    case PaddingKind::Same: return "same";
    case PaddingKind::Causal: return "causal";
  }
  return "explicit";
}

PaddingKind padding_kind_from(const std::string& s) {
  for (PaddingKind k : {PaddingKind::Explicit, PaddingKind::Pairs, PaddingKind::Valid, PaddingKind::Same,
                        PaddingKind::Causal})
    if (s == padding_kind_name(k)) return k;
  throw py::value_error("padding kind must be one of explicit, pairs, valid, same, causal; got '" + s + "'");
}

// Padding<D> from the normalized form: a kind and, for explicit and pairs, lo (and hi).
template <std::size_t D>
nn::Padding<D> padding_of(const std::string& kind, const Shape& lo, const Shape& hi) {
  const PaddingKind k = padding_kind_from(kind);
  if (k == PaddingKind::Explicit) return nn::Padding<D>(lo);
  if (k != PaddingKind::Pairs) return nn::Padding<D>(kind);
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (std::size_t i = 0; i < lo.size() && i < hi.size(); ++i) pairs.emplace_back(lo[i], hi[i]);
  return nn::Padding<D>(pairs);
}

py::object maybe(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }
Tensor or_undefined(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }

void bind_spec(py::module_& m) {
  py::class_<ConvSpec>(m, "ConvSpec", "Every argument of one (transposed) convolution, for any rank.")
      .def(py::init<>())
      .def_readwrite("rank", &ConvSpec::rank)
      .def_readwrite("transposed", &ConvSpec::transposed)
      .def_readwrite("stride", &ConvSpec::stride)
      .def_readwrite("dilation", &ConvSpec::dilation)
      .def_property("padding", [](const ConvSpec& s) { return std::string(padding_kind_name(s.padding)); },
                    [](ConvSpec& s, const std::string& k) { s.padding = padding_kind_from(k); })
      .def_readwrite("pad_lo", &ConvSpec::pad_lo)
      .def_readwrite("pad_hi", &ConvSpec::pad_hi)
      .def_readwrite("output_padding", &ConvSpec::output_padding)
      .def_readwrite("output_size", &ConvSpec::output_size)
      .def_readwrite("groups", &ConvSpec::groups)
      .def_property("padding_mode", [](const ConvSpec& s) { return std::string(name_of(s.padding_mode)); },
                    [](ConvSpec& s, const std::string& v) { s.padding_mode = padding_mode_from_name(v); })
      .def_property("conv_mode", [](const ConvSpec& s) { return std::string(name_of(s.conv_mode)); },
                    [](ConvSpec& s, const std::string& v) { s.conv_mode = conv_mode_from_name(v); })
      .def_property("compute_mode", [](const ConvSpec& s) { return std::string(name_of(s.compute_mode)); },
                    [](ConvSpec& s, const std::string& v) { s.compute_mode = compute_mode_from_name(v); })
      .def_readwrite("device", &ConvSpec::device)
      .def_property("algorithm", [](const ConvSpec& s) { return std::string(name_of(s.algorithm)); },
                    [](ConvSpec& s, const std::string& v) { s.algorithm = algorithm_from_name(v); });

  m.def("conv", [](const Tensor& x, const Tensor& w, const std::optional<Tensor>& b, const ConvSpec& s) {
          return F::conv(x, w, or_undefined(b), s);
        }, py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("spec"),
        py::call_guard<py::gil_scoped_release>());
  m.def("conv_backward", [](const Tensor& gy, const Tensor& x, const Tensor& w, const ConvSpec& s,
                            std::array<bool, 3> mask) {
          F::ConvGradients g;
          {
            py::gil_scoped_release nogil;
            g = F::conv_backward(gy, x, w, s, mask);
          }
          return py::make_tuple(maybe(g.grad_input), maybe(g.grad_weight), maybe(g.grad_bias));
        }, py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("spec"), py::arg("output_mask"));
  py::class_<ConvPlan>(m, "ConvPlan", "One layer prepared once (checked, weights packed); run() from any thread.")
      .def("run", &ConvPlan::run, py::arg("input"), py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("input_shape", &ConvPlan::input_shape)
      .def_property_readonly("output_shape", &ConvPlan::output_shape)
      .def_property_readonly("algorithm", [](const ConvPlan& p) { return std::string(p.algorithm()); })
      .def_property_readonly("memory_bytes", &ConvPlan::memory_bytes);
  m.def("prepare", [](const ConvSpec& s, const Tensor& w, const std::optional<Tensor>& b, const Shape& input_shape) {
          return prepare(s, w, or_undefined(b), input_shape);
        }, py::arg("spec"), py::arg("weight"), py::arg("bias"), py::arg("input_shape"),
        py::call_guard<py::gil_scoped_release>());
  m.def("output_shape", [](const ConvSpec& s, const Shape& x, const Shape& w) { return output_shape(s, x, w); },
        py::arg("spec"), py::arg("input_shape"), py::arg("weight_shape"));
}

// The members both module kinds have: parameters, gradients, initialization.
template <typename M, typename Cls>
void bind_parameters(Cls& c) {
  c.def_property("weight", [](const M& m) { return m.weight; }, [](M& m, const Tensor& w) { m.set_weight(w); })
      .def_property("bias", [](const M& m) { return maybe(m.bias); },
                    [](M& m, const std::optional<Tensor>& b) { m.set_bias(or_undefined(b)); })
      // (backward adds into the parameters' gradients: it keeps the GIL, like any module mutation)
      .def("backward", &M::backward, py::arg("input"), py::arg("grad_output"))
      .def("zero_grad", &M::zero_grad)
      .def("reset_parameters", &M::reset_parameters, py::arg("generator") = nullptr);
}

template <std::size_t D>
void bind_conv_module(py::module_& m) {
  using M = nn::ConvNdImpl<D>;
  py::class_<M> c(m, ("_Conv" + std::to_string(D) + "d").c_str());
  c.def(py::init([](int64_t in, int64_t out, const Shape& k, const Shape& stride, const std::string& pad_kind,
                    const Shape& lo, const Shape& hi, const Shape& dilation, int64_t groups, bool bias,
                    const std::string& padding_mode, const std::string& conv_mode, const std::string& compute_mode,
                    const py::object& dtype, const std::string& init, const std::string& algorithm) {
          return M(nn::ConvOptions<D>(in, out, k)
                       .stride(stride)
                       .padding(padding_of<D>(pad_kind, lo, hi))
                       .dilation(dilation)
                       .groups(groups)
                       .bias(bias)
                       .padding_mode(padding_mode)
                       .conv_mode(conv_mode)
                       .compute_mode(compute_mode)
                       .dtype(dtype_arg(dtype))
                       .init(init)
                       .algorithm(algorithm));
        }))
      .def("forward", &M::forward, py::arg("input"), py::call_guard<py::gil_scoped_release>())
      .def("plan_algorithm", &M::plan_algorithm)
      .def("plan_memory_bytes", &M::plan_memory_bytes);
  bind_parameters<M>(c);
}

template <std::size_t D>
void bind_transpose_module(py::module_& m) {
  using M = nn::ConvTransposeNdImpl<D>;
  py::class_<M> c(m, ("_ConvTranspose" + std::to_string(D) + "d").c_str());
  c.def(py::init([](int64_t in, int64_t out, const Shape& k, const Shape& stride, const std::string& pad_kind,
                    const Shape& lo, const Shape& hi, const Shape& output_padding, int64_t groups, bool bias,
                    const Shape& dilation, const std::string& padding_mode, const py::object& dtype,
                    const std::string& algorithm) {
          return M(nn::ConvTransposeOptions<D>(in, out, k)
                       .stride(stride)
                       .padding(padding_of<D>(pad_kind, lo, hi))
                       .output_padding(output_padding)
                       .groups(groups)
                       .bias(bias)
                       .dilation(dilation)
                       .padding_mode(padding_mode)
                       .dtype(dtype_arg(dtype))
                       .algorithm(algorithm));
        }))
      .def("forward", &M::forward, py::arg("input"), py::arg("output_size") = Shape{},
           py::call_guard<py::gil_scoped_release>());
  bind_parameters<M>(c);
}

}  // namespace

void bind_nn(py::module_& m) {
  bind_spec(m);
  bind_conv_module<1>(m);
  bind_conv_module<2>(m);
  bind_conv_module<3>(m);
  bind_transpose_module<1>(m);
  bind_transpose_module<2>(m);
  bind_transpose_module<3>(m);
}

}  // namespace convkit::python
