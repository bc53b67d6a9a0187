#!/usr/bin/python3
"""Generate tests/golden/conv_golden.json: golden convolution results from PyTorch.

The JSON is committed; the C++ tests read it with nlohmann-json, so CI needs no torch.
Regenerate (from the repository root, with Debian's python3-torch 1.13 installed):

    /usr/bin/python3 tests/golden/gen_golden.py

Semantics follow the convkit spec (conv-semantics.md). Every case is computed with torch
(F.pad + F.convNd, or torch's own padding='same'); where torch refuses the dtype on CPU
(float16 convolutions, bfloat16 reflect/replicate padding) the case is computed in float64
from the exactly upcast inputs and rounded to the case dtype (oracle "torch_float64").
Each case is also checked against an independent numpy float64 reference, and, where
possible, against torch.nn.ConvNd with the same padding_mode. Uses only torch, numpy, stdlib.
"""
import itertools
import json
import os
import sys
import tempfile
import warnings
import zlib

import numpy as np
import torch
import torch.nn.functional as F

BASE_SEED = 20240601
OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv_golden.json")

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16, "complex64": torch.complex64, "complex128": torch.complex128}
EPS = {"float32": 2.0 ** -23, "float64": 2.0 ** -52, "float16": 2.0 ** -10,
       "bfloat16": 2.0 ** -7, "complex64": 2.0 ** -23, "complex128": 2.0 ** -52}
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
NN_CONV = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
NP_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
STATS = {"refused": {}, "nn_checked": 0, "nn_not_bitwise": 0, "torch_same_checked": 0,
         "bf16_torch_vs_f64_rounded_mismatch": 0, "bf16_torch_elems": 0}


# ----------------------------------------------------------------------------- encoding
def enc(t, allow_nonfinite=False):
    """TENSOR = {"shape", "data"}; complex interleaved re/im; values exact as doubles."""
    if t.is_complex():
        data = torch.view_as_real(t.to(torch.complex128)).flatten().tolist()
    else:
        data = t.double().flatten().tolist()
    if allow_nonfinite:
        data = [("nan" if v != v else "inf" if v == float("inf") else "-inf"
                 if v == float("-inf") else v) for v in data]
    return {"shape": list(t.shape), "data": data}


def tup(v, d):
    return [v] * d if isinstance(v, int) else list(v)


def rand(gen, shape, dtype, scale=1.0):
    """~N(0, scale^2). f16/bf16: drawn in float32 then rounded, so values are exact."""
    dt = DTYPES[dtype]
    if dt in (torch.float16, torch.bfloat16):
        return (torch.randn(shape, generator=gen) * scale).to(dt)
    return torch.randn(shape, generator=gen, dtype=dt) * scale


