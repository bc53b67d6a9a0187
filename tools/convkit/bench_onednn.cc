#include "tools/convkit/bench_onednn.h"

#include <oneapi/dnnl/dnnl.hpp>
#include <type_traits>
#include <unordered_map>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "convkit/error.h"
#include "tools/convkit/bench.h"

namespace convkit::tool {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

// One engine and one stream for the whole process, as a framework would hold them:
// creating them per primitive would add their set-up cost to nothing we time, but
// would also keep extra OpenMP state alive.
struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};
Context& context() {
  static Context c;
  return c;
}

memory::dims dims_of(const Shape& s) { return memory::dims(s.begin(), s.end()); }

// The bench's dtypes in oneDNN's terms.
memory::data_type data_type_of(DType t) {
  if (t == kBFloat16) return memory::data_type::bf16;
  if (t == kFloat16) return memory::data_type::f16;
  CONVKIT_CHECK(t == kFloat32, "the oneDNN comparison takes float32, bfloat16 and float16, not ", dtype_name(t));
  return memory::data_type::f32;
}

tag plain_data_tag(std::size_t d) { return d == 1 ? tag::ncw : d == 2 ? tag::nchw : tag::ncdhw; }
tag plain_weight_tag(std::size_t d, bool grouped) {
  if (grouped) return d == 1 ? tag::goiw : d == 2 ? tag::goihw : tag::goidhw;
  return d == 1 ? tag::oiw : d == 2 ? tag::oihw : tag::oidhw;
}
// Deconvolution weights have oneDNN dims (O, I, *K) (O = the layer's output channels) but
// PyTorch stores ConvTranspose weights (C_in, C_out/groups, *K): "io" order.
tag transposed_weight_tag(std::size_t d, bool grouped) {
  if (grouped) return d == 1 ? tag::acbd : d == 2 ? tag::acbde : tag::acbdef;  // giow, giohw, giodhw
  return d == 1 ? tag::bac : d == 2 ? tag::bacd : tag::bacde;                   // iow, iohw, iodhw
}

// The primitive types of one family: convolution for plain layers, deconvolution for
// transposed ones (same descriptor signatures).
template <bool Transposed>
struct Family {
  using Fwd = std::conditional_t<Transposed, dnnl::deconvolution_forward, dnnl::convolution_forward>;
  using BwdData = std::conditional_t<Transposed, dnnl::deconvolution_backward_data, dnnl::convolution_backward_data>;
  using BwdWeights =
      std::conditional_t<Transposed, dnnl::deconvolution_backward_weights, dnnl::convolution_backward_weights>;
};

}  // namespace

struct OnednnConv::Impl {
  struct Output {
    memory mem;             // the primitive's (oneDNN-owned)
    memory::desc plain_md;  // convkit's layout, in float32 (what outputs() gives)
    Shape shape;
  };
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
  std::vector<Output> outputs;
  std::string impl;
  int64_t extra = 0;

  // Binds a user tensor as input `arg`: wrapped in place (oneDNN's handles take non-const
  // pointers but inputs are only read), or reordered once into the layout the primitive
  // wants, outside every timing.
  void input(int arg, const Tensor& t, const memory::desc& plain, const memory::desc& wanted) {
    Context& ctx = context();
    memory user(plain, ctx.engine, const_cast<void*>(t.const_data_ptr()));
    if (wanted == plain) {
      args[arg] = user;
      return;
    }
    memory m(wanted, ctx.engine);
    dnnl::reorder(user, m).execute(ctx.stream, user, m);
    ctx.stream.wait();
    extra += static_cast<int64_t>(wanted.get_size());
    args[arg] = m;
  }
  // A result `arg` in the primitive's layout; plain for onednn_nchw. plain32: the plain layout
  // in float32, which outputs() reorders it into.
  void output(int arg, const memory::desc& plain, const memory::desc& wanted, const memory::desc& plain32, Shape shape) {
    memory m(wanted, context().engine);
    if (!(wanted == plain)) extra += static_cast<int64_t>(wanted.get_size());
    args[arg] = m;
    outputs.push_back({m, plain32, std::move(shape)});
  }
  // A user-managed scratchpad makes its size visible for the memory column.
  template <class PD>
  void finish(const PD& pd) {
    impl = pd.impl_info_str();
    args[DNNL_ARG_SCRATCHPAD] = memory(pd.scratchpad_desc(), context().engine);
    extra += static_cast<int64_t>(pd.scratchpad_desc().get_size());
  }

