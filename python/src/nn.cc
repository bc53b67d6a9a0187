// ConvSpec with the functional entries, and the Conv / ConvTranspose module classes of each
// rank. Arguments arrive normalized by the Python layer (lists of ints, names as strings);
// every computation runs without the GIL.
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>

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

  // (Specs are taken by value: copied while the GIL is held, so no other thread edits them mid-call.)
  m.def("conv", [](const Tensor& x, const Tensor& w, const std::optional<Tensor>& b, ConvSpec s) {
          return F::conv(x, w, or_undefined(b), s);
        }, py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("spec"),
        py::call_guard<py::gil_scoped_release>());
  m.def("conv_backward", [](const Tensor& gy, const Tensor& x, const Tensor& w, ConvSpec s,
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
      .def("backward", [](const ConvPlan& p, const Tensor& x, const Tensor& gy, std::array<bool, 3> mask) {
             F::ConvGradients g;
             {
               py::gil_scoped_release nogil;
               g = p.backward(x, gy, mask);
             }
             return py::make_tuple(maybe(g.grad_input), maybe(g.grad_weight), maybe(g.grad_bias));
           }, py::arg("input"), py::arg("grad_output"), py::arg("output_mask") = std::array<bool, 3>{true, true, true},
           "(grad_input, grad_weight, grad_bias) of run(input) for grad_output, each None unless output_mask asks "
           "for it; the gradient plans are made on the first call and kept.")
      .def_property_readonly("input_shape", &ConvPlan::input_shape)
      .def_property_readonly("output_shape", &ConvPlan::output_shape)
      .def_property_readonly("algorithm", [](const ConvPlan& p) { return std::string(p.algorithm()); })
      .def_property_readonly("memory_bytes", &ConvPlan::memory_bytes);
  m.def("prepare", [](ConvSpec s, const Tensor& w, const std::optional<Tensor>& b, const Shape& input_shape) {
          return prepare(s, w, or_undefined(b), input_shape);
        }, py::arg("spec"), py::arg("weight"), py::arg("bias"), py::arg("input_shape"),
        py::call_guard<py::gil_scoped_release>());
  m.def("output_shape", [](const ConvSpec& s, const Shape& x, const Shape& w) { return output_shape(s, x, w); },
        py::arg("spec"), py::arg("input_shape"), py::arg("weight_shape"));
}

// A module as Python holds it. Python threads may call forward at once (it runs without the
// GIL, under a shared lock) while another assigns weight or bias or runs backward (exclusive,
// also waiting without the GIL): the lock keeps them from racing on the module's members. The
// parameters' gradient slots exist from the start, so every handle Python gets of a parameter
// shares its .grad with the module (as torch's Parameter objects do).
template <typename M>
struct Guarded {
  explicit Guarded(M module) : m(std::move(module)) { make_grad_slots(); }
  M m;
  mutable std::shared_mutex mutex;

  void make_grad_slots() {
    m.weight.mutable_grad();
    if (m.bias.defined()) m.bias.mutable_grad();
  }
  template <typename F>
  auto shared(F&& f) const {
    py::gil_scoped_release nogil;
    std::shared_lock<std::shared_mutex> lock(mutex);
    return f(m);
  }
  template <typename F>
  auto exclusive(F&& f) {
    py::gil_scoped_release nogil;
    std::unique_lock<std::shared_mutex> lock(mutex);
    return f(m);
  }
};

// The members both module kinds have: parameters, gradients, initialization.
template <typename M, typename Cls>
void bind_parameters(Cls& c) {
  using G = Guarded<M>;
  c.def_property("weight", [](const G& g) { return g.shared([](const M& m) { return m.weight; }); },
                 [](G& g, const Tensor& w) {
                   g.exclusive([&](M& m) {
                     m.set_weight(w);
                     m.weight.mutable_grad();
                   });
                 })
      .def_property("bias", [](const G& g) { return maybe(g.shared([](const M& m) { return m.bias; })); },
                    [](G& g, const std::optional<Tensor>& b) {
                      g.exclusive([&](M& m) {
                        m.set_bias(or_undefined(b));
                        if (m.bias.defined()) m.bias.mutable_grad();
                      });
                    })
      // backward adds into the parameters' gradients: exclusive, like any change of the module.
      .def("backward", [](G& g, const Tensor& x, const Tensor& gy) {
             return g.exclusive([&](M& m) { return m.backward(x, gy); });
           }, py::arg("input"), py::arg("grad_output"))
      .def("zero_grad", [](G& g) { g.exclusive([](M& m) { m.zero_grad(); }); })
      .def("reset_parameters", [](G& g, Generator* gen) { g.exclusive([&](M& m) { m.reset_parameters(gen); }); },
           py::arg("generator") = nullptr);
}

template <std::size_t D>
void bind_conv_module(py::module_& m) {
  using M = nn::ConvNdImpl<D>;
  using G = Guarded<M>;
  py::class_<G> c(m, ("_Conv" + std::to_string(D) + "d").c_str());
  c.def(py::init([](int64_t in, int64_t out, const Shape& k, const Shape& stride, const std::string& pad_kind,
                    const Shape& lo, const Shape& hi, const Shape& dilation, int64_t groups, bool bias,
                    const std::string& padding_mode, const std::string& conv_mode, const std::string& compute_mode,
                    const py::object& dtype, const std::string& init, const std::string& algorithm) {
          return std::make_unique<G>(M(nn::ConvOptions<D>(in, out, k)
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
                                           .algorithm(algorithm)));
        }))
      .def("forward", [](const G& g, const Tensor& x) { return g.shared([&](const M& m) { return m.forward(x); }); },
           py::arg("input"))
      .def("plan_algorithm", [](const G& g) { return std::string(g.m.plan_algorithm()); })
      .def("plan_memory_bytes", [](const G& g) { return g.m.plan_memory_bytes(); });
  bind_parameters<M>(c);
}

template <std::size_t D>
void bind_transpose_module(py::module_& m) {
  using M = nn::ConvTransposeNdImpl<D>;
  using G = Guarded<M>;
  py::class_<G> c(m, ("_ConvTranspose" + std::to_string(D) + "d").c_str());
  c.def(py::init([](int64_t in, int64_t out, const Shape& k, const Shape& stride, const std::string& pad_kind,
                    const Shape& lo, const Shape& hi, const Shape& output_padding, int64_t groups, bool bias,
                    const Shape& dilation, const std::string& padding_mode, const py::object& dtype,
                    const std::string& algorithm) {
          return std::make_unique<G>(M(nn::ConvTransposeOptions<D>(in, out, k)
                                           .stride(stride)
                                           .padding(padding_of<D>(pad_kind, lo, hi))
                                           .output_padding(output_padding)
                                           .groups(groups)
                                           .bias(bias)
                                           .dilation(dilation)
                                           .padding_mode(padding_mode)
                                           .dtype(dtype_arg(dtype))
                                           .algorithm(algorithm)));
        }))
      .def("forward", [](const G& g, const Tensor& x, const Shape& output_size) {
             return g.shared([&](const M& m) { return m.forward(x, output_size); });
           }, py::arg("input"), py::arg("output_size") = Shape{});
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
