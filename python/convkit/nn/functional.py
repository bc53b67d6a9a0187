"""torch.nn.functional's convolutions: conv1d/2d/3d and conv_transpose1d/2d/3d with torch's
signatures, plus convkit's padding_mode (and MegEngine's conv_mode / compute_mode) keywords."""

from .. import _convkit

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "conv_backward"]


def _spec(rank, transposed, stride, padding, dilation, groups, **extra):
    from . import _ints, _padding  # (the module-level helpers of convkit.nn)
    s = _convkit.ConvSpec()
    s.rank = rank
    s.transposed = transposed
    s.stride = _ints(stride, rank, "stride")
    s.dilation = _ints(dilation, rank, "dilation")
    kind, lo, hi = _padding(padding, rank)
    s.padding = kind
    s.pad_lo = lo
    s.pad_hi = hi if kind == "pairs" else []
    s.groups = int(groups)
    for key, value in extra.items():
        setattr(s, key, value)
    return s


def _conv(rank, input, weight, bias, stride, padding, dilation, groups, padding_mode, conv_mode, compute_mode):
    s = _spec(rank, False, stride, padding, dilation, groups, padding_mode=padding_mode, conv_mode=conv_mode,
              compute_mode=compute_mode)
    return _convkit.conv(input, weight, bias, s)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros",
           conv_mode="cross_correlation", compute_mode="default"):
    """input (N, C_in, L) or (C_in, L); weight (C_out, C_in / groups, kL) or MegEngine's
    (groups, C_out / groups, C_in / groups, kL); padding an int, a tuple, 'same', 'valid',
    'causal' or (lo, hi) pairs."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups, padding_mode, conv_mode, compute_mode)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros",
           conv_mode="cross_correlation", compute_mode="default"):
    """As conv1d with (H, W) spatial dims."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups, padding_mode, conv_mode, compute_mode)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros",
           conv_mode="cross_correlation", compute_mode="default"):
    """As conv1d with (D, H, W) spatial dims."""
    return _conv(3, input, weight, bias, stride, padding, dilation, groups, padding_mode, conv_mode, compute_mode)


def _conv_transpose(rank, input, weight, bias, stride, padding, output_padding, groups, dilation):
    from . import _ints
    s = _spec(rank, True, stride, padding, dilation, groups)
    s.output_padding = _ints(output_padding, rank, "output_padding")
    return _convkit.conv(input, weight, bias, s)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """input (N, C_in, L) or (C_in, L); weight (C_in, C_out / groups, kL)."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """As conv_transpose1d with (H, W) spatial dims."""
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """As conv_transpose1d with (D, H, W) spatial dims."""
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_backward(grad_output, input, weight, spec, output_mask=(True, True, True)):
    """aten::convolution_backward on a ConvSpec: (grad_input, grad_weight, grad_bias), each None
    unless requested."""
    return _convkit.conv_backward(grad_output, input, weight, spec, list(output_mask))
