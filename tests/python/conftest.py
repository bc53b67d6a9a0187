"""The Python tests run against the installed convkit package, with PyTorch as the oracle."""
import numpy as np
import pytest
import torch

import convkit


@pytest.fixture(autouse=True)
def _threads():
    # Each test starts from the same thread counts on both sides.
    convkit.set_num_threads(2)
    torch.set_num_threads(2)
    yield


def to_torch(t):
    """A convkit tensor's values as a torch tensor (a copy, through numpy)."""
    return torch.from_numpy(np.array(t.numpy()))


def assert_close(got, want, tol=1e-4):
    """max |got - want| <= tol * (1 + max |want|); got a convkit tensor, want a torch tensor."""
    g = np.asarray(got.numpy(), dtype=np.float64)
    w = want.detach().double().numpy()
    assert g.shape == w.shape, f"shape {g.shape} != {w.shape}"
    if w.size:
        err = np.abs(g - w).max()
        assert err <= tol * (1 + np.abs(w).max()), f"max |diff| {err}"


def torch_close(a, b, tol=1e-4):
    """max |a - b| <= tol * (1 + max |b|) for two torch tensors of the same shape (b: torch.nn's)."""
    assert a.shape == b.shape
    if a.numel():
        err = (a.double() - b.double()).abs().max().item()
        assert err <= tol * (1 + b.abs().max().item()), f"max |diff| {err}"


def gradients_match(ours, theirs, x1, x2, y1, y2):
    """The outputs y1 = ours(x1) and y2 = theirs(x2) agree, and so do the input, weight and
    bias gradients after both backpropagate the same random gradient."""
    torch_close(y1, y2)
    gy = torch.randn_like(y2)
    y1.backward(gy)
    y2.backward(gy)
    torch_close(x1.grad, x2.grad)
    torch_close(ours.weight.grad, theirs.weight.grad)
    if theirs.bias is not None:
        torch_close(ours.bias.grad, theirs.bias.grad)
