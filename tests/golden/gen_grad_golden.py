#!/usr/bin/python3
"""Generate tests/golden/grad_golden.json: golden GRADIENTS of convolutions and golden
FORWARD + GRADIENTS of transposed convolutions, computed by PyTorch autograd.

The JSON is committed; the C++ tests read it, so CI needs no torch. Regenerate (from the
repository root, with Debian's python3-torch 1.13 installed):

    /usr/bin/python3 tests/golden/gen_grad_golden.py

The output is reproducible: every case draws its tensors from its own
torch.Generator seeded with BASE_SEED + crc32(name), and torch runs single-threaded.
Conventions (tensor encoding, random draws, padding resolution, dtype handling) are shared
with tests/golden/gen_golden.py, which this script imports (its main() is not run).

Semantics (see ../shared/spec/conv-semantics.md, sections Gradients / Transposed convolution):

backward_cases -- y = conv(pad(x), w_eff) + b with a bias always present; the golden values are
  x.grad, w.grad, b.grad after y.backward(grad_output) with a random grad_output.
  * padding: explicit ints, (lo, hi) pairs, 'valid', 'same' (stride > 1 = SAME_UPPER:
    out = ceil(S/stride), total = max((out-1)*stride + dil*(K-1) + 1 - S, 0),
    lo = total//2, hi = total - lo), 'causal' (1-d: lo = dil*(K-1), hi = 0). Symmetric zero
    padding goes through F.convNd(padding=...); anything else through F.pad(mode) + F.convNd
    with padding 0, so the pad op's backward folds the padding gradient onto the input.
  * conv_mode 'convolution' flips w in every spatial dim inside the graph, so grad_weight
    is the gradient w.r.t. the stored (unflipped) weight.
  * weight_layout 'megengine': the weight leaf is (groups, C_out/g, C_in/g, *K), reshaped to
    the PyTorch layout inside the graph; grad_weight has the stored layout. bias is (C_out).
  * complex dtypes: torch autograd as is (conjugate Wirtinger convention).
  * unbatched input (C, *S): unsqueezed inside the graph; all tensors stay unbatched.
transpose_cases -- y = conv_transposeNd(x, w, b, stride, padding, output_padding, groups,
  dilation) and its gradients for a random grad_output.
  * explicit padding: F.conv_transposeNd as is.
  * (lo, hi) pairs (convkit extra, ONNX ConvTranspose pads): the full output (padding 0,
    output_padding 0, length F = (S-1)*stride + dil*(K-1) + 1 per dim) is zero-extended by
    output_padding at the end, then out[i] = full[i + lo] for i < F - lo - hi +
    output_padding; then + bias. All inside the autograd graph.
  * output_size: nn.ConvTransposeNd.forward(x, output_size=...) with the case's weight and
    bias as parameters; "output_size" is stored as passed (d ints, or with the (N, C_out) /
    (C_out) prefix) and "output_padding" holds the implied output padding.

dtype handling: torch refuses float16 convolutions (and bfloat16 reflect/replicate padding)
on CPU, so float16 and bfloat16 cases are always computed in float64 from the exactly upcast
inputs and the results rounded to the case dtype (oracle "torch_float64"). Torch 1.13 also
refuses complex conv_transpose2d/3d on CPU ("slow_conv_transpose2d_out_cpu" not implemented for
'ComplexFloat'); those cases compose the complex transposed convolution from four real
F.conv_transposeNd calls on the real/imag parts inside the autograd graph, in float64, and
round to the case dtype (oracle "torch_float64"). The composition is validated against torch's
native complex conv_transpose1d (forward and gradients) on every complex 1-d transpose case.

Checks (assert on failure): forward outputs against an independent numpy direct summation
(gen_golden.numpy_reference for convolutions, a numpy scatter loop for transposed ones); every
gradient against the numpy forward through linearity: for random dx, dw, db,
vdot(grad_input, dx) == vdot(grad_output, L_x(dx)) where L_x is the numpy forward in x with
no bias (exactly conv(x+dx) - conv(x)), likewise for the weight and the bias; relative 1e-9
of sum(|grad_output| * |L|(|dx|)) for float64/complex128, a dtype-eps bound otherwise.
Uses only torch, numpy and the stdlib.
"""
import importlib.util
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

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "grad_golden.json")
BASE_SEED = 20240615


