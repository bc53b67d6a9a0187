"""convkit's kernels inside PyTorch models.

``convkit.torch.Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d`` are the torch.nn classes themselves
(same constructors, parameters, state_dict keys, printing) whose forward and backward run
convkit: the torch tensors' memory is handed over through DLPack, without copies for strided
float tensors, and the results come back the same way. Autograd, optimizers and
torch.distributed (DistributedDataParallel) work as with torch.nn::

    import convkit.torch
    model = convkit.torch.convert(model)   # every torch.nn conv layer of the model, in place
"""

import weakref as _weakref

import torch as _torch
import torch.nn as _tnn

from . import _convkit

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "convert",
           "release_plans", "conv"]


def _to_convkit(t):
    """A torch tensor's memory as a convkit tensor (no copy; conjugate and negative views are
    resolved first, since DLPack cannot carry them)."""
    t = t.detach()
    if t.is_conj():
        t = t.resolve_conj()
    if t.is_neg():
        t = t.resolve_neg()
    return _convkit.from_dlpack(t)


def _to_torch(t):
    return None if t is None else _torch.from_dlpack(t)


class _Conv(_torch.autograd.Function):
    """y = conv(x, weight, bias) as a ConvSpec says (through `plan` when given: a ConvPlan of the
    same weight, bias and input shape, whose backward keeps its gradient plans); backward is
    convkit's conv_backward otherwise."""

    @staticmethod
    def forward(ctx, x, weight, bias, spec, plan=None):
        ctx.spec = spec
        ctx.plan = plan
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight)
        if plan is not None:
            return _to_torch(plan.run(_to_convkit(x)))
        b = None if bias is None else _to_convkit(bias)
        return _to_torch(_convkit.conv(_to_convkit(x), _to_convkit(weight), b, spec))

    @staticmethod
    @_torch.autograd.function.once_differentiable  # (a second derivative raises a clear error)
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        mask = [bool(need[0]), bool(need[1]), bool(ctx.has_bias and need[2])]
        # autograd often hands over an expanded gradient (stride 0, from y.sum()): torch's own
        # copy makes it dense fastest.
        gy = _to_convkit(grad_output.contiguous())
        if ctx.plan is not None:
            gx, gw, gb = ctx.plan.backward(_to_convkit(x), gy, mask)
        else:
            gx, gw, gb = _convkit.conv_backward(gy, _to_convkit(x), _to_convkit(weight), ctx.spec, mask)
        return _to_torch(gx), _to_torch(gw), _to_torch(gb), None, None


# Each prepacking layer's plan and what it was made for. torch bumps a tensor's _version on every
# in-place write through autograd's view of it (an optimizer step, copy_, load_state_dict), so a
# plan is reused while the weight, the bias, the input shape and the arguments stay the same.
# Writes through .data or through a numpy/DLPack view of the weight are not counted by torch:
# hence prepacking is the caller's choice (convert(..., prepack=True)), as torch's own
# prepacking (to_mkldnn) is. (Kept beside the module, not in it, so that copying or pickling a
# module never meets a plan.)
_PLANS = _weakref.WeakKeyDictionary()


def _state(t):
    return None if t is None else (t.data_ptr(), t._version, tuple(t.shape), t.dtype)


def _planned(module, spec_key, spec, x, weight, bias):
    if not getattr(module, "convkit_prepack", False) or weight.is_inference() or \
            (bias is not None and bias.is_inference()):
        return None  # (inference-mode tensors have no version counter)
    key = (spec_key, tuple(x.shape), x.dtype, _state(weight), _state(bias))
    cached = _PLANS.get(module)
    # The tensors themselves must be the same objects too (weakly held): a new tensor may get a
    # freed one's address and version number.
    if cached is not None and cached[0] == key and cached[2]() is weight and \
            (bias is None or cached[3]() is bias):
        return cached[1]
    b = None if bias is None else _to_convkit(bias)
    plan = _convkit.prepare(spec, _to_convkit(weight), b, list(x.shape))
    _PLANS[module] = (key, plan, _weakref.ref(weight), _weakref.ref(bias) if bias is not None else None)
    return plan


