"""Conv1d/2d/3d and ConvTranspose1d/2d/3d with torch.nn's constructors, defaults and printing.

Weights are initialized as PyTorch initializes them, bit for bit from the same seed. Besides
forward (``m(x)``) the modules have ``backward(x, grad_output)``, which adds the parameters'
gradients into ``m.weight.grad`` / ``m.bias.grad`` and returns the input's gradient.
"""

import numbers as _numbers

import numpy as _np

from .. import _convkit
from .._convkit import Tensor
from . import functional  # noqa: F401

__all__ = ["Parameter", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
           "functional"]


class Parameter(Tensor):
    """A module's weight or bias: a Tensor (sharing the module's memory) that prints as torch's."""

    def __repr__(self):
        text = Tensor.__repr__(self)
        return "Parameter containing:\n" + text[:-1] + ", requires_grad=True)"

    __str__ = __repr__


def _as_tensor(value, what):
    if isinstance(value, Tensor):
        return value
    if isinstance(value, _np.ndarray):
        return _convkit.from_numpy(value)
    raise TypeError(f"cannot assign '{type(value).__name__}' as {what} (a convkit Tensor, a numpy array or None "
                    "expected)")


def _ints(value, rank, name):
    """An int-or-tuple argument as a list: an int repeats; a sequence stays as given (its length is
    checked by the C++ options, with PyTorch's message)."""
    if isinstance(value, _numbers.Integral) and not isinstance(value, bool):
        return [int(value)] * rank
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {type(value).__name__}") from None
    for v in items:
        if not isinstance(v, _numbers.Integral) or isinstance(v, bool):
            raise TypeError(f"{name} must be an int or a tuple of ints, got an element of type {type(v).__name__}")
    return [int(v) for v in items]


def _padding(padding, rank):
    """(kind, lo, hi): an int or tuple ('explicit'), a string ('same', 'valid', 'causal'), or
    (lo, hi) pairs per dim ('pairs')."""
    if isinstance(padding, str):
        if padding not in ("same", "valid", "causal"):
            raise ValueError(f"Invalid padding string '{padding}', should be one of 'valid', 'same', 'causal' "
                             "(or give an int, a tuple, or (lo, hi) pairs)")
        return padding, [], []
    if not isinstance(padding, _numbers.Integral):
        items = list(padding)
        if items and all(isinstance(p, (tuple, list)) for p in items):
            for p in items:
                if len(p) != 2:
                    raise ValueError(f"padding pairs must be (lo, hi), got {tuple(p)}")
            return "pairs", [int(p[0]) for p in items], [int(p[1]) for p in items]
    lo = _ints(padding, rank, "padding")
    return "explicit", lo, lo


def _check_device(device, what):
    if device is not None and str(device) != "cpu":
        raise RuntimeError(f"{what}: device '{device}' is not supported: convkit computes on the CPU only "
                           "(device='cpu')")


def _tuple_repr(values):
    return "(" + ", ".join(str(v) for v in values) + ("," if len(values) == 1 else "") + ")"


class _Module:
    """What Conv and ConvTranspose share: parameters, gradients, printing."""

    _impl = None

    @property
    def weight(self):
        return Parameter(self._impl.weight)

    @weight.setter
    def weight(self, value):
        self._impl.weight = _as_tensor(value, "weight")

    @property
    def bias(self):
        b = self._impl.bias
        return None if b is None else Parameter(b)

    @bias.setter
    def bias(self, value):
        self._impl.bias = None if value is None else _as_tensor(value, "bias")

    def parameters(self):
        """The weight, then the bias if there is one (torch's order)."""
        yield self.weight
        if self._impl.bias is not None:
            yield self.bias

    def named_parameters(self):
        yield "weight", self.weight
        if self._impl.bias is not None:
            yield "bias", self.bias

    def backward(self, input, grad_output):
        """The gradients of forward(input) for grad_output: adds into weight.grad and bias.grad
        (accumulating, as autograd does) and returns the input's gradient."""
        return self._impl.backward(input, grad_output)

    def zero_grad(self, set_to_none=True):
        """Clears weight.grad and bias.grad (set_to_none=False: fills them with zeros instead)."""
        if set_to_none:
            self._impl.zero_grad()
            return
        for p in self.parameters():
            if p.grad is not None:
                p.grad.copy_(_convkit._zeros(list(p.grad.shape), p.grad.dtype))

    def reset_parameters(self, generator=None):
        """Draws weight and bias again, as the constructor did."""
        self._impl.reset_parameters(generator)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={_tuple_repr(self.kernel_size)}, " \
            f"stride={_tuple_repr(self.stride)}"
        if isinstance(self.padding, str):
            s += f", padding={self.padding}"
        elif any(p != 0 for p in _flat(self.padding)):
            s += f", padding={_padding_repr(self.padding)}"
        if any(d != 1 for d in self.dilation):
            s += f", dilation={_tuple_repr(self.dilation)}"
        if any(p != 0 for p in getattr(self, "output_padding", ())):
            s += f", output_padding={_tuple_repr(self.output_padding)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self._impl.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


