"""convkit: convolution layers with PyTorch's semantics, for CPUs.

``import convkit as torch`` runs the torch.nn convolution examples unchanged::

    import convkit as torch
    import convkit.nn as nn
    torch.manual_seed(666)
    m = nn.Conv1d(16, 33, 3, stride=2)
    y = m(torch.randn(20, 16, 50))      # (20, 33, 24)

Tensors share memory with numpy (``from_numpy``, ``numpy()``) and with torch through DLPack
(``from_dlpack``, ``torch.from_dlpack(t)``).
"""

import numbers as _numbers

import numpy as _np

from ._convkit import (  # noqa: F401  (the public names)
    Generator,
    Tensor,
    bfloat16,
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    dtype,
    float,
    float16,
    float32,
    float64,
    from_dlpack,
    from_numpy,
    get_num_threads,
    half,
    initial_seed,
    manual_seed,
    set_num_threads,
)
from . import _convkit

__version__ = _convkit.version()

__all__ = [
    "Tensor", "Generator", "dtype", "float32", "float64", "float16", "bfloat16", "complex64", "complex128",
    "tensor", "from_numpy", "from_dlpack", "manual_seed", "initial_seed", "randn", "rand", "zeros", "ones",
    "full", "arange", "set_num_threads", "get_num_threads", "nn",
]


def _size(size):
    """randn(2, 3), randn((2, 3)) and randn([2, 3]) all mean the shape (2, 3)."""
    if len(size) == 1 and not isinstance(size[0], _numbers.Integral):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, _numbers.Integral) or isinstance(s, bool):
            raise TypeError(f"size must be a sequence of ints, but got an element of type {type(s).__name__}")
    return [int(s) for s in size]


def randn(*size, generator=None, dtype=None):
    """Samples of N(0, 1), the same numbers as torch.randn for the same seed."""
    return _convkit._randn(_size(size), dtype, generator)


def rand(*size, generator=None, dtype=None):
    """Samples of U[0, 1), the same numbers as torch.rand for the same seed."""
    return _convkit._rand(_size(size), dtype, generator)


def zeros(*size, dtype=None):
    """A tensor of zeros (torch.zeros)."""
    return _convkit._zeros(_size(size), dtype)


def ones(*size, dtype=None):
    """A tensor of ones (torch.ones)."""
    return _convkit._full(_size(size), 1.0, dtype)


def full(size, fill_value, dtype=None):
    """A tensor of `size` with every element `fill_value` (torch.full)."""
    return _convkit._full(_size((size,)), fill_value, dtype)


def arange(end, dtype=None):
    """0, 1, ..., end - 1 (torch.arange(end)); float32 unless dtype says otherwise."""
    return _convkit._arange(int(end), dtype)



def tensor(data, dtype=None):
    """A new tensor holding a copy of `data` (nested lists, numbers, a numpy array, a Tensor).

    Like torch.tensor: Python floats give float32 and complex numbers complex64, a numpy array
    keeps its float or complex dtype. convkit has no integer or bool tensors: those values become
    float32 (exactly, below 2**24).
    """
    if isinstance(data, Tensor):
        return data.clone() if dtype is None else data.to(dtype)
    given_array = isinstance(data, _np.ndarray)
    a = _np.asarray(data)
    if dtype is None:
        if a.dtype.kind == "f" and given_array and a.dtype.itemsize in (2, 4, 8):
            dtype = {2: float16, 4: float32, 8: float64}[a.dtype.itemsize]
        elif a.dtype.kind == "c":
            dtype = complex128 if given_array and a.dtype.itemsize == 16 else complex64
        elif a.dtype.kind in "fiub":
            dtype = float32
        else:
            raise TypeError(f"tensor(): could not infer a dtype for data of numpy kind '{a.dtype.str}'")
    dtype = _convkit._dtype_arg(dtype)
    # Convert in numpy to a dtype numpy has, then in convkit (bfloat16 has no numpy dtype).
    staged = complex128 if dtype.is_complex else float64
    copy = _np.array(a, dtype=staged.name, order="C", copy=True)
    return from_numpy(copy).to(dtype)


from . import nn  # noqa: E402  (needs the names above)
