#include "tools/convkit/bench_onednn.h"

#include <oneapi/dnnl/dnnl.hpp>

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

tag plain_data_tag(std::size_t d) { return d == 1 ? tag::ncw : d == 2 ? tag::nchw : tag::ncdhw; }
tag plain_weight_tag(std::size_t d, bool grouped) {
  if (grouped) return d == 1 ? tag::goiw : d == 2 ? tag::goihw : tag::goidhw;
  return d == 1 ? tag::oiw : d == 2 ? tag::oihw : tag::oidhw;
}

}  // namespace

struct OnednnConv::Impl {
  dnnl::convolution_forward conv;
  memory src, weights, bias, dst, scratchpad;
  memory::desc plain_dst_md;
  Shape out_shape;
  std::string impl;
  int64_t extra = 0;
};

OnednnConv::OnednnConv(const BenchShape& s, const Tensor& x, const Tensor& w, const Tensor& b, bool best)
    : impl_(std::make_unique<Impl>()) {
  Context& ctx = context();
  const std::size_t d = s.dim();
  const bool grouped = s.groups > 1;
  const auto f32 = memory::data_type::f32;

  Shape out{s.n, s.c_out};
  for (int64_t o : s.out_spatial()) out.push_back(o);
  impl_->out_shape = out;
  Shape wdims;  // oneDNN wants grouped weights with an explicit leading groups dim
  if (grouped) wdims = {s.groups, s.c_out / s.groups, s.c_in / s.groups};
  else wdims = {s.c_out, s.c_in};
  for (int64_t k : s.kernel) wdims.push_back(k);

  const memory::desc plain_src(dims_of(x.sizes()), f32, plain_data_tag(d));
  const memory::desc plain_w(dims_of(wdims), f32, plain_weight_tag(d, grouped));
  const memory::desc bias_md({s.c_out}, f32, tag::x);
  impl_->plain_dst_md = memory::desc(dims_of(out), f32, plain_data_tag(d));

  // oneDNN counts dilation from 0 (0 = dense kernel). PyTorch pads both sides by p; oneDNN
  // checks (I + l + r - extent) / stride + 1 == O with integer division, so r = p fits too.
  memory::dims strides = dims_of(s.stride), dil, pad = dims_of(s.padding);
  for (int64_t v : s.dilation) dil.push_back(v - 1);

  const memory::desc any_src(dims_of(x.sizes()), f32, tag::any);
  const memory::desc any_w(dims_of(wdims), f32, tag::any);
  const memory::desc any_dst(dims_of(out), f32, tag::any);
  const dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_inference,
      best ? dnnl::algorithm::convolution_auto : dnnl::algorithm::convolution_direct, best ? any_src : plain_src,
      best ? any_w : plain_w, bias_md, best ? any_dst : impl_->plain_dst_md, strides, dil, pad, pad);
  // A user-managed scratchpad makes its size visible for the memory column.
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::convolution_forward::primitive_desc pd(desc, attr, ctx.engine);
  impl_->impl = pd.impl_info_str();
  impl_->conv = dnnl::convolution_forward(pd);
  impl_->scratchpad = memory(pd.scratchpad_desc(), ctx.engine);
  impl_->extra = static_cast<int64_t>(pd.scratchpad_desc().get_size());

  // The user's tensors, wrapped without copies. oneDNN's handles take non-const pointers but
  // only read src/weights/bias.
  memory user_src(plain_src, ctx.engine, const_cast<void*>(x.const_data_ptr()));
  memory user_w(plain_w, ctx.engine, const_cast<void*>(w.const_data_ptr()));
  impl_->bias = memory(bias_md, ctx.engine, const_cast<void*>(b.const_data_ptr()));

  // Reorders into the primitive's layouts happen here, once, outside every timing.
  auto adopt = [&](memory& user, const memory::desc& wanted) {
    if (wanted == user.get_desc()) return user;
    memory m(wanted, ctx.engine);
    dnnl::reorder(user, m).execute(ctx.stream, user, m);
    ctx.stream.wait();
    impl_->extra += static_cast<int64_t>(wanted.get_size());
    return m;
  };
  impl_->src = adopt(user_src, pd.src_desc());
  impl_->weights = adopt(user_w, pd.weights_desc());
  impl_->dst = memory(pd.dst_desc(), ctx.engine);  // oneDNN-owned; plain for onednn_nchw
  if (!(pd.dst_desc() == impl_->plain_dst_md)) impl_->extra += static_cast<int64_t>(pd.dst_desc().get_size());
}

OnednnConv::~OnednnConv() = default;

void OnednnConv::run() {
  Context& ctx = context();
  impl_->conv.execute(ctx.stream, {{DNNL_ARG_SRC, impl_->src},
                                   {DNNL_ARG_WEIGHTS, impl_->weights},
                                   {DNNL_ARG_BIAS, impl_->bias},
                                   {DNNL_ARG_DST, impl_->dst},
                                   {DNNL_ARG_SCRATCHPAD, impl_->scratchpad}});
  ctx.stream.wait();
}

Tensor OnednnConv::output() const {
  Context& ctx = context();
  Tensor y = Tensor::empty(impl_->out_shape, kFloat32);
  memory plain(impl_->plain_dst_md, ctx.engine, y.data_ptr());
  dnnl::reorder(impl_->dst, plain).execute(ctx.stream, impl_->dst, plain);
  ctx.stream.wait();
  return y;
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