def _flat(padding):
    for p in padding:
        if isinstance(p, (tuple, list)):
            yield from p
        else:
            yield p


def _padding_repr(padding):
    if padding and isinstance(padding[0], (tuple, list)):
        return "(" + ", ".join(_tuple_repr(p) for p in padding) + ")"
    return _tuple_repr(padding)


def _constructed(make):
    """torch.nn raises ValueError for bad constructor arguments; convkit's checks say what."""
    try:
        return make()
    except RuntimeError as e:
        raise ValueError(str(e)) from None


class _ConvNd(_Module):
    _rank = 0

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None, *, conv_mode="cross_correlation",
                 compute_mode="default", init="torch", algorithm="auto"):
        d = self._rank
        name = type(self).__name__
        _check_device(device, name)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = tuple(_ints(kernel_size, d, "kernel_size"))
        self.stride = tuple(_ints(stride, d, "stride"))
        self.dilation = tuple(_ints(dilation, d, "dilation"))
        kind, lo, hi = _padding(padding, d)
        self.padding = padding if isinstance(padding, str) else (
            tuple(zip(lo, hi)) if kind == "pairs" else tuple(lo))
        self.padding_mode, self.conv_mode, self.compute_mode = padding_mode, conv_mode, compute_mode
        impl_cls = getattr(_convkit, f"_Conv{d}d")
        self._impl = _constructed(lambda: impl_cls(
            in_channels, out_channels, list(self.kernel_size), list(self.stride), kind, lo, hi, list(self.dilation),
            groups, bool(bias), padding_mode, conv_mode, compute_mode, dtype, init, algorithm))

    def forward(self, input):
        """input: (N, C_in, *S) or unbatched (C_in, *S) of the module's dtype."""
        return self._impl.forward(input)

    def plan_algorithm(self):
        """The algorithm the cached plan uses ("none" before the first forward)."""
        return self._impl.plan_algorithm()


class _ConvTransposeNd(_Module):
    _rank = 0

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None, *, algorithm="auto"):
        d = self._rank
        name = type(self).__name__
        _check_device(device, name)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = tuple(_ints(kernel_size, d, "kernel_size"))
        self.stride = tuple(_ints(stride, d, "stride"))
        self.dilation = tuple(_ints(dilation, d, "dilation"))
        self.output_padding = tuple(_ints(output_padding, d, "output_padding"))
        kind, lo, hi = _padding(padding, d)
        self.padding = tuple(zip(lo, hi)) if kind == "pairs" else tuple(lo)
        self.padding_mode = padding_mode
        impl_cls = getattr(_convkit, f"_ConvTranspose{d}d")
        self._impl = _constructed(lambda: impl_cls(
            in_channels, out_channels, list(self.kernel_size), list(self.stride), kind, lo, hi,
            list(self.output_padding), groups, bool(bias), list(self.dilation), padding_mode, dtype, algorithm))

    def forward(self, input, output_size=None):
        """input: (N, C_in, *S) or unbatched; output_size: the output's spatial sizes (or its
        whole shape), which picks the output padding as torch does."""
        return self._impl.forward(input, [] if output_size is None else [int(s) for s in output_size])


class Conv1d(_ConvNd):
    """torch.nn.Conv1d: input (N, C_in, L) or (C_in, L)."""
    _rank = 1


class Conv2d(_ConvNd):
    """torch.nn.Conv2d: input (N, C_in, H, W) or (C_in, H, W)."""
    _rank = 2


class Conv3d(_ConvNd):
    """torch.nn.Conv3d: input (N, C_in, D, H, W) or (C_in, D, H, W)."""
    _rank = 3


class ConvTranspose1d(_ConvTransposeNd):
    """torch.nn.ConvTranspose1d: weight (C_in, C_out / groups, kL)."""
    _rank = 1


class ConvTranspose2d(_ConvTransposeNd):
    """torch.nn.ConvTranspose2d: weight (C_in, C_out / groups, kH, kW)."""
    _rank = 2


class ConvTranspose3d(_ConvTransposeNd):
    """torch.nn.ConvTranspose3d: weight (C_in, C_out / groups, kD, kH, kW)."""
    _rank = 3
