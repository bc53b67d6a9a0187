"""Gradients of generated configurations: hypothesis draws layers (rank 1-3, stride, padding
as ints, tuples or strings, dilation, groups, bias, every padding mode; transposed layers with
output_padding or output_size) and convkit.torch must match torch.nn's outputs and every
gradient."""
import copy

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convkit.torch as ct
from conftest import gradients_match


@st.composite
def layers(draw):
    rank = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    groups = draw(st.sampled_from([1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    tup = lambda lo, hi: draw(st.one_of(st.integers(lo, hi), st.tuples(*[st.integers(lo, hi)] * rank)))  # noqa: E731
    kernel, stride, dilation = tup(1, 3), tup(1, 3), tup(1, 2)
    size = [draw(st.integers(4, 8)) for _ in range(rank)]
    batch = draw(st.sampled_from([None, 1, 2]))  # None: unbatched
    kw = dict(kernel_size=kernel, stride=stride, dilation=dilation, groups=groups, bias=draw(st.booleans()))
    if transposed:
        kw["padding"] = tup(0, 1)
        s, d = (stride,) * rank if isinstance(stride, int) else stride, (dilation,) * rank if isinstance(dilation, int) else dilation
        # output_padding below max(stride, dilation), as torch requires
        kw["output_padding"] = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
        use_size = draw(st.booleans())
        name = f"ConvTranspose{rank}d"
    else:
        padding = draw(st.one_of(st.just("same"), st.just("valid"), st.integers(0, 2)))
        if padding == "same":
            kw["stride"] = 1  # torch refuses 'same' with strides
        kw["padding"] = padding
        kw["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
        use_size = False
        name = f"Conv{rank}d"
    shape = ([batch] if batch else []) + [c_in] + size
    return name, c_in, c_out, kw, shape, use_size


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers(), st.integers(0, 2**31 - 1))
def test_generated_layers_match_torch_nn(layer, seed):
    name, c_in, c_out, kw, shape, use_size = layer
    rank = int(name[-2])
    unbatched = len(shape) == rank + 1
    torch.manual_seed(seed)

    def torch_run(x, **call):
        # torch 1.13 refuses unbatched circular padding, which convkit accepts: torch computes
        # unbatched layers as a batch of one.
        y = theirs(x.unsqueeze(0) if unbatched else x, **call)
        return y.squeeze(0) if unbatched else y

    try:
        theirs = getattr(torch.nn, name)(c_in, c_out, **kw)
        x2 = torch.randn(*shape, requires_grad=True)
        y2 = torch_run(x2)
    except (RuntimeError, ValueError):
        return  # torch refuses the layer (input too small, padding too big for reflect, ...)
    output_size = None
    if use_size:
        # The largest output size torch accepts: output_padding = stride - 1 per dim
        # (it replaces the layer's own output_padding).
        s = theirs.stride
        output_size = [n + si - 1 - op for n, si, op in zip(y2.shape[-len(s):], s, theirs.output_padding)]
        try:
            y2 = torch_run(x2, output_size=output_size)
        except (RuntimeError, ValueError):
            return
    ours = ct.convert(copy.deepcopy(theirs))
    x1 = x2.detach().clone().requires_grad_()
    y1 = ours(x1, output_size=output_size) if use_size else ours(x1)
    gradients_match(ours, theirs, x1, x2, y1, y2)