# ----------------------------------------------------------------------------- padding
def pad_pairs(padding, S, K, stride, dil):
    """Resolve the padding spec to per-dim (lo, hi) pairs and its JSON encoding."""
    d = len(S)
    if padding == "valid":
        return [(0, 0)] * d, {"kind": "valid"}
    if padding == "causal":
        assert d == 1
        return [(dil[0] * (K[0] - 1), 0)], {"kind": "causal"}
    if padding == "same":
        pairs = []
        for s, k, st, dl in zip(S, K, stride, dil):
            out = -(-s // st)
            total = max((out - 1) * st + dl * (k - 1) + 1 - s, 0)
            pairs.append((total // 2, total - total // 2))
        return pairs, {"kind": "same"}
    if isinstance(padding, tuple) and padding and padding[0] == "pairs":
        pairs = [tuple(p) for p in padding[1]]
        return pairs, {"kind": "pairs", "values": [list(p) for p in pairs]}
    vals = tup(padding, d)
    return [(p, p) for p in vals], {"kind": "explicit", "values": vals}


def torch_pad_tuple(pairs):
    return tuple(v for lo_hi in reversed(pairs) for v in lo_hi)  # last dim first


# ----------------------------------------------------------------------------- oracles
def torch_forward(x, w, b, d, pairs, mode, stride, dil, groups, torch_same):
    """Batched x, torch-layout (already flipped) w, flat b."""
    conv = CONV[d]
    if torch_same and mode == "zeros":
        return conv(x, w, b, stride=stride, dilation=dil, groups=groups, padding="same")
    if torch_same:  # torch's own 'same' with a padding_mode lives in nn.ConvNd
        m = NN_CONV[d](w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride=stride,
                       padding="same", dilation=dil, groups=groups, bias=b is not None,
                       padding_mode=mode, dtype=w.dtype)
        m.weight.data = w
        if b is not None:
            m.bias.data = b
        with torch.no_grad():
            return m(x)
    if mode == "zeros" and all(lo == hi for lo, hi in pairs):
        return conv(x, w, b, stride=stride, dilation=dil, groups=groups,
                    padding=[lo for lo, _ in pairs])
    xp = F.pad(x, torch_pad_tuple(pairs), mode="constant" if mode == "zeros" else mode)
    return conv(xp, w, b, stride=stride, dilation=dil, groups=groups)


def numpy_reference(x, w, b, d, pairs, mode, stride, dil, groups):
    """Independent direct summation in float64/complex128 (batched, torch-layout w)."""
    xp = np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pairs], mode=NP_PAD_MODE[mode])
    N, C_out = x.shape[0], w.shape[0]
    K = w.shape[2:]
    out_sz = [(xp.shape[2 + i] - dil[i] * (K[i] - 1) - 1) // stride[i] + 1 for i in range(d)]
    out = np.zeros([N, C_out] + out_sz, dtype=np.result_type(x, w))
    cig, cog = w.shape[1], C_out // groups
    for g in range(groups):
        for k in itertools.product(*[range(kk) for kk in K]):
            sl = tuple(slice(k[i] * dil[i], k[i] * dil[i] + (out_sz[i] - 1) * stride[i] + 1,
                             stride[i]) for i in range(d))
            xs = xp[(slice(None), slice(g * cig, (g + 1) * cig)) + sl]
            wk = w[(slice(g * cog, (g + 1) * cog), slice(None)) + k]
            out[:, g * cog:(g + 1) * cog] += np.einsum("nc...,oc->no...", xs, wk)
    if b is not None:
        out += b.reshape([1, C_out] + [1] * d)
    return out


def to_np(t):
    return (t.to(torch.complex128) if t.is_complex() else t.double()).numpy()


# ----------------------------------------------------------------------------- cases
CASES, NAMES = [], set()


def case(name, dim, cin, cout, S, K, dtype="float32", N=2, stride=1, dilation=1, groups=1,
         bias=True, padding=0, padding_mode="zeros", conv_mode="cross_correlation",
         compute_mode="default", layout="torch", me_bias4d=False, torch_same=False,
         x=None, w=None, b=None):
    """Build one golden case. N=None means unbatched input (C, *S)."""
    assert name not in NAMES, name
    NAMES.add(name)
    d = dim
    S, K = tup(S, d), tup(K, d)
    stride, dil = tup(stride, d), tup(dilation, d)
    dt = DTYPES[dtype]
    gen = torch.Generator().manual_seed(BASE_SEED + zlib.crc32(name.encode()))
    if x is None:
        x = rand(gen, ([] if N is None else [N]) + [cin] + S, dtype)
    if w is None:
        w = rand(gen, [cout, cin // groups] + K, dtype, 0.5)
    if b is None and bias:
        b = rand(gen, [cout], dtype, 0.5)
    x, w = x.to(dt), w.to(dt)
    b = b.to(dt) if b is not None else None
    assert cin % groups == 0 and cout % groups == 0 and w.shape == (cout, cin // groups, *K)
    pairs, pad_json = pad_pairs(padding, S, K, stride, dil)

    # stored forms
    w_store = w.reshape(groups, cout // groups, cin // groups, *K) if layout == "megengine" else w
    b_store = None if b is None else (b.reshape(1, cout, *[1] * d) if me_bias4d else b)

    # effective computation: flip for convolution, batch the input
    w_eff = torch.flip(w, dims=list(range(2, 2 + d))) if conv_mode == "convolution" else w
    xb = x.unsqueeze(0) if N is None else x
    args = (d, pairs, padding_mode, stride, dil, groups, torch_same)
    oracle = "torch"
    try:
        out = torch_forward(xb, w_eff, b, *args)
    except RuntimeError as e:
        assert dt in (torch.float16, torch.bfloat16), (name, e)
        msg = str(e).split("\n")[0]
        STATS["refused"][msg] = STATS["refused"].get(msg, 0) + 1
        oracle = "torch_float64"
        out = torch_forward(xb.double(), w_eff.double(), None if b is None else b.double(),
                            *args).to(dt)
    assert out.dtype == dt

    # check 1: independent numpy float64 direct summation
    ref = numpy_reference(to_np(xb), to_np(w_eff), None if b is None else to_np(b),
                          d, pairs, padding_mode, stride, dil, groups)
    absref = numpy_reference(np.abs(to_np(xb)), np.abs(to_np(w_eff)),
                             None if b is None else np.abs(to_np(b)),
                             d, pairs, padding_mode, stride, dil, groups)
    n_red = (cin // groups) * int(np.prod(K)) + 2
    tol = 2 * EPS[dtype] * n_red * absref + 1e-300
    assert out.shape == ref.shape, (name, out.shape, ref.shape)
    err = np.abs(to_np(out) - ref)
    assert np.all(err <= tol), (name, float(err.max()))
    if N is not None:
        expected = [(s + lo + hi - dl * (k - 1) - 1) // st + 1
                    for s, (lo, hi), k, st, dl in zip(S, pairs, K, stride, dil)]
        assert list(out.shape[2:]) == expected

    # check 2: torch.nn.ConvNd with the same arguments, where torch can express the case
    nn_pad = padding if padding in ("same", "valid") or isinstance(padding, (int, list)) else None
    if isinstance(padding, tuple) and padding[0] != "pairs":
        nn_pad = padding
    if (oracle == "torch" and N is not None and nn_pad is not None
            and conv_mode == "cross_correlation" and not (padding == "same" and max(stride) > 1)):
        m = NN_CONV[d](cin, cout, K, stride=stride, padding=nn_pad, dilation=dil,
                       groups=groups, bias=b is not None, padding_mode=padding_mode)
        with torch.no_grad():
            m.weight.data = w.clone()
            if b is not None:
                m.bias.data = b.clone()
            mo = m(x)
        STATS["nn_checked"] += 1
        if not torch.equal(mo, out):
            STATS["nn_not_bitwise"] += 1
            assert np.all(np.abs(to_np(mo) - ref) <= tol), name
    if torch_same:  # cross-check torch's own 'same' against the explicit lo/hi padding
        manual = torch_forward(xb, w_eff, b, d, pairs, padding_mode, stride, dil, groups, False)
        assert np.all(np.abs(to_np(manual) - to_np(out)) <= tol), name
        STATS["torch_same_checked"] += 1
    if dt == torch.bfloat16 and oracle == "torch":
        r64 = torch_forward(xb.double(), w_eff.double(), None if b is None else b.double(),
                            *args).to(dt)
        STATS["bf16_torch_elems"] += out.numel()
        STATS["bf16_torch_vs_f64_rounded_mismatch"] += int((r64 != out).sum())

    out = out.squeeze(0) if N is None else out
    CASES.append({
        "name": name, "dim": d, "dtype": dtype, "input": enc(x), "weight": enc(w_store),
        "bias": None if b_store is None else enc(b_store), "weight_layout": layout,
        "stride": stride, "dilation": dil, "groups": groups, "padding": pad_json,
        "padding_mode": padding_mode, "conv_mode": conv_mode, "compute_mode": compute_mode,
        "oracle": oracle, "output": enc(out)})
    return out


# Core specs, generated for float32 AND float64: (name, dim, cin, cout, S, K, kwargs)
def core_specs():
    P = lambda *p: ("pairs", list(p))  # noqa: E731
    s = []
    # ---- Conv1d
    s += [("c1_k3", 1, 3, 4, 8, 3, {}),
          ("c1_k1", 1, 3, 2, 6, 1, {}),
          ("c1_k_eq_len", 1, 2, 3, 5, 5, {}),
          ("c1_k_eq_padded_len", 1, 2, 3, 4, 6, dict(padding=1)),
          ("c1_stride2", 1, 2, 3, 10, 3, {"stride": 2}),
          ("c1_stride3_nobias", 1, 2, 3, 11, 3, dict(stride=3, bias=False)),
          ("c1_dil2", 1, 2, 3, 10, 3, {"dilation": 2}),
          ("c1_dil2_stride2_pad2", 1, 2, 2, 9, 3, dict(dilation=2, stride=2, padding=2)),
          ("c1_pad1", 1, 3, 2, 6, 3, {"padding": 1}),
          ("c1_pad2_tuple", 1, 3, 2, 6, 3, {"padding": (2,)}),
          ("c1_valid", 1, 3, 2, 7, 4, {"padding": "valid"}),
          ("c1_same_k3", 1, 2, 3, 7, 3, {"padding": "same"}),
          ("c1_same_k4_even", 1, 2, 3, 7, 4, {"padding": "same"}),
          ("c1_same_k3_dil2", 1, 2, 3, 7, 3, dict(padding="same", dilation=2)),
          ("c1_same_k4_dil3", 1, 2, 2, 12, 4, dict(padding="same", dilation=3)),
          ("c1_torch_same_k4", 1, 2, 3, 7, 4, dict(padding="same", torch_same=True)),
          ("c1_torch_same_k2_dil3", 1, 2, 2, 8, 2, dict(padding="same", dilation=3,
                                                        torch_same=True)),
          ("c1_same_stride2_k3", 1, 2, 3, 9, 3, dict(padding="same", stride=2)),
          ("c1_same_stride3_k4_dil2", 1, 2, 2, 10, 4, dict(padding="same", stride=3,
                                                           dilation=2)),
          ("c1_same_stride2_k1", 1, 2, 2, 8, 1, dict(padding="same", stride=2)),
          ("c1_causal_k3", 1, 2, 3, 8, 3, {"padding": "causal"}),
          ("c1_causal_k3_dil2", 1, 2, 3, 8, 3, dict(padding="causal", dilation=2)),
          ("c1_causal_k3_stride2", 1, 2, 3, 9, 3, dict(padding="causal", stride=2)),
          ("c1_causal_k2_dil3_stride2_nobias", 1, 2, 2, 10, 2,
           dict(padding="causal", dilation=3, stride=2, bias=False)),
          ("c1_pairs_0_2", 1, 2, 3, 6, 3, {"padding": P((0, 2))}),
          ("c1_pairs_3_0", 1, 2, 3, 6, 3, {"padding": P((3, 0))}),
          ("c1_pairs_1_2_stride2", 1, 2, 2, 7, 3, dict(padding=P((1, 2)), stride=2)),
          ("c1_groups2", 1, 4, 6, 7, 3, dict(groups=2, padding=1)),
          ("c1_groups3", 1, 6, 9, 6, 2, dict(groups=3)),
          ("c1_depthwise_m1", 1, 4, 4, 7, 3, dict(groups=4, padding=1)),
          ("c1_depthwise_m2_nobias", 1, 3, 6, 7, 3, dict(groups=3, bias=False)),
          ("c1_depthwise_m3", 1, 3, 9, 6, 3, dict(groups=3, padding="same")),
          ("c1_odd_channels_19_23", 1, 19, 23, 5, 2, dict(N=1)),
          ("c1_reflect_pad2", 1, 2, 3, 6, 3, dict(padding=2, padding_mode="reflect")),
          ("c1_reflect_pad_max", 1, 2, 2, 4, 3, dict(padding=3, padding_mode="reflect")),
          ("c1_replicate_pad2", 1, 2, 3, 6, 3, dict(padding=2, padding_mode="replicate")),
          ("c1_circular_pad2", 1, 2, 3, 6, 3, dict(padding=2, padding_mode="circular")),
          ("c1_circular_pad_eq_len", 1, 2, 2, 4, 3, dict(padding=4, padding_mode="circular")),
          ("c1_same_k4_reflect", 1, 2, 3, 6, 4, dict(padding="same", padding_mode="reflect")),
          ("c1_same_k3_dil2_replicate", 1, 2, 2, 6, 3, dict(padding="same", dilation=2,
                                                            padding_mode="replicate")),
          ("c1_same_k4_circular_stride2", 1, 2, 2, 7, 4, dict(padding="same", stride=2,
                                                              padding_mode="circular")),
          ("c1_torch_same_k4_reflect", 1, 2, 3, 6, 4, dict(padding="same", torch_same=True,
                                                           padding_mode="reflect")),
          ("c1_causal_reflect_dil2", 1, 2, 3, 7, 3, dict(padding="causal", dilation=2,
                                                         padding_mode="reflect")),
          ("c1_causal_replicate", 1, 2, 3, 6, 3, dict(padding="causal",
                                                      padding_mode="replicate")),
          ("c1_causal_circular_stride2", 1, 2, 3, 7, 3, dict(padding="causal", stride=2,
                                                             padding_mode="circular")),
          ("c1_pairs_0_2_reflect", 1, 2, 2, 5, 3, dict(padding=P((0, 2)),
                                                       padding_mode="reflect")),
          ("c1_pairs_3_0_replicate", 1, 2, 2, 5, 3, dict(padding=P((3, 0)),
                                                         padding_mode="replicate")),
          ("c1_pairs_1_3_circular", 1, 2, 2, 5, 3, dict(padding=P((1, 3)),
                                                        padding_mode="circular")),
          ("c1_convmode", 1, 2, 3, 7, 3, dict(conv_mode="convolution")),
          ("c1_convmode_groups2_pad1", 1, 4, 2, 7, 4, dict(conv_mode="convolution", groups=2,
                                                           padding=1)),
          ("c1_convmode_stride2_dil2_reflect", 1, 2, 2, 9, 3,
           dict(conv_mode="convolution", stride=2, dilation=2, padding=2,
                padding_mode="reflect")),
          ("c1_convmode_causal", 1, 2, 2, 6, 3, dict(conv_mode="convolution",
                                                     padding="causal")),
          ("c1_unbatched", 1, 3, 2, 6, 3, dict(N=None, padding=1)),
          ("c1_unbatched_circular", 1, 2, 3, 6, 3, dict(N=None, padding=2,
                                                        padding_mode="circular")),
          ("c1_unbatched_same_reflect_nobias", 1, 2, 2, 6, 4,
           dict(N=None, padding="same", padding_mode="reflect", bias=False)),
          ("c1_empty_batch", 1, 3, 4, 6, 3, dict(N=0, padding=1)),
          ("c1_empty_batch_reflect", 1, 2, 2, 5, 3, dict(N=0, padding=1,
                                                         padding_mode="reflect"))]
    # ---- Conv2d
    s += [("c2_k3", 2, 2, 3, 5, 3, {}),
          ("c2_k2x3", 2, 2, 3, (4, 5), (2, 3), {}),
          ("c2_k1", 2, 3, 2, (3, 4), 1, {}),
          ("c2_k_eq_input", 2, 2, 2, (3, 4), (3, 4), {}),
          ("c2_k_eq_padded_input", 2, 2, 2, (3, 2), (5, 4), dict(padding=1)),
          ("c2_stride2", 2, 2, 2, 6, 3, {"stride": 2}),
          ("c2_stride2x1", 2, 2, 2, 5, (2, 3), dict(stride=(2, 1), padding=1)),
          ("c2_stride3_nobias", 2, 2, 2, 7, 2, dict(stride=3, bias=False)),
          ("c2_stride1x3", 2, 2, 2, (4, 7), 3, dict(stride=(1, 3))),
          ("c2_dil2", 2, 2, 2, 6, 3, {"dilation": 2}),
          ("c2_dil1x2_stride2", 2, 2, 2, (5, 7), (2, 3), dict(dilation=(1, 2), stride=2)),
          ("c2_dil2x1_pad1_2", 2, 2, 2, 5, 3, dict(dilation=(2, 1), padding=(1, 2))),
          ("c2_pad1", 2, 2, 3, 4, 3, {"padding": 1}),
          ("c2_pad2", 2, 1, 2, 3, 3, {"padding": 2}),
          ("c2_pad0_1", 2, 2, 2, (3, 4), (2, 3), {"padding": (0, 1)}),
          ("c2_valid", 2, 2, 2, (4, 5), 3, {"padding": "valid"}),
          ("c2_same_k3", 2, 2, 2, 5, 3, {"padding": "same"}),
          ("c2_same_k2x3", 2, 2, 2, (4, 5), (2, 3), {"padding": "same"}),
          ("c2_same_k3x4_dil2x1", 2, 2, 2, (5, 6), (3, 4), dict(padding="same",
                                                                dilation=(2, 1))),
          ("c2_torch_same_k2", 2, 2, 2, 4, 2, dict(padding="same", torch_same=True)),
          ("c2_torch_same_k3x2_dil1x2", 2, 2, 2, (4, 5), (3, 2),
           dict(padding="same", dilation=(1, 2), torch_same=True)),
          ("c2_same_stride2_k3", 2, 2, 2, (7, 6), 3, dict(padding="same", stride=2)),
          ("c2_same_stride2x3_k2x3", 2, 2, 2, (5, 7), (2, 3), dict(padding="same",
                                                                   stride=(2, 3))),
          ("c2_pairs_0_2__3_0", 2, 2, 2, 4, 3, {"padding": P((0, 2), (3, 0))}),
          ("c2_pairs_stride2", 2, 2, 2, 5, (2, 3), dict(padding=P((1, 0), (0, 1)), stride=2)),
          ("c2_groups2", 2, 4, 2, 4, 3, dict(groups=2, padding=1)),
          ("c2_groups3", 2, 6, 9, 3, 2, dict(groups=3, N=1)),
          ("c2_depthwise_m1", 2, 3, 3, 4, 3, dict(groups=3, padding=1)),
          ("c2_depthwise_m2", 2, 2, 4, 4, 3, dict(groups=2, padding="same")),
          ("c2_depthwise_m3_nobias", 2, 2, 6, 4, 2, dict(groups=2, bias=False, N=1)),
          ("c2_odd_channels_19_23", 2, 19, 23, (2, 3), 1, dict(N=1)),
          ("c2_reflect_pad1_2", 2, 2, 2, (4, 5), 3, dict(padding=(1, 2),
                                                         padding_mode="reflect")),
          ("c2_replicate_pad2", 2, 2, 2, 4, 3, dict(padding=2, padding_mode="replicate")),
          ("c2_circular_pad1_2", 2, 2, 2, (4, 3), 3, dict(padding=(1, 2),
                                                          padding_mode="circular")),
          ("c2_circular_pad_eq_size", 2, 1, 2, 3, 3, dict(padding=3, padding_mode="circular")),
          ("c2_same_k3x4_reflect", 2, 2, 2, 5, (3, 4), dict(padding="same",
                                                            padding_mode="reflect")),
          ("c2_same_k2_replicate_dil2", 2, 2, 2, 4, 2, dict(padding="same", dilation=2,
                                                            padding_mode="replicate")),
          ("c2_same_circular_stride2", 2, 2, 2, 5, 3, dict(padding="same", stride=2,
                                                           padding_mode="circular")),
          ("c2_torch_same_k2x3_circular", 2, 2, 2, 4, (2, 3),
           dict(padding="same", torch_same=True, padding_mode="circular")),
          ("c2_pairs_reflect", 2, 2, 2, 4, 3, dict(padding=P((0, 2), (3, 0)),
                                                   padding_mode="reflect")),
          ("c2_pairs_replicate", 2, 2, 2, 4, 3, dict(padding=P((2, 1), (0, 3)),
                                                     padding_mode="replicate")),
          ("c2_pairs_circular", 2, 2, 2, 4, 3, dict(padding=P((1, 2), (4, 0)),
                                                    padding_mode="circular")),
          ("c2_convmode", 2, 2, 2, 4, (2, 3), dict(conv_mode="convolution")),
          ("c2_convmode_groups2", 2, 4, 4, 4, 3, dict(conv_mode="convolution", groups=2,
                                                      padding=1)),
          ("c2_convmode_stride_dil_pairs", 2, 2, 2, 6, (3, 2),
           dict(conv_mode="convolution", stride=(2, 1), dilation=(1, 2),
                padding=P((1, 0), (2, 1)))),
          ("c2_unbatched", 2, 2, 3, 4, 3, dict(N=None, padding=1)),
          ("c2_unbatched_circular", 2, 2, 2, 4, 3, dict(N=None, padding=(1, 2),
                                                        padding_mode="circular")),
          ("c2_unbatched_same_replicate", 2, 2, 2, 4, 2, dict(N=None, padding="same",
                                                              padding_mode="replicate")),
          ("c2_empty_batch", 2, 2, 3, 4, 3, dict(N=0, padding=1))]
    # ---- Conv3d
    s += [("c3_k3", 3, 2, 2, 4, 3, dict(N=1)),
          ("c3_k3x1x2", 3, 2, 2, (3, 4, 3), (3, 1, 2), dict(N=1)),
          ("c3_k1", 3, 3, 2, (2, 3, 2), 1, {}),
          ("c3_k_eq_input", 3, 2, 2, (3, 4, 2), (3, 4, 2), {}),
          ("c3_stride2", 3, 1, 2, 5, 3, dict(stride=2, N=1)),
          ("c3_stride1x2x3", 3, 1, 2, (3, 4, 6), 2, dict(stride=(1, 2, 3), N=1)),
          ("c3_dil2", 3, 1, 2, 5, 2, dict(dilation=2, N=1)),
          ("c3_dil2x1x1_pad1", 3, 1, 2, 4, 2, dict(dilation=(2, 1, 1), padding=1, N=1)),
          ("c3_pad1_nobias", 3, 2, 2, 3, 3, dict(padding=1, bias=False, N=1)),
          ("c3_pad0_1_2", 3, 1, 2, 3, 2, dict(padding=(0, 1, 2), N=1)),
          ("c3_valid", 3, 1, 2, 4, (2, 3, 2), dict(padding="valid", N=1)),
          ("c3_same_k3", 3, 1, 2, 3, 3, dict(padding="same", N=1)),
          ("c3_same_k2x3x2", 3, 1, 2, 3, (2, 3, 2), dict(padding="same", N=1)),
          ("c3_same_dil2", 3, 1, 2, 4, 2, dict(padding="same", dilation=(2, 1, 2), N=1)),
          ("c3_torch_same_k2", 3, 1, 2, 3, 2, dict(padding="same", torch_same=True, N=1)),
          ("c3_same_stride2", 3, 1, 2, (5, 4, 3), 2, dict(padding="same", stride=2, N=1)),
          ("c3_pairs", 3, 1, 2, 3, 2, dict(padding=P((0, 2), (3, 0), (1, 0)), N=1)),
          ("c3_groups2", 3, 4, 2, 3, 2, dict(groups=2, padding=1, N=1)),
          ("c3_groups3", 3, 6, 9, 2, (1, 2, 1), dict(groups=3, N=1)),
          ("c3_depthwise_m2", 3, 2, 4, 3, 2, dict(groups=2, N=1)),
          ("c3_reflect_pad1", 3, 1, 2, 3, 3, dict(padding=1, padding_mode="reflect", N=1)),
          ("c3_replicate_pad1_0_2", 3, 1, 2, 3, 2, dict(padding=(1, 0, 2),
                                                        padding_mode="replicate", N=1)),
          ("c3_circular_pad2", 3, 1, 2, (2, 3, 2), 2, dict(padding=2,
                                                           padding_mode="circular", N=1)),
          ("c3_same_reflect", 3, 1, 2, 3, (2, 3, 2), dict(padding="same",
                                                          padding_mode="reflect", N=1)),
          ("c3_pairs_circular", 3, 1, 2, 3, 2, dict(padding=P((0, 2), (3, 0), (1, 1)),
                                                    padding_mode="circular", N=1)),
          ("c3_convmode", 3, 1, 2, 3, (2, 3, 2), dict(conv_mode="convolution", N=1)),
          ("c3_unbatched", 3, 2, 2, 3, 2, dict(N=None, padding=1)),
          ("c3_unbatched_circular", 3, 1, 2, 3, 2, dict(N=None, padding=(1, 2, 0),
                                                        padding_mode="circular")),
          ("c3_empty_batch", 3, 2, 2, 3, 2, dict(N=0))]
    return s


# Specs for float16, bfloat16, complex64, complex128 (compute_mode="float32" only on f16/bf16)
def low_specs():
    P = lambda *p: ("pairs", list(p))  # noqa: E731
    return [
        ("c1_k3_pad1", 1, 3, 4, 7, 3, dict(padding=1)),
        ("c1_causal_dil2_replicate_nobias", 1, 2, 3, 7, 3,
         dict(padding="causal", dilation=2, padding_mode="replicate", bias=False)),
        ("c1_same_k4_reflect_cm32", 1, 2, 2, 6, 4, dict(padding="same", padding_mode="reflect",
                                                        compute_mode="float32")),
        ("c1_pairs_0_2_circular_stride2", 1, 2, 2, 7, 3, dict(padding=P((0, 2)), stride=2,
                                                              padding_mode="circular")),
        ("c1_convmode_groups2", 1, 4, 2, 6, 3, dict(conv_mode="convolution", groups=2)),
        ("c1_unbatched_circular", 1, 2, 2, 5, 3, dict(N=None, padding=1,
                                                      padding_mode="circular")),
        ("c1_causal_stride2_cm32", 1, 2, 2, 8, 2, dict(padding="causal", stride=2,
                                                       compute_mode="float32")),
        ("c2_k2x3_stride2x1_cm32", 2, 2, 3, 4, (2, 3), dict(stride=(2, 1), padding=(1, 0),
                                                            compute_mode="float32")),
        ("c2_same_dil2_reflect_cm32", 2, 2, 2, 5, 3, dict(padding="same", dilation=(2, 1),
                                                          padding_mode="reflect",
                                                          compute_mode="float32")),
        ("c2_depthwise_m2_replicate", 2, 2, 4, 4, 3, dict(groups=2, padding=1,
                                                          padding_mode="replicate")),
        ("c2_convmode_groups3_nobias", 2, 3, 6, 3, 2, dict(conv_mode="convolution", groups=3,
                                                           bias=False, N=1)),
        ("c2_unbatched_same", 2, 2, 2, 4, 2, dict(N=None, padding="same")),
        ("c2_long_reduction_cm32", 2, 16, 2, 4, 3, dict(padding=1, N=1,
                                                        compute_mode="float32")),
        ("c2_long_reduction", 2, 16, 2, 4, 3, dict(padding=1, N=1)),
        ("c3_k3_pad1_groups2_cm32", 3, 2, 2, 3, 3, dict(padding=1, groups=2, N=1,
                                                        compute_mode="float32")),
        ("c3_reflect_pad1_0_1_nobias", 3, 1, 2, 3, 2, dict(padding=(1, 0, 1), bias=False,
                                                           padding_mode="reflect", N=1)),
        ("c3_same_stride2_circular", 3, 1, 2, (3, 4, 3), 2, dict(padding="same", stride=2,
                                                                 padding_mode="circular",
                                                                 N=1)),
    ]


def megengine_cases():
    for dtype in ("float32", "float64"):
        t = dtype
        case(f"me_c1_groups2_{t}", 1, 4, 6, 6, 3, dtype, groups=2, padding=1, layout="megengine")
        case(f"me_c1_groups3_bias3d_{t}", 1, 6, 3, 5, 2, dtype, groups=3, layout="megengine",
             me_bias4d=True)
        case(f"me_c1_depthwise_m2_convmode_{t}", 1, 3, 6, 6, 3, dtype, groups=3,
             layout="megengine", conv_mode="convolution")
        case(f"me_c2_groups2_bias4d_{t}", 2, 4, 4, 4, 3, dtype, groups=2, padding=1,
             layout="megengine", me_bias4d=True)
        case(f"me_c2_depthwise_m1_{t}", 2, 3, 3, 4, 3, dtype, groups=3, layout="megengine",
             stride=2, padding=1)
        case(f"me_c2_groups3_nobias_convmode_{t}", 2, 6, 9, 3, 2, dtype, groups=3, N=1,
             layout="megengine", bias=False, conv_mode="convolution")
        case(f"me_c3_groups2_bias5d_{t}", 3, 2, 4, 3, 2, dtype, groups=2, N=1,
             layout="megengine", me_bias4d=True)
    case("me_c2_groups2_float16", 2, 4, 2, 4, 3, "float16", groups=2, padding=1,
         layout="megengine", me_bias4d=True, compute_mode="float32")
    case("me_c1_depthwise_bfloat16", 1, 3, 3, 6, 3, "bfloat16", groups=3, layout="megengine")
    case("me_c2_groups2_complex64", 2, 4, 4, 3, 2, "complex64", groups=2, layout="megengine")


def special_cases():
    x = torch.tensor([[[-0.7747, 0.7926, -0.0062, -0.4377, 0.7148],
                       [0.3590, -0.1242, 2.0345, -0.3479, -0.4007]],
                      [[0.8059, -0.1021, 0.3168, -0.8889, 1.1768],
                       [0.8074, 0.9144, 1.6259, -0.6535, -0.0865]]])
    w = torch.tensor([[[-0.0783, -0.0347, -0.0791], [-0.3860, 0.3662, -0.0087]],
                      [[-0.2497, -0.3820, -0.3683], [0.0319, 0.0496, 0.0144]]])
    tutorial_out = case("tutorial_conv1d", 1, 2, 2, 5, 3, x=x, w=w, bias=False)
    torch.manual_seed(0)  # weights from PyTorch's own default init with seed 0
    m = torch.nn.Conv1d(16, 33, 3, stride=2)
    xs = torch.randn(2, 16, 50)
    case("seed_torch_conv1d", 1, 16, 33, 50, 3, stride=2, x=xs, w=m.weight.detach(),
         b=m.bias.detach())
    case("megengine_conv1d_arange", 1, 3, 1, 4, 3,
         x=torch.arange(24, dtype=torch.float32).reshape(2, 3, 4))
    case("megengine_conv2d_arange", 2, 3, 1, 4, 3,
         x=torch.arange(96, dtype=torch.float32).reshape(2, 3, 4, 4))
    return tutorial_out


# ----------------------------------------------------------------------------- print cases
def print_cases(tutorial_out):
    g = torch.Generator().manual_seed(BASE_SEED)
    T = lambda v, dt=torch.float32: torch.tensor(v, dtype=dt)  # noqa: E731
    inf, nan = float("inf"), float("nan")
    items = [
        ("f32_1d_mixed", T([1.5, -2.25, 0.125, 3.0])),
        ("f32_2d_mixed", torch.randn(3, 4, generator=g)),
        ("f32_3d_mixed", torch.randn(2, 3, 4, generator=g)),
        ("f32_4d_mixed", torch.randn(2, 2, 2, 3, generator=g)),
        ("f32_width_align", T([[1.0, -123.456], [0.5, 12.25]])),
        ("f32_integers", T([[1.0, 2.0, -3.0], [10.0, 0.0, 100.0]])),
        ("f32_sci_ratio", T([1.0, 2000.0, 0.5])),
        ("f32_sci_tiny", T([1e-5, 2.5e-6, -3e-5])),
        ("f32_sci_huge", T([1.5e9, -2.0, 3.0])),
        ("f32_int_huge", T([1e9, 2.0])),
        ("f32_zero_negzero", T([0.0, -0.0, 1.5, -2.5])),
        ("f32_nan_inf", T([nan, inf, -inf, 1.25, -0.5])),
        ("f32_int_with_inf", T([1.0, inf, -inf, 0.0])),
        ("f32_all_nan", T([nan, nan])),
        ("f32_scalar", T(3.14159)),
        ("f32_scalar_neg_int", T(-2.0)),
        ("f32_empty_1d", torch.zeros(0)),
        ("f32_empty_2x0x3", torch.zeros(2, 0, 3)),
        ("f64_2d", torch.randn(2, 3, generator=g, dtype=torch.float64)),
        ("f64_empty", torch.zeros(0, dtype=torch.float64)),
        ("f16_1d", torch.randn(5, generator=g).to(torch.float16)),
        ("bf16_2d", torch.randn(2, 3, generator=g).to(torch.bfloat16)),
        ("c64_1d", T([1 + 2j, -0.5 - 1.25j, 3 - 0j], torch.complex64)),
        ("c64_2d_random", torch.randn(2, 2, generator=g, dtype=torch.complex64)),
        ("c128_1d", T([0.25 - 3j, -1 + 0.5j], torch.complex128)),
        ("f32_long_30", torch.randn(30, generator=g)),
        ("f32_long_200", torch.randn(200, generator=g)),
        ("f32_summarized_40x30", torch.randn(40, 30, generator=g)),
        ("f32_summarized_3x400", torch.randn(3, 400, generator=g)),
        ("f32_summarized_1001", torch.randn(1001, generator=g)),
        ("f64_suffix_newline", torch.randn(2, 9, generator=g, dtype=torch.float64) * 1000),
        ("tutorial_conv1d_output", tutorial_out),
    ]
    out = []
    for name, t in items:
        dtype = [k for k, v in DTYPES.items() if v == t.dtype][0]
        out.append({"name": name, "dtype": dtype, **enc(t, allow_nonfinite=True),
                    "text": str(t)})
    return out


# ----------------------------------------------------------------------------- main
def main():
    warnings.filterwarnings("ignore", message="Using padding='same'")
    torch.manual_seed(BASE_SEED)
    for dtype in ("float32", "float64"):
        for name, d, cin, cout, S, K, kw in core_specs():
            case(f"{name}_{dtype}", d, cin, cout, S, K, dtype, **kw)
    for dtype in ("float16", "bfloat16", "complex64", "complex128"):
        for name, d, cin, cout, S, K, kw in low_specs():
            kw = dict(kw)
            if dtype.startswith("complex"):
                kw.pop("compute_mode", None)
                name = name.replace("_cm32", "")
            if dtype.startswith("complex") and name == "c2_long_reduction":
                continue  # identical to the _cm32 variant once the label is dropped
            case(f"{name}_{dtype}", d, cin, cout, S, K, dtype, **kw)
    megengine_cases()
    tutorial_out = special_cases()
    prints = print_cases(tutorial_out)

    dump = lambda o: json.dumps(o, separators=(",", ":"), allow_nan=False)  # noqa: E731
    text = ('{\n"generator": "tests/golden/gen_golden.py",\n'
            f'"torch_version": {json.dumps(torch.__version__)},\n"conv_cases": [\n'
            + ",\n".join(dump(c) for c in CASES) + '\n],\n"print_cases": [\n'
            + ",\n".join(dump(p) for p in prints) + "\n]\n}\n")
    json.loads(text)  # sanity: valid JSON
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(OUT_PATH), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, OUT_PATH)

    counts = {}
    for c in CASES:
        key = (c["dtype"], c["dim"])
        counts[key] = counts.get(key, 0) + 1
    print(f"wrote {OUT_PATH}: {len(CASES)} conv cases, {len(prints)} print cases, "
          f"{os.path.getsize(OUT_PATH)} bytes (torch {torch.__version__})")
    for dt in DTYPES:
        per = ", ".join(f"{d}d={counts.get((dt, d), 0)}" for d in (1, 2, 3))
        print(f"  {dt:10s} {sum(counts.get((dt, d), 0) for d in (1, 2, 3)):4d}  ({per})")
    oracles = {}
    for c in CASES:
        oracles[c["oracle"]] = oracles.get(c["oracle"], 0) + 1
    print("  oracles:", oracles)
    print("  torch refusals (fell back to float64):")
    for msg, n in sorted(STATS["refused"].items()):
        print(f"    {n:3d} x {msg}")
    print(f"  cross-checked with nn.ConvNd: {STATS['nn_checked']} "
          f"(not bitwise equal: {STATS['nn_not_bitwise']}); "
          f"torch padding='same' cross-checks: {STATS['torch_same_checked']}")
    print(f"  bfloat16 torch output vs float64-rounded: "
          f"{STATS['bf16_torch_vs_f64_rounded_mismatch']}/{STATS['bf16_torch_elems']} "
          "elements differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