  template <bool Transposed>
  void create(const BenchShape& s, BenchDirection dir, const BenchData& data, bool best, bool nhwc);
};

template <bool Transposed>
void OnednnConv::Impl::create(const BenchShape& s, BenchDirection dir, const BenchData& data, bool best, bool nhwc) {
  using F = Family<Transposed>;
  const dnnl::engine& eng = context().engine;
  const std::size_t d = s.dim();
  const bool grouped = s.groups > 1;
  // Every tensor of the row has one dtype (the bias too, as convkit's plans take it).
  const memory::data_type dt = data_type_of(data.x.dtype()), real32 = memory::data_type::f32;

  Shape xdims{s.n, s.c_in}, ydims{s.n, s.c_out};
  for (int64_t v : s.spatial) xdims.push_back(v);
  for (int64_t o : s.out_spatial()) ydims.push_back(o);
  // oneDNN wants grouped weights with an explicit leading groups dim; in the layer's terms
  // (O = output channels) the dims are the same for convolution and deconvolution.
  Shape wdims;
  if (grouped) wdims = {s.groups, s.c_out / s.groups, s.c_in / s.groups};
  else wdims = {s.c_out, s.c_in};
  for (int64_t k : s.kernel) wdims.push_back(k);

  // The data as the user holds it (nchw, or nhwc for channels-last rows); results are read back
  // in convkit's planar order (in_f32).
  const tag data_tag = nhwc ? tag::nhwc : plain_data_tag(d);
  const memory::desc plain_x(dims_of(xdims), dt, data_tag);
  const memory::desc plain_y(dims_of(ydims), dt, data_tag);
  const memory::desc plain_w(dims_of(wdims), dt,
                             Transposed ? transposed_weight_tag(d, grouped) : plain_weight_tag(d, grouped));
  const memory::desc bias_md({s.c_out}, dt, tag::x);
  // A result as outputs() gives it: float32, convkit's planar order.
  auto in_f32 = [&](const Shape& dims, tag t) { return memory::desc(dims_of(dims), real32, t); };
  const memory::desc x_md = best ? memory::desc(dims_of(xdims), dt, tag::any) : plain_x;
  const memory::desc y_md = best ? memory::desc(dims_of(ydims), dt, tag::any) : plain_y;
  // (On nhwc data oneDNN's direct kernels take only their blocked weights, which a framework
  // keeps once reordered: the weights' layout is theirs there too.)
  const memory::desc w_md = best || nhwc ? memory::desc(dims_of(wdims), dt, tag::any) : plain_w;

  // oneDNN counts dilation from 0 (0 = dense kernel). PyTorch pads both sides by p; oneDNN
  // checks (I + l + r - extent) / stride + 1 == O with integer division, so r = p fits too
  // (and r = p - output_padding gives a transposed layer its extra outputs at the end).
  memory::dims strides = dims_of(s.stride), dil, pad_l = dims_of(s.padding), pad_r = pad_l;
  for (int64_t v : s.dilation) dil.push_back(v - 1);
  for (std::size_t i = 0; i < s.output_padding.size() && Transposed; ++i) pad_r[i] -= s.output_padding[i];
  const dnnl::algorithm alg = Transposed ? dnnl::algorithm::deconvolution_direct
                              : best     ? dnnl::algorithm::convolution_auto
                                         : dnnl::algorithm::convolution_direct;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

  if (dir == BenchDirection::fwd) {
    const typename F::Fwd::desc desc(dnnl::prop_kind::forward_inference, alg, x_md, w_md, bias_md, y_md, strides, dil,
                                     pad_l, pad_r);
    const typename F::Fwd::primitive_desc pd(desc, attr, eng);
    prim = typename F::Fwd(pd);
    finish(pd);
    input(DNNL_ARG_SRC, data.x, plain_x, pd.src_desc());
    input(DNNL_ARG_WEIGHTS, data.w, plain_w, pd.weights_desc());
    input(DNNL_ARG_BIAS, data.b, bias_md, pd.bias_desc());
    output(DNNL_ARG_DST, plain_y, pd.dst_desc(), in_f32(ydims, plain_data_tag(d)), ydims);
    return;
  }
  // Backward primitives need the forward_training primitive descriptor as a hint.
  const typename F::Fwd::desc fwd_desc(dnnl::prop_kind::forward_training, alg, x_md, w_md, bias_md, y_md, strides, dil,
                                       pad_l, pad_r);
  const typename F::Fwd::primitive_desc hint(fwd_desc, eng);
  if (dir == BenchDirection::bwd_data) {
    const typename F::BwdData::desc desc(alg, x_md, w_md, y_md, strides, dil, pad_l, pad_r);
    const typename F::BwdData::primitive_desc pd(desc, attr, eng, hint);
    prim = typename F::BwdData(pd);
    finish(pd);
    input(DNNL_ARG_DIFF_DST, data.dy, plain_y, pd.diff_dst_desc());
    input(DNNL_ARG_WEIGHTS, data.w, plain_w, pd.weights_desc());
    output(DNNL_ARG_DIFF_SRC, plain_x, pd.diff_src_desc(), in_f32(xdims, plain_data_tag(d)), xdims);
  } else {
    const typename F::BwdWeights::desc desc(alg, x_md, w_md, bias_md, y_md, strides, dil, pad_l, pad_r);
    const typename F::BwdWeights::primitive_desc pd(desc, attr, eng, hint);
    prim = typename F::BwdWeights(pd);
    finish(pd);
    input(DNNL_ARG_SRC, data.x, plain_x, pd.src_desc());
    input(DNNL_ARG_DIFF_DST, data.dy, plain_y, pd.diff_dst_desc());
    const tag wtag = Transposed ? transposed_weight_tag(d, grouped) : plain_weight_tag(d, grouped);
    output(DNNL_ARG_DIFF_WEIGHTS, plain_w, pd.diff_weights_desc(), in_f32(wdims, wtag), data.w.sizes());
    output(DNNL_ARG_DIFF_BIAS, bias_md, pd.diff_bias_desc(), in_f32({s.c_out}, tag::x), {s.c_out});
  }
}

