"""convkit.nn and convkit.nn.functional against torch.nn: same init bits, same outputs and
gradients, same kinds of errors."""
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import convkit
import convkit.nn as nn
import convkit.nn.functional as F
from conftest import assert_close, to_torch

CONV_CASES = [
    (1, dict(stride=2)),
    (1, dict(padding="same", dilation=2, padding_mode="reflect")),
    (2, dict(stride=(2, 1), padding=1, groups=2)),
    (2, dict(padding="valid", bias=False, padding_mode="circular")),
    (2, dict(padding=(1, 2), padding_mode="replicate", groups=4)),
    (3, dict(stride=2, padding=1, dilation=(1, 2, 1))),
]


def shapes(rank, n=2, c=4, s=7):
    return (n, c) + (s,) * rank


@pytest.mark.parametrize("rank,kw", CONV_CASES)
def test_conv_module_matches_torch(rank, kw):
    torch.manual_seed(5)
    theirs = getattr(torch.nn, f"Conv{rank}d")(4, 8, 3, **kw)
    convkit.manual_seed(5)
    ours = getattr(nn, f"Conv{rank}d")(4, 8, 3, **kw)
    assert np.array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())  # init, bit for bit
    assert repr(ours) == repr(theirs)
    x = convkit.randn(*shapes(rank))
    y = ours(x)
    xt = to_torch(x).requires_grad_()
    yt = theirs(xt)
    assert_close(y, yt)
    gy = convkit.randn(*y.shape)
    yt.backward(to_torch(gy))
    gx = ours.backward(x, gy)
    assert_close(gx, xt.grad)
    assert_close(ours.weight.grad, theirs.weight.grad)
    if theirs.bias is not None:
        assert_close(ours.bias.grad, theirs.bias.grad)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_transpose_module_matches_torch(rank):
    kw = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    torch.manual_seed(6)
    theirs = getattr(torch.nn, f"ConvTranspose{rank}d")(4, 6, 3, **kw)
    convkit.manual_seed(6)
    ours = getattr(nn, f"ConvTranspose{rank}d")(4, 6, 3, **kw)
    assert np.array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())
    assert repr(ours) == repr(theirs)
    x = convkit.randn(*shapes(rank, s=5))
    assert_close(ours(x), theirs(to_torch(x)))
    size = [10] * rank  # min 9, max 10 for stride 2
    assert_close(ours(x, output_size=size), theirs(to_torch(x), output_size=size))


def test_functional_matches_torch():
    x = convkit.randn(2, 4, 9, 8)
    w = convkit.randn(6, 2, 3, 3)
    b = convkit.randn(6)
    xt, wt, bt = to_torch(x), to_torch(w), to_torch(b)
    assert_close(F.conv2d(x, w, b, stride=2, padding=1, groups=2), TF.conv2d(xt, wt, bt, stride=2, padding=1, groups=2))
    assert_close(F.conv2d(x, w, None, padding="same", dilation=2, groups=2),
                 TF.conv2d(xt, wt, None, padding="same", dilation=2, groups=2))
    x1, w1 = convkit.randn(3, 5, 11), convkit.randn(2, 5, 4)  # unbatched conv1d
    assert_close(F.conv1d(x1, w1, padding="same"), TF.conv1d(to_torch(x1), to_torch(w1), padding="same"))
    x3, w3 = convkit.randn(1, 2, 5, 6, 7), convkit.randn(3, 2, 2, 3, 2)
    assert_close(F.conv3d(x3, w3, stride=(1, 2, 1)), TF.conv3d(to_torch(x3), to_torch(w3), stride=(1, 2, 1)))
    wt_t = convkit.randn(4, 3, 3, 3)
    assert_close(F.conv_transpose2d(x, wt_t, None, stride=2, padding=1, output_padding=1, groups=2),
                 TF.conv_transpose2d(xt, to_torch(wt_t), None, stride=2, padding=1, output_padding=1, groups=2))
    # convkit's extras: asymmetric pairs equal torch's pad + conv.
    y = F.conv2d(x, w, b, padding=((0, 2), (1, 1)), groups=2)
    assert_close(y, TF.conv2d(TF.pad(xt, (1, 1, 0, 2)), wt, bt, groups=2))


def test_errors_are_torchs_kinds():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="Invalid padding string"):
        nn.Conv1d(2, 2, 3, padding="full")
    with pytest.raises(TypeError):
        nn.Conv1d(2, 2, "3")
    m = nn.Conv2d(4, 6, 3)
    with pytest.raises(RuntimeError, match="expected input\\[1, 3, 8, 8\\] to have 4 channels"):
        m(convkit.zeros(1, 3, 8, 8))
    with pytest.raises(TypeError):
        m(np.zeros((1, 4, 8, 8), np.float32))
    with pytest.raises(RuntimeError, match="device 'cuda'"):
        nn.Conv2d(4, 6, 3, device="cuda")
    assert m(convkit.zeros(0, 4, 8, 8)).shape == (0, 6, 6, 6)