def _spec(rank, stride, padding, dilation, groups, padding_mode="zeros", transposed=False, output_padding=None):
    s = _convkit.ConvSpec()
    s.rank = rank
    s.transposed = transposed
    s.stride = list(stride)
    s.dilation = list(dilation)
    if isinstance(padding, str):
        s.padding = padding
    else:
        s.pad_lo = list(padding)
    s.groups = groups
    s.padding_mode = padding_mode
    if output_padding is not None:
        s.output_padding = list(output_padding)
    return s


def conv(input, weight, bias, spec):
    """F.convNd / F.conv_transposeNd on torch tensors as a convkit ConvSpec describes, with
    autograd."""
    return _Conv.apply(input, weight, bias, spec)


class _ConvMixin:
    """torch.nn's _ConvNd with convkit computing: the spec comes from the module's attributes, so
    every argument torch.nn accepts (padding strings, padding modes) means what it means there."""

    _rank = 0

    def _conv_forward(self, input, weight, bias):
        key = (self.stride, self.padding, self.dilation, self.groups, self.padding_mode)
        spec = _spec(self._rank, self.stride, self.padding, self.dilation, self.groups, self.padding_mode)
        return _Conv.apply(input, weight, bias, spec, _planned(self, key, spec, input, weight, bias))


class _ConvTransposeMixin:
    _rank = 0

    def forward(self, input, output_size=None):
        if self.padding_mode != "zeros":
            raise ValueError(f"Only `zeros` padding mode is supported for {type(self).__name__}")
        # torch's own rule (and messages) for output_size -> output_padding.
        output_padding = self._output_padding(input, output_size, self.stride, self.padding, self.kernel_size,
                                              self._rank, self.dilation)
        spec = _spec(self._rank, self.stride, self.padding, self.dilation, self.groups, transposed=True,
                     output_padding=output_padding)
        key = (self.stride, self.padding, self.dilation, self.groups, tuple(output_padding))
        return _Conv.apply(input, self.weight, self.bias, spec,
                           _planned(self, key, spec, input, self.weight, self.bias))


class Conv1d(_ConvMixin, _tnn.Conv1d):
    """torch.nn.Conv1d computed by convkit."""
    _rank = 1


class Conv2d(_ConvMixin, _tnn.Conv2d):
    """torch.nn.Conv2d computed by convkit."""
    _rank = 2


class Conv3d(_ConvMixin, _tnn.Conv3d):
    """torch.nn.Conv3d computed by convkit."""
    _rank = 3


class ConvTranspose1d(_ConvTransposeMixin, _tnn.ConvTranspose1d):
    """torch.nn.ConvTranspose1d computed by convkit."""
    _rank = 1


class ConvTranspose2d(_ConvTransposeMixin, _tnn.ConvTranspose2d):
    """torch.nn.ConvTranspose2d computed by convkit."""
    _rank = 2


class ConvTranspose3d(_ConvTransposeMixin, _tnn.ConvTranspose3d):
    """torch.nn.ConvTranspose3d computed by convkit."""
    _rank = 3


_REPLACEMENTS = {
    _tnn.Conv1d: Conv1d, _tnn.Conv2d: Conv2d, _tnn.Conv3d: Conv3d,
    _tnn.ConvTranspose1d: ConvTranspose1d, _tnn.ConvTranspose2d: ConvTranspose2d,
    _tnn.ConvTranspose3d: ConvTranspose3d,
}


def convert(model, prepack=False):
    """Makes every torch.nn Conv1d/2d/3d and ConvTranspose1d/2d/3d of `model` (the model itself
    included) compute with convkit, in place: each keeps its parameters, buffers, hooks and
    state_dict keys; only its class changes. Returns the model.

    prepack=True keeps each layer's weights packed between calls (faster forwards, as for
    inference) and repacks when torch sees them change: an optimizer step, copy_,
    load_state_dict. Writes that torch does not see (through .data, or through a numpy or DLPack
    view of a weight) are then not seen either: call release_plans(model) after them. A layer's
    `convkit_prepack` attribute switches it alone."""
    for m in model.modules():
        replacement = _REPLACEMENTS.get(type(m))
        if replacement is not None:
            m.__class__ = replacement
        if isinstance(m, (_ConvMixin, _ConvTransposeMixin)):
            m.convkit_prepack = bool(prepack)
    return model


def release_plans(model):
    """Drops the packed weights of every convkit layer of `model`; the next forward packs again."""
    for m in model.modules():
        _PLANS.pop(m, None)