OnednnConv::OnednnConv(const BenchShape& s, BenchDirection dir, const BenchData& data, bool best, bool nhwc)
    : impl_(std::make_unique<Impl>()) {
  if (s.transposed) impl_->create<true>(s, dir, data, best, nhwc);
  else impl_->create<false>(s, dir, data, best, nhwc);
}

OnednnConv::~OnednnConv() = default;

void OnednnConv::run() {
  Context& ctx = context();
  impl_->prim.execute(ctx.stream, impl_->args);
  ctx.stream.wait();
}

std::vector<Tensor> OnednnConv::outputs() const {
  Context& ctx = context();
  std::vector<Tensor> out;
  for (const Impl::Output& o : impl_->outputs) {
    Tensor y = Tensor::empty(o.shape, kFloat32);
    memory plain(o.plain_md, ctx.engine, y.data_ptr());
    memory src = o.mem;  // a handle: execute() takes non-const references
    dnnl::reorder(src, plain).execute(ctx.stream, src, plain);
    ctx.stream.wait();
    out.push_back(y);
  }
  return out;
}

int64_t OnednnConv::extra_bytes() const { return impl_->extra; }
std::string OnednnConv::impl_name() const { return impl_->impl; }

void set_onednn_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  const char* runtime = v->cpu_runtime == DNNL_RUNTIME_OMP   ? "OpenMP"
                        : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                        : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential"
                                                             : "other";
  return internal::str_cat("oneDNN ", v->major, ".", v->minor, ".", v->patch, " (CPU runtime ", runtime, ")");
}

}  // namespace convkit::tool