def test_weight_assignment_from_numpy_and_tensor():
    m = nn.Conv1d(2, 3, 2)
    w = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    m.weight = w
    m.bias = None
    assert m.bias is None and "bias=False" in repr(m)
    x = convkit.ones(1, 2, 4)
    want = TF.conv1d(torch.ones(1, 2, 4), torch.from_numpy(w))
    assert_close(m(x), want)
    m.weight.numpy()[...] = 0  # a parameter is the module's memory
    assert np.all(m(x).numpy() == 0)
    assert "Parameter containing" in repr(m.weight)


def test_parameters_share_their_gradients_with_the_module():
    m = nn.Conv1d(2, 3, 2)
    params = list(m.parameters())          # taken before any backward, as an optimizer does
    x = convkit.randn(1, 2, 5)
    m.backward(x, convkit.ones(1, 3, 4))
    assert params[0].grad is not None and params[1].grad.numpy().tolist() == [4.0, 4.0, 4.0]
    m.zero_grad(set_to_none=False)
    assert params[1].grad.numpy().tolist() == [0.0, 0.0, 0.0]
    m.zero_grad()
    assert params[0].grad is None and m.weight.grad is None


def test_assigning_weights_while_other_threads_run_forwards():
    m = nn.Conv2d(8, 8, 3, padding=1)
    x = convkit.randn(1, 8, 16, 16)
    stop = threading.Event()
    errors = []

    def forwards():
        while not stop.is_set():
            try:
                assert m(x).shape == (1, 8, 16, 16)
            except Exception as e:  # noqa: BLE001  (reported below)
                errors.append(e)

    threads = [threading.Thread(target=forwards) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(200):
        m.weight = np.full((8, 8, 3, 3), i, np.float32)
        m.bias = None if i % 2 else np.zeros(8, np.float32)
    stop.set()
    for t in threads:
        t.join()
    assert not errors


def test_two_threads_share_one_layer():
    m = nn.Conv2d(32, 32, 3, padding=1)
    xs = [convkit.randn(2, 32, 24, 24) for _ in range(4)]
    want = [m(x).numpy().copy() for x in xs]
    got = [None] * 4

    def run(i):
        for _ in range(5):
            got[i] = m(xs[i]).numpy()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want):
        assert np.array_equal(g, w)


def test_bad_inputs_raise_and_never_crash():
    m = nn.Conv2d(4, 6, 3)
    with pytest.raises(RuntimeError, match="float64"):
        m(convkit.zeros(1, 4, 8, 8, dtype=convkit.float64))       # the module is float32
    with pytest.raises(TypeError):
        m(None)
    with pytest.raises(RuntimeError):
        F.conv2d(convkit.zeros(1, 4, 8, 8), convkit.zeros(6, 4, 3, 3, dtype=convkit.float16))
    with pytest.raises(RuntimeError):
        F.conv2d(convkit.zeros(4, 8), convkit.zeros(6, 4, 3, 3))  # too few dims
    with pytest.raises(RuntimeError):
        F.conv2d(convkit.zeros(1, 4, 2, 2), convkit.zeros(6, 4, 3, 3))  # kernel larger than input
    # Non-contiguous and read-only numpy input computes correctly.
    a = np.random.default_rng(0).standard_normal((8, 8, 4, 1), dtype=np.float32)
    view = a.transpose(3, 2, 0, 1)                                 # (1, 4, 8, 8), strided
    x = convkit.from_numpy(view)
    assert not x.is_contiguous()
    assert_close(m(x), torch.nn.functional.conv2d(torch.from_numpy(np.ascontiguousarray(view)),
                                                  to_torch(m.weight), to_torch(m.bias)))
    ro = np.ascontiguousarray(view)
    ro.flags.writeable = False
    with pytest.warns(UserWarning):
        assert m(convkit.from_numpy(ro)).shape == (1, 6, 6, 6)
    # 0-size dims: an empty batch, empty channels with groups, empty transposed input.
    assert m(convkit.zeros(0, 4, 8, 8)).shape == (0, 6, 6, 6)
    # An empty weight is refused (torch 1.13 returns a (2, 0, 4) tensor here, not (2, 3, 4)).
    with pytest.raises(RuntimeError, match="empty dimension"):
        F.conv1d(convkit.zeros(2, 0, 5), convkit.zeros(3, 0, 2))
    assert nn.ConvTranspose1d(2, 3, 2)(convkit.zeros(0, 2, 4)).shape == (0, 3, 5)


def test_every_dtype_runs():
    for dt in (convkit.float32, convkit.float64, convkit.float16, convkit.bfloat16, convkit.complex64,
               convkit.complex128):
        m = nn.Conv1d(2, 3, 3, dtype=dt)
        y = m(convkit.randn(1, 2, 6, dtype=dt))
        assert y.dtype == dt and y.shape == (1, 3, 4)