def _load_gen_golden():
    spec = importlib.util.spec_from_file_location("gen_golden",
                                                  os.path.join(HERE, "gen_golden.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # guarded by `if __name__ == "__main__"`: main() not run
    return mod


G = _load_gen_golden()
enc, rand, tup, to_np = G.enc, G.rand, G.tup, G.to_np
pad_pairs, torch_pad_tuple, torch_forward = G.pad_pairs, G.torch_pad_tuple, G.torch_forward
numpy_conv_reference = G.numpy_reference
DTYPES, EPS = G.DTYPES, G.EPS
CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
NN_CONVT = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d, 3: torch.nn.ConvTranspose3d}
LOW = ("float16", "bfloat16")
DOUBLE = ("float64", "complex128")

STATS = {"fwd_numpy": 0, "lin_input": 0, "lin_weight": 0, "lin_bias": 0, "lin_strict": 0,
         "pairs_vs_explicit": 0, "output_size_vs_functional": 0, "complex_decomp_vs_native": 0,
         "empty_batch_zero_grads": 0, "native_refused": {}, "native_low_elems": 0,
         "native_low_mismatch": 0}
BACKWARD, TRANSPOSE, NAMES = [], [], set()


# ----------------------------------------------------------------------------- helpers
def new_case(name):
    assert name not in NAMES, name
    NAMES.add(name)
    return torch.Generator().manual_seed(BASE_SEED + zlib.crc32(name.encode()))


def compute_dtype(dtype):
    return torch.float64 if dtype in LOW else DTYPES[dtype]


def leaf(t, cdt):
    return t.detach().to(cdt).clone().requires_grad_(True)


def note_refusal(e, what):
    msg = f"[{what}] " + str(e).split("\n")[0]
    STATS["native_refused"][msg] = STATS["native_refused"].get(msg, 0) + 1


def np_rng(name):
    return np.random.default_rng(zlib.crc32(("check/" + name).encode()))


def np_rand_like(rng, a):
    r = rng.standard_normal(a.shape)
    if np.iscomplexobj(a):
        r = r + 1j * rng.standard_normal(a.shape)
    return r


def check_linear(name, what, dtype, grad, delta, gy, lin, lin_abs, n_red):
    """vdot(grad, delta) == vdot(gy, lin(delta)); torch's complex convention in vdot form."""
    lhs = np.vdot(grad, delta)
    rhs = np.vdot(gy, lin(delta))
    scale = float(np.sum(np.abs(gy) * lin_abs(np.abs(delta))))
    tol = 1e-9 * scale if dtype in DOUBLE else 4.0 * EPS[dtype] * (n_red + 2) * scale
    assert abs(lhs - rhs) <= tol, (name, what, complex(lhs), complex(rhs), tol)
    STATS["lin_" + what] += 1
    STATS["lin_strict"] += dtype in DOUBLE


def check_forward(name, out, ref, absref, n_red, eps_compute, eps_round=0.0):
    """|out - ref| within the accumulation bound of the computing dtype plus the final rounding."""
    tol = (2 * eps_compute * (n_red + 2) + eps_round) * absref + 1e-300
    assert out.shape == ref.shape, (name, out.shape, ref.shape)
    err = np.abs(out - ref)
    assert np.all(err <= tol), (name, float(err.max()))
    STATS["fwd_numpy"] += 1


# ----------------------------------------------------------------------------- backward
def conv_graph(x, w, b, d, cout, K, pairs, mode, stride, dil, groups, conv_mode, layout, batched):
    w_t = w.reshape(cout, -1, *K) if layout == "megengine" else w
    if conv_mode == "convolution":
        w_t = torch.flip(w_t, dims=list(range(2, 2 + d)))
    xb = x if batched else x.unsqueeze(0)
    y = torch_forward(xb, w_t, b, d, pairs, mode, stride, dil, groups, False)
    return y if batched else y.squeeze(0)


def bw(name, dim, cin, cout, S, K, dtype="float32", N=2, stride=1, dilation=1, groups=1,
       padding=0, padding_mode="zeros", conv_mode="cross_correlation", layout="torch"):
    """One conv-gradient case. N=None: unbatched input (C, *S)."""
    name = f"{name}_{dtype}"
    gen = new_case(name)
    d = dim
    S, K, stride, dil = tup(S, d), tup(K, d), tup(stride, d), tup(dilation, d)
    assert cin % groups == 0 and cout % groups == 0
    dt, cdt = DTYPES[dtype], compute_dtype(dtype)
    batched = N is not None
    x = rand(gen, ([N] if batched else []) + [cin] + S, dtype)
    w = rand(gen, [cout, cin // groups] + K, dtype, 0.5)
    if layout == "megengine":
        w = w.reshape(groups, cout // groups, cin // groups, *K)
    b = rand(gen, [cout], dtype, 0.5)
    pairs, pad_json = pad_pairs(padding, S, K, stride, dil)
    args = (d, cout, K, pairs, padding_mode, stride, dil, groups, conv_mode, layout, batched)

    xl, wl, bl = leaf(x, cdt), leaf(w, cdt), leaf(b, cdt)
    y = conv_graph(xl, wl, bl, *args)
    gy = rand(gen, list(y.shape), dtype)
    y.backward(gy.to(cdt))
    gx, gw, gb = xl.grad.to(dt), wl.grad.to(dt), bl.grad.to(dt)
    oracle = "torch_float64" if dtype in LOW else "torch"
    if dtype in LOW:  # statistics only: what would torch do natively?
        try:
            xn, wn, bn = leaf(x, dt), leaf(w, dt), leaf(b, dt)
            yn = conv_graph(xn, wn, bn, *args)
            yn.backward(gy)
            for a, r in ((xn.grad, gx), (wn.grad, gw), (bn.grad, gb)):
                STATS["native_low_elems"] += r.numel()
                STATS["native_low_mismatch"] += int((a != r).sum())
        except RuntimeError as e:
            note_refusal(e, f"{dtype} conv{d}d")

    # ---- independent numpy checks (all in float64 / complex128)
    npx, npw, npb, npgy = to_np(x), to_np(w), to_np(b), to_np(gy)
    npgx, npgw, npgb = to_np(gx), to_np(gw), to_np(gb)
    if not batched:
        npx, npgy, npgx = npx[None], npgy[None], npgx[None]

    def eff(wa):  # stored-layout weight -> torch layout, flipped for conv_mode='convolution'
        wa = wa.reshape([cout, cin // groups] + K)
        return np.flip(wa, axis=tuple(range(2, 2 + d))) if conv_mode == "convolution" else wa

    ref_args = (d, pairs, padding_mode, stride, dil, groups)
    ref = numpy_conv_reference(npx, eff(npw), npb, *ref_args)
    absref = numpy_conv_reference(np.abs(npx), np.abs(eff(npw)), np.abs(npb), *ref_args)
    y_np = to_np(y.detach())
    check_forward(name, y_np if batched else y_np[None], ref, absref,
                  (cin // groups) * int(np.prod(K)), EPS[str(cdt).split(".")[1]])
    rng = np_rng(name)
    n_red = max((cout // groups) * int(np.prod(K)) * 3 ** d, npgy.size // max(cout, 1))
    check_linear(name, "input", dtype, npgx, np_rand_like(rng, npx), npgy,
                 lambda a: numpy_conv_reference(a, eff(npw), None, *ref_args),
                 lambda a: numpy_conv_reference(a, np.abs(eff(npw)), None, *ref_args), n_red)
    check_linear(name, "weight", dtype, npgw, np_rand_like(rng, npw), npgy,
                 lambda a: numpy_conv_reference(npx, eff(a), None, *ref_args),
                 lambda a: numpy_conv_reference(np.abs(npx), eff(a), None, *ref_args), n_red)
    bshape = [1, cout] + [1] * d
    check_linear(name, "bias", dtype, npgb, np_rand_like(rng, npb), npgy,
                 lambda a: np.broadcast_to(a.reshape(bshape), npgy.shape),
                 lambda a: np.broadcast_to(a.reshape(bshape), npgy.shape), n_red)
    if N == 0:
        assert gx.numel() == 0 and not gw.any() and not gb.any(), name
        STATS["empty_batch_zero_grads"] += 1

    BACKWARD.append({
        "name": name, "dim": d, "dtype": dtype, "oracle": oracle,
        "input": enc(x), "weight": enc(w), "weight_layout": layout, "grad_output": enc(gy),
        "stride": stride, "dilation": dil, "groups": groups, "padding": pad_json,
        "padding_mode": padding_mode, "conv_mode": conv_mode,
        "grad_input": enc(gx), "grad_weight": enc(gw), "grad_bias": enc(gb)})


# ----------------------------------------------------------------------------- transpose
def complex_conv_transpose(d, stride, dil, groups):
    """Complex transposed conv from four real ones (torch 1.13 refuses complex 2-d/3-d)."""
    def f(x, w, b, pad, op):
        ct = lambda a, c: CONVT[d](a, c, None, stride, pad, op, groups, dil)  # noqa: E731
        xr, xi, wr, wi = x.real, x.imag, w.real, w.imag
        y = torch.complex(ct(xr, wr) - ct(xi, wi), ct(xr, wi) + ct(xi, wr))
        return y if b is None else y + b.reshape([1, -1] + [1] * d)
    return f


def transpose_graph(x, w, b, d, stride, dil, groups, pairs, explicit, op, decompose):
    if decompose:
        ct = complex_conv_transpose(d, stride, dil, groups)
    else:
        ct = lambda x_, w_, b_, pad, op_: CONVT[d](x_, w_, b_, stride, pad, op_,  # noqa: E731
                                                   groups, dil)
    if explicit:
        return ct(x, w, b, [lo for lo, _ in pairs], op)
    full = ct(x, w, None, 0, 0)
    Fs = full.shape[2:]
    full = F.pad(full, torch_pad_tuple([(0, o) for o in op]))  # zero-extend by output_padding
    y = full[(slice(None), slice(None)) +
             tuple(slice(lo, f + o - hi) for (lo, hi), f, o in zip(pairs, Fs, op))]
    return y if b is None else y + b.reshape([1, -1] + [1] * d)


def numpy_conv_transpose(x, w, b, stride, dil, groups, pairs, op):
    """Independent direct scatter in float64/complex128 (batched x, w (C_in, C_out/g, *K))."""
    d = x.ndim - 2
    N, cin, S = x.shape[0], x.shape[1], x.shape[2:]
    cog, K = w.shape[1], w.shape[2:]
    cig = cin // groups
    Fs = [(S[i] - 1) * stride[i] + dil[i] * (K[i] - 1) + 1 for i in range(d)]
    full = np.zeros([N, cog * groups] + [Fs[i] + op[i] for i in range(d)],
                    dtype=np.result_type(x, w))
    for g in range(groups):
        xg = x[:, g * cig:(g + 1) * cig]
        for k in itertools.product(*[range(kk) for kk in K]):
            sl = tuple(slice(k[i] * dil[i], k[i] * dil[i] + (S[i] - 1) * stride[i] + 1,
                             stride[i]) for i in range(d))
            wk = w[(slice(g * cig, (g + 1) * cig), slice(None)) + k]
            full[(slice(None), slice(g * cog, (g + 1) * cog)) + sl] += \
                np.einsum("nc...,co->no...", xg, wk)
    out = full[(slice(None), slice(None)) +
               tuple(slice(lo, Fs[i] + op[i] - hi) for i, (lo, hi) in enumerate(pairs))]
    if b is not None:
        out = out + b.reshape([1, -1] + [1] * d)
    return out


def tr(name, dim, cin, cout, S, K, dtype="float32", N=2, stride=1, dilation=1, groups=1,
       padding=0, output_padding=0, bias=True, output_size=None):
    """One transposed-conv case: forward + gradients. N=None: unbatched input (C_in, *S)."""
    name = f"{name}_{dtype}"
    gen = new_case(name)
    d = dim
    S, K, stride, dil = tup(S, d), tup(K, d), tup(stride, d), tup(dilation, d)
    op = tup(output_padding, d)
    assert cin % groups == 0 and cout % groups == 0
    dt = DTYPES[dtype]
    batched = N is not None
    x = rand(gen, ([N] if batched else []) + [cin] + S, dtype)
    w = rand(gen, [cin, cout // groups] + K, dtype, 0.5)
    b = rand(gen, [cout], dtype, 0.5) if bias else None
    pairs, pad_json = pad_pairs(padding, S, K, stride, dil)
    explicit = pad_json["kind"] == "explicit"
    assert pad_json["kind"] in ("explicit", "pairs")
    Fs = [(S[i] - 1) * stride[i] + dil[i] * (K[i] - 1) + 1 for i in range(d)]
    if output_size is not None:  # derive the output padding torch will use
        assert explicit and output_padding == 0 and dtype not in LOW
        sp = list(output_size)[-d:]
        op = [sp[i] - (Fs[i] - 2 * pairs[i][0]) for i in range(d)]
    assert all(o < st or o < dl for o, st, dl in zip(op, stride, dil)), (name, op)
    assert all(Fs[i] + op[i] - lo - hi >= 1 for i, (lo, hi) in enumerate(pairs)), name

    decompose = dt.is_complex and d > 1
    cdt = torch.complex128 if decompose else compute_dtype(dtype)
    oracle = "torch_float64" if (dtype in LOW or decompose) else "torch"
    xl = leaf(x, cdt)
    wl = leaf(w, cdt)
    bl = leaf(b, cdt) if bias else None
    xb = xl if batched else xl.unsqueeze(0)
    if output_size is not None:
        m = NN_CONVT[d](cin, cout, K, stride=stride, padding=[lo for lo, _ in pairs],
                        groups=groups, bias=bias, dilation=dil)
        m.weight = torch.nn.Parameter(wl)  # leaves are the module's parameters
        if bias:
            m.bias = torch.nn.Parameter(bl)
        wl, bl = m.weight, m.bias
        y = m(xl, output_size=list(output_size))
        assert m._output_padding(xl, list(output_size), stride, [lo for lo, _ in pairs], K, d,
                                 dil) == op
        with torch.no_grad():
            yf = CONVT[d](xl, wl, bl, stride, [lo for lo, _ in pairs], op, groups, dil)
        assert torch.equal(y, yf), name
        STATS["output_size_vs_functional"] += 1
    else:
        y = transpose_graph(xb, wl, bl, d, stride, dil, groups, pairs, explicit, op, decompose)
        y = y if batched else y.squeeze(0)
    gy = rand(gen, list(y.shape), dtype)
    y.backward(gy.to(cdt))
    out, gx, gw = y.detach().to(dt), xl.grad.to(dt), wl.grad.to(dt)
    gb = bl.grad.to(dt) if bias else None
    if dtype in LOW:  # statistics only: what would torch do natively?
        try:
            xn, wn = leaf(x, dt), leaf(w, dt)
            bn = leaf(b, dt) if bias else None
            yn = transpose_graph(xn if batched else xn.unsqueeze(0), wn, bn, d, stride, dil,
                                 groups, pairs, explicit, op, False)
            yn = yn if batched else yn.squeeze(0)
            if yn.shape != out.shape:  # torch 1.13 bf16 (mkldnn) runs a regular convolution
                raise RuntimeError(f"returned shape {list(yn.shape)} instead of "
                                   f"{list(out.shape)}")
            yn.backward(gy)
            for a, r in ((yn, out), (xn.grad, gx), (wn.grad, gw)) + \
                    (((bn.grad, gb),) if bias else ()):
                STATS["native_low_elems"] += r.numel()
                STATS["native_low_mismatch"] += int((a != r).sum())
        except RuntimeError as e:
            note_refusal(e, f"{dtype} conv_transpose{d}d")

    # ---- cross-checks inside torch
    with torch.no_grad():
        if explicit and output_size is None:  # the pairs route with (p, p) == F.conv_transpose
            yp = transpose_graph(xb, wl, bl, d, stride, dil, groups, pairs, False, op, decompose)
            yp = yp if batched else yp.squeeze(0)
            tol = 64 * EPS["float64" if cdt in (torch.float64, torch.complex128) else "float32"]
            assert torch.allclose(yp, y, rtol=tol, atol=tol), name
            STATS["pairs_vs_explicit"] += 1
    if dt.is_complex and d == 1:  # validate the four-real-convolution composition
        xc, wc = leaf(x, torch.complex128), leaf(w, torch.complex128)
        bc = leaf(b, torch.complex128) if bias else None
        xcb = xc if batched else xc.unsqueeze(0)
        grads = []
        for dec in (False, True):
            for t in (xc, wc, bc):
                if t is not None:
                    t.grad = None
            yc = transpose_graph(xcb, wc, bc, d, stride, dil, groups, pairs, explicit, op, dec)
            yc.backward(gy.to(torch.complex128).reshape(yc.shape))
            grads.append([yc.detach()] + [t.grad.clone() for t in (xc, wc, bc) if t is not None])
        for a, r in zip(*grads):
            assert torch.allclose(a, r, rtol=1e-12, atol=1e-12), name
        STATS["complex_decomp_vs_native"] += 1

    # ---- independent numpy checks
    npx, npw = to_np(x), to_np(w)
    npb = to_np(b) if bias else None
    npgy, npgx, npgw = to_np(gy), to_np(gx), to_np(gw)
    npout = to_np(out)
    if not batched:
        npx, npgy, npgx, npout = npx[None], npgy[None], npgx[None], npout[None]
    ref_args = (stride, dil, groups, pairs, op)
    ref = numpy_conv_transpose(npx, npw, npb, *ref_args)
    absref = numpy_conv_transpose(np.abs(npx), np.abs(npw), None if npb is None
                                  else np.abs(npb), *ref_args)
    n_red = cin // groups * int(np.prod(K))
    eps_c = EPS[str(cdt).split(".")[1]]
    check_forward(name, npout, ref, absref, n_red, eps_c, 0.0 if cdt == dt else EPS[dtype])
    rng = np_rng(name)
    n_red = max(n_red * 3 ** d, npx.size, npgy.size // max(cout, 1))
    check_linear(name, "input", dtype, npgx, np_rand_like(rng, npx), npgy,
                 lambda a: numpy_conv_transpose(a, npw, None, *ref_args),
                 lambda a: numpy_conv_transpose(a, np.abs(npw), None, *ref_args), n_red)
    check_linear(name, "weight", dtype, npgw, np_rand_like(rng, npw), npgy,
                 lambda a: numpy_conv_transpose(npx, a, None, *ref_args),
                 lambda a: numpy_conv_transpose(np.abs(npx), a, None, *ref_args), n_red)
    if bias:
        bshape = [1, cout] + [1] * d
        check_linear(name, "bias", dtype, to_np(gb), np_rand_like(rng, npb), npgy,
                     lambda a: np.broadcast_to(a.reshape(bshape), npgy.shape),
                     lambda a: np.broadcast_to(a.reshape(bshape), npgy.shape), n_red)
    if N == 0:
        assert gx.numel() == 0 and not gw.any() and (gb is None or not gb.any()), name
        STATS["empty_batch_zero_grads"] += 1

    TRANSPOSE.append({
        "name": name, "dim": d, "dtype": dtype, "oracle": oracle,
        "input": enc(x), "weight": enc(w), "bias": None if b is None else enc(b),
        "stride": stride, "dilation": dil, "groups": groups, "padding": pad_json,
        "output_padding": op, "output_size": None if output_size is None else list(output_size),
        "output": enc(out), "grad_output": enc(gy), "grad_input": enc(gx),
        "grad_weight": enc(gw), "grad_bias": None if gb is None else enc(gb)})


# ----------------------------------------------------------------------------- case lists
def P(*p):
    return ("pairs", [list(x) for x in p])


def backward_cases():
    # ---- 1-d: (name, cin, cout, L, K, kwargs)
    c1 = [
        ("b1_k3", 3, 4, 8, 3, {}),
        ("b1_k1", 3, 2, 6, 1, {}),
        ("b1_k3_stride2_pad1", 2, 3, 10, 3, dict(stride=2, padding=1)),
        ("b1_k2_stride3", 2, 2, 11, 2, dict(stride=3)),
        ("b1_k5_stride3_dil2_pad2", 2, 2, 12, 5, dict(stride=3, dilation=2, padding=2)),
        ("b1_dil2_pad2", 2, 3, 10, 3, dict(dilation=2, padding=2)),
        ("b1_pairs_0_2", 2, 3, 6, 3, dict(padding=P((0, 2)))),
        ("b1_pairs_3_1_stride2", 2, 2, 7, 3, dict(padding=P((3, 1)), stride=2)),
        ("b1_same_k4", 2, 3, 7, 4, dict(padding="same")),
        ("b1_same_stride2_k3", 2, 3, 9, 3, dict(padding="same", stride=2)),
        ("b1_valid_k4", 3, 2, 7, 4, dict(padding="valid")),
        ("b1_causal_k3_dil2", 2, 3, 8, 3, dict(padding="causal", dilation=2)),
        ("b1_causal_k2_stride2", 2, 2, 9, 2, dict(padding="causal", stride=2)),
        ("b1_groups2", 4, 6, 7, 3, dict(groups=2, padding=1)),
        ("b1_depthwise", 3, 3, 7, 3, dict(groups=3, padding=1)),
        ("b1_depthwise_m2", 3, 6, 7, 3, dict(groups=3)),
        ("b1_odd_5_3", 5, 3, 6, 3, dict(padding=1)),
        ("b1_reflect_pad2", 2, 3, 6, 3, dict(padding=2, padding_mode="reflect")),
        ("b1_reflect_pad_max", 2, 2, 4, 3, dict(padding=3, padding_mode="reflect")),
        ("b1_replicate_pad3_stride2", 2, 3, 6, 3, dict(padding=3, stride=2,
                                                       padding_mode="replicate")),
        ("b1_circular_pad_eq_len", 2, 2, 4, 3, dict(padding=4, padding_mode="circular")),
        ("b1_reflect_same_k4", 2, 2, 6, 4, dict(padding="same", padding_mode="reflect")),
        ("b1_replicate_causal_dil2", 2, 2, 7, 3, dict(padding="causal", dilation=2,
                                                      padding_mode="replicate")),
        ("b1_circular_pairs_0_3", 2, 2, 5, 3, dict(padding=P((0, 3)), padding_mode="circular")),
        ("b1_convmode", 2, 3, 7, 3, dict(conv_mode="convolution", padding=1)),
        ("b1_convmode_groups2_stride2", 4, 2, 8, 3, dict(conv_mode="convolution", groups=2,
                                                         stride=2)),
        ("b1_unbatched", 2, 3, 6, 3, dict(N=None, padding=1)),
        ("b1_unbatched_reflect", 2, 2, 6, 3, dict(N=None, padding=2, padding_mode="reflect")),
        ("b1_empty_batch", 2, 3, 5, 3, dict(N=0, padding=1)),
        ("b1_megengine_groups2", 4, 6, 6, 3, dict(groups=2, padding=1, layout="megengine")),
        ("b1_k3_pad1", 3, 4, 8, 3, dict(padding=1, dtype="float64")),
        ("b1_reflect_groups2_stride2", 4, 4, 8, 3, dict(groups=2, stride=2, padding=2,
                                                        padding_mode="reflect",
                                                        dtype="float64")),
        ("b1_circular_dil2_convmode", 2, 3, 7, 3, dict(dilation=2, padding=3,
                                                       padding_mode="circular",
                                                       conv_mode="convolution",
                                                       dtype="float64")),
        ("b1_reflect_pad2", 2, 3, 6, 3, dict(padding=2, padding_mode="reflect",
                                             dtype="float16")),
        ("b1_depthwise_m2_stride2", 2, 4, 9, 3, dict(groups=2, stride=2, padding=1,
                                                     dtype="float16")),
        ("b1_reflect_same_k4", 2, 2, 6, 4, dict(padding="same", padding_mode="reflect",
                                                dtype="bfloat16")),
        ("b1_k3_stride2_causal", 3, 2, 9, 3, dict(padding="causal", stride=2,
                                                  dtype="bfloat16")),
        ("b1_groups2_pad1", 4, 2, 7, 3, dict(groups=2, padding=1, dtype="complex64")),
        ("b1_reflect_pairs_2_1", 2, 2, 6, 3, dict(padding=P((2, 1)), padding_mode="reflect",
                                                  dtype="complex64")),
        ("b1_circular_convmode_stride2", 2, 3, 7, 3, dict(padding=2, stride=2,
                                                          padding_mode="circular",
                                                          conv_mode="convolution",
                                                          dtype="complex128")),
    ]
    for name, cin, cout, L, K, kw in c1:
        bw(name, 1, cin, cout, L, K, **kw)
    # ---- 2-d
    c2 = [
        ("b2_k3", 3, 4, 5, 3, {}),
        ("b2_k1x1", 3, 5, (4, 5), 1, {}),
        ("b2_k3_stride2_pad1", 2, 3, 7, 3, dict(stride=2, padding=1)),
        ("b2_k2_stride3", 2, 2, 7, 2, dict(stride=3)),
        ("b2_k3x2_stride2x1_dil1x2_pad1x2", 2, 2, (6, 7), (3, 2),
         dict(stride=(2, 1), dilation=(1, 2), padding=(1, 2))),
        ("b2_dil2_pad2", 2, 2, 6, 3, dict(dilation=2, padding=2)),
        ("b2_pairs", 2, 3, 5, 3, dict(padding=P((0, 2), (2, 1)))),
        ("b2_same_k2x3", 2, 2, 5, (2, 3), dict(padding="same")),
        ("b2_same_stride2", 2, 2, 7, 3, dict(padding="same", stride=2)),
        ("b2_valid_k3x2", 3, 2, 5, (3, 2), dict(padding="valid")),
        ("b2_groups2", 4, 6, 5, 3, dict(groups=2, padding=1)),
        ("b2_depthwise", 3, 3, 5, 3, dict(groups=3, padding=1)),
        ("b2_depthwise_m2_stride2", 3, 6, 6, 3, dict(groups=3, stride=2, padding=1)),
        ("b2_odd_5_3", 5, 3, 4, 3, dict(N=1)),
        ("b2_reflect_pad1x2", 2, 2, 5, 3, dict(padding=(1, 2), padding_mode="reflect")),
        ("b2_replicate_pad2", 2, 2, 4, 3, dict(padding=2, padding_mode="replicate")),
        ("b2_circular_pad_eq_size", 2, 2, (3, 4), 3, dict(padding=(3, 4),
                                                          padding_mode="circular")),
        ("b2_reflect_same_stride2", 2, 2, 6, 3, dict(padding="same", stride=2,
                                                     padding_mode="reflect")),
        ("b2_circular_pairs", 2, 2, 4, 3, dict(padding=P((1, 2), (4, 0)),
                                               padding_mode="circular")),
        ("b2_convmode", 2, 2, 5, (2, 3), dict(conv_mode="convolution", padding=1)),
        ("b2_convmode_depthwise_m2", 2, 4, 5, 3, dict(conv_mode="convolution", groups=2)),
        ("b2_unbatched", 2, 3, 5, 3, dict(N=None, padding=1)),
        ("b2_unbatched_replicate", 2, 2, 4, 3, dict(N=None, padding=1,
                                                    padding_mode="replicate")),
        ("b2_empty_batch", 2, 3, 4, 3, dict(N=0, padding=1)),
        ("b2_megengine_depthwise_m2", 3, 6, 5, 3, dict(groups=3, stride=2, padding=1,
                                                       layout="megengine")),
        ("b2_k3_pad1_groups2", 4, 4, 5, 3, dict(groups=2, padding=1, dtype="float64")),
        ("b2_reflect_stride2_dil2", 2, 3, 7, 3, dict(stride=2, dilation=2, padding=2,
                                                     padding_mode="reflect", dtype="float64")),
        ("b2_circular_pairs_convmode", 2, 2, 5, (2, 3), dict(padding=P((0, 2), (1, 3)),
                                                             padding_mode="circular",
                                                             conv_mode="convolution",
                                                             dtype="float64")),
        ("b2_reflect_pad1", 2, 3, 5, 3, dict(padding=1, padding_mode="reflect",
                                             dtype="float16")),
        ("b2_same_stride2_groups2", 4, 2, 6, 3, dict(padding="same", stride=2, groups=2,
                                                     dtype="float16")),
        ("b2_replicate_pad2_stride2", 2, 2, 5, 3, dict(padding=2, stride=2,
                                                       padding_mode="replicate",
                                                       dtype="bfloat16")),
        ("b2_reflect_same_k2", 2, 2, 4, 2, dict(padding="same", padding_mode="reflect",
                                                dtype="bfloat16")),
        ("b2_groups2_stride2", 4, 4, 5, 3, dict(groups=2, stride=2, padding=1,
                                                dtype="complex64")),
        ("b2_reflect_convmode", 2, 2, 5, 3, dict(padding=(2, 1), padding_mode="reflect",
                                                 conv_mode="convolution",
                                                 dtype="complex128")),
    ]
    for name, cin, cout, S, K, kw in c2:
        bw(name, 2, cin, cout, S, K, **kw)
    # ---- 3-d
    c3 = [
        ("b3_k3", 2, 2, 4, 3, dict(N=1)),
        ("b3_k1", 3, 2, (2, 3, 2), 1, {}),
        ("b3_k3_stride2_pad1", 1, 2, 5, 3, dict(stride=2, padding=1, N=1)),
        ("b3_stride1x2x3_dil2x1x1", 1, 2, (3, 4, 5), 2, dict(stride=(1, 2, 3),
                                                             dilation=(2, 1, 1), N=1)),
        ("b3_pairs", 1, 2, 3, 2, dict(padding=P((0, 2), (1, 0), (2, 1)), N=1)),
        ("b3_same_k2x3x2", 1, 2, 4, (2, 3, 2), dict(padding="same", N=1)),
        ("b3_same_stride2", 1, 2, (5, 4, 3), 2, dict(padding="same", stride=2, N=1)),
        ("b3_groups2", 4, 2, 3, 2, dict(groups=2, padding=1, N=1)),
        ("b3_depthwise_m2", 2, 4, 3, 2, dict(groups=2, N=1)),
        ("b3_reflect_pad1", 1, 2, 3, 3, dict(padding=1, padding_mode="reflect")),
        ("b3_replicate_pad1x0x2", 1, 2, 3, 2, dict(padding=(1, 0, 2),
                                                   padding_mode="replicate", N=1)),
        ("b3_circular_pad_eq_size", 1, 2, (2, 3, 2), 2, dict(padding=(2, 3, 2),
                                                             padding_mode="circular", N=1)),
        ("b3_convmode", 1, 2, 3, (2, 3, 2), dict(conv_mode="convolution", N=1)),
        ("b3_unbatched", 2, 2, 3, 2, dict(N=None, padding=1)),
        ("b3_empty_batch", 2, 2, 3, 2, dict(N=0)),
        ("b3_k3_pad1_groups2", 2, 2, 3, 3, dict(groups=2, padding=1, N=1, dtype="float64")),
        ("b3_reflect_stride2", 1, 2, 4, 2, dict(stride=2, padding=1, padding_mode="reflect",
                                                N=1, dtype="float64")),
        ("b3_reflect_pad1", 1, 2, 3, 2, dict(padding=1, padding_mode="reflect", N=1,
                                             dtype="float16")),
        ("b3_circular_pairs", 1, 2, 3, 2, dict(padding=P((0, 2), (1, 1), (2, 0)),
                                               padding_mode="circular", N=1,
                                               dtype="bfloat16")),
        ("b3_replicate_convmode", 1, 2, 3, 2, dict(padding=1, padding_mode="replicate",
                                                   conv_mode="convolution", N=1,
                                                   dtype="complex64")),
        ("b3_stride2_groups2", 2, 2, 4, 2, dict(stride=2, groups=2, N=1,
                                                dtype="complex128")),
    ]
    for name, cin, cout, S, K, kw in c3:
        bw(name, 3, cin, cout, S, K, **kw)


def transpose_cases():
    c1 = [
        ("t1_k3", 3, 4, 5, 3, {}),
        ("t1_s2_p1_op1", 2, 3, 5, 3, dict(stride=2, padding=1, output_padding=1)),
        ("t1_s3_p2_op2", 2, 2, 4, 4, dict(stride=3, padding=2, output_padding=2)),
        ("t1_s1_dil3_op2", 2, 2, 5, 3, dict(dilation=3, output_padding=2)),
        ("t1_s2_dil2_p2_nobias", 2, 3, 5, 3, dict(stride=2, dilation=2, padding=2,
                                                  bias=False)),
        ("t1_pairs_0_2_s2", 2, 3, 5, 3, dict(stride=2, padding=P((0, 2)))),
        ("t1_pairs_1_0_s2_op1", 2, 2, 5, 3, dict(stride=2, padding=P((1, 0)),
                                                 output_padding=1)),
        ("t1_groups2_s2_p1", 4, 6, 5, 3, dict(groups=2, stride=2, padding=1)),
        ("t1_depthwise_s2_p1", 3, 3, 6, 3, dict(groups=3, stride=2, padding=1)),
        ("t1_unbatched_s2_p1_op1", 2, 3, 5, 3, dict(N=None, stride=2, padding=1,
                                                    output_padding=1)),
        ("t1_empty_batch_s2", 2, 3, 5, 3, dict(N=0, stride=2)),
        ("t1_output_size_s3", 2, 3, 5, 3, dict(stride=3, padding=1, output_size=[15])),
        ("t1_output_size_unbatched_prefix", 3, 2, 4, 3, dict(N=None, stride=2,
                                                             output_size=[2, 10])),
        ("t1_hifigan_k16_s8_p4", 4, 2, 6, 16, dict(stride=8, padding=4)),
        ("t1_groups2_s2_p1_op1", 4, 4, 5, 3, dict(groups=2, stride=2, padding=1,
                                                  output_padding=1, dtype="float64")),
        ("t1_s2_p1", 2, 3, 5, 3, dict(stride=2, padding=1, dtype="float16")),
        ("t1_pairs_0_2_s2_op1", 2, 2, 5, 3, dict(stride=2, padding=P((0, 2)),
                                                 output_padding=1, dtype="bfloat16")),
        ("t1_s2_p1_op1", 2, 3, 5, 3, dict(stride=2, padding=1, output_padding=1,
                                          dtype="complex64")),
        ("t1_groups2_pairs_2_1_s3", 4, 2, 4, 3, dict(groups=2, stride=3, padding=P((2, 1)),
                                                     dtype="complex128")),
    ]
    for name, cin, cout, L, K, kw in c1:
        tr(name, 1, cin, cout, L, K, **kw)
    c2 = [
        ("t2_dcgan_k4_s2_p1", 4, 3, 4, 4, dict(stride=2, padding=1)),
        ("t2_unet_k2_s2", 4, 2, 3, 2, dict(stride=2)),
        ("t2_k3_p1", 3, 2, 5, 3, dict(padding=1)),
        ("t2_output_size_s2", 2, 3, (3, 4), 3, dict(stride=2, padding=1, output_size=[6, 8])),
        ("t2_output_size_nc_prefix", 2, 2, 3, 3, dict(stride=3, output_size=[2, 2, 9, 11])),
        ("t2_pairs_op", 2, 2, 4, 3, dict(stride=2, padding=P((0, 2), (1, 1)),
                                         output_padding=(1, 0))),
        ("t2_dil2_p2", 2, 2, 4, 3, dict(dilation=2, padding=2)),
        ("t2_groups2_s2_p1_op1", 4, 4, 3, 3, dict(groups=2, stride=2, padding=1,
                                                  output_padding=1)),
        ("t2_depthwise_nobias", 3, 3, 4, 3, dict(groups=3, stride=2, padding=1, bias=False)),
        ("t2_op_ge_stride_lt_dil", 2, 2, 4, 3, dict(stride=(1, 2), dilation=(3, 1),
                                                    output_padding=(2, 1))),
        ("t2_unbatched_nobias", 2, 3, 4, 3, dict(N=None, stride=2, padding=1, bias=False)),
        ("t2_empty_batch", 2, 3, 3, 3, dict(N=0, stride=2, padding=1)),
        ("t2_k3_s2_p1_op1", 3, 2, 4, 3, dict(stride=2, padding=1, output_padding=1,
                                             dtype="float64")),
        ("t2_dcgan_k4_s2_p1", 2, 3, 3, 4, dict(stride=2, padding=1, dtype="float16")),
        ("t2_pairs_groups2", 4, 2, 3, 3, dict(groups=2, stride=2, padding=P((0, 2), (2, 1)),
                                              output_padding=1, dtype="bfloat16")),
        ("t2_s2_p1_op1", 2, 2, 3, 3, dict(stride=2, padding=1, output_padding=1,
                                          dtype="complex64")),
        ("t2_pairs_dil2", 2, 2, 3, 3, dict(dilation=2, padding=P((1, 2), (0, 1)),
                                           output_padding=(1, 0), dtype="complex128")),
    ]
    for name, cin, cout, S, K, kw in c2:
        tr(name, 2, cin, cout, S, K, **kw)
    c3 = [
        ("t3_k2_s2", 2, 2, 3, 2, dict(stride=2, N=1)),
        ("t3_k3_p1", 2, 2, 3, 3, dict(padding=1, N=1)),
        ("t3_pairs_op", 1, 2, 3, 2, dict(stride=2, padding=P((0, 2), (1, 0), (0, 0)),
                                         output_padding=(0, 1, 1), N=1)),
        ("t3_groups2_op", 2, 2, 3, 2, dict(groups=2, stride=(1, 2, 2),
                                           output_padding=(0, 1, 0), N=1)),
        ("t3_unbatched_nobias", 2, 2, 3, 2, dict(N=None, stride=2, padding=1, bias=False)),
        ("t3_s2_p1_op1", 2, 2, 3, 3, dict(stride=2, padding=1, output_padding=1, N=1,
                                          dtype="float64")),
        ("t3_k2_s2", 2, 2, 3, 2, dict(stride=2, N=1, dtype="float16")),
        ("t3_dil2_p1", 1, 2, 3, 2, dict(dilation=2, padding=1, N=1, dtype="bfloat16")),
        ("t3_k2_s2_groups2", 2, 2, 3, 2, dict(stride=2, groups=2, N=1, dtype="complex64")),
        ("t3_pairs_s2", 1, 2, 3, 2, dict(stride=2, padding=P((1, 0), (0, 1), (1, 1)),
                                         output_padding=(1, 0, 1), N=1,
                                         dtype="complex128")),
    ]
    for name, cin, cout, S, K, kw in c3:
        tr(name, 3, cin, cout, S, K, **kw)


# ----------------------------------------------------------------------------- main
def summarize(cases, label):
    counts = {}
    for c in cases:
        counts[(c["dtype"], c["dim"])] = counts.get((c["dtype"], c["dim"]), 0) + 1
    print(f"  {label}: {len(cases)}")
    for dt in DTYPES:
        per = ", ".join(f"{d}d={counts.get((dt, d), 0)}" for d in (1, 2, 3))
        print(f"    {dt:10s} {sum(counts.get((dt, d), 0) for d in (1, 2, 3)):3d}  ({per})")
    oracles = {}
    for c in cases:
        oracles[c["oracle"]] = oracles.get(c["oracle"], 0) + 1
    print("    oracles:", oracles)


def main():
    warnings.filterwarnings("ignore", message="Using padding='same'")
    torch.set_num_threads(1)  # deterministic accumulation order: identical files per run
    torch.manual_seed(BASE_SEED)
    backward_cases()
    transpose_cases()

    dump = lambda o: json.dumps(o, separators=(",", ":"), allow_nan=False)  # noqa: E731
    text = ('{\n"generator": "tests/golden/gen_grad_golden.py",\n'
            f'"torch_version": {json.dumps(torch.__version__)},\n"backward_cases": [\n'
            + ",\n".join(dump(c) for c in BACKWARD) + '\n],\n"transpose_cases": [\n'
            + ",\n".join(dump(c) for c in TRANSPOSE) + "\n]\n}\n")
    json.loads(text)  # sanity: valid JSON
    fd, tmp = tempfile.mkstemp(dir=HERE, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, OUT_PATH)

    print(f"wrote {OUT_PATH}: {len(BACKWARD)} backward + {len(TRANSPOSE)} transpose cases, "
          f"{os.path.getsize(OUT_PATH)} bytes (torch {torch.__version__})")
    summarize(BACKWARD, "backward_cases")
    summarize(TRANSPOSE, "transpose_cases")
    s = STATS
    print(f"  checks: forward vs numpy {s['fwd_numpy']}; linearity grad_input {s['lin_input']}, "
          f"grad_weight {s['lin_weight']}, grad_bias {s['lin_bias']} "
          f"({s['lin_strict']} of them float64/complex128 at 1e-9 relative)")
    print(f"          pairs route == explicit F.conv_transpose {s['pairs_vs_explicit']}; "
          f"output_size module == functional {s['output_size_vs_functional']}; "
          f"complex 4-real composition == native (1-d) {s['complex_decomp_vs_native']}; "
          f"N=0 zero grads {s['empty_batch_zero_grads']}")
    print("  native float16/bfloat16 attempts that failed in torch (float64 route used anyway):")
    for msg, n in sorted(s["native_refused"].items()):
        print(f"    {n:3d} x {msg}")
    print(f"  native bfloat16/float16 results vs float64-rounded: {s['native_low_mismatch']}/"
          f"{s['native_low_elems']} elements differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
