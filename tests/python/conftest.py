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
