"""convkit.Tensor: numpy and DLPack exchange without copies, factories, dtypes, errors."""
import warnings

import numpy as np
import pytest
import torch

import convkit


def test_from_numpy_and_numpy_share_memory():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = convkit.from_numpy(a)
    assert t.shape == (3, 4) and t.dtype == convkit.float32
    a[1, 2] = 100
    assert t.numpy()[1, 2] == 100          # the tensor reads the array's memory
    t.numpy()[0, 0] = -5
    assert a[0, 0] == -5                   # and numpy() writes into it
    assert np.shares_memory(t.numpy(), a)
    strided = convkit.from_numpy(a[:, ::2])
    assert strided.stride() == (4, 2)
    assert strided.numpy().tolist() == a[:, ::2].tolist()


def test_from_numpy_refuses_what_torch_refuses():
    with pytest.raises(ValueError, match="negative"):
        convkit.from_numpy(np.zeros((3, 4), np.float32)[:, ::-1])
    with pytest.raises(TypeError, match="numpy.int64"):
        convkit.from_numpy(np.arange(3))
    with pytest.raises(TypeError, match="expected np.ndarray"):
        convkit.from_numpy([1.0, 2.0])
    ro = np.zeros(3, np.float32)
    ro.flags.writeable = False
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        convkit.from_numpy(ro)
    assert any("not writable" in str(x.message) for x in w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # -W error: the warning is raised as itself
        with pytest.raises(UserWarning, match="not writable"):
            convkit.from_numpy(ro)


def test_dlpack_shares_memory_with_torch_both_ways():
    t = convkit.randn(2, 3)
    tt = torch.from_dlpack(t)
    tt[0, 0] = 42.0
    assert t.numpy()[0, 0] == 42.0
    src = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    c = convkit.from_dlpack(src)
    src[1, 1] = -1
    assert c.dtype == convkit.float64 and c.numpy()[1, 1] == -1
    # bfloat16 has no numpy dtype: DLPack carries it, numpy() refuses as torch's does.
    b = convkit.from_dlpack(torch.tensor([1.5, -2.0], dtype=torch.bfloat16))
    assert b.dtype == convkit.bfloat16
    assert torch.equal(torch.from_dlpack(b), torch.tensor([1.5, -2.0], dtype=torch.bfloat16))
    with pytest.raises(TypeError, match="BFloat16"):
        b.numpy()
    with pytest.raises(TypeError, match="BFloat16"):
        np.asarray(b)                      # raises; never aborts the interpreter
    np_view = np.from_dlpack(convkit.from_numpy(np.ones(4, np.float32)))
    assert np_view.tolist() == [1, 1, 1, 1]


def test_dlpack_keeps_the_producer_alive():
    c = convkit.from_dlpack(torch.full((1000,), 7.0))
    import gc
    gc.collect()
    assert c.numpy().sum() == 7000.0


def test_randn_and_init_match_torch_bits():
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(3)
        want = torch.randn(4, 5, dtype=dtype)
        convkit.manual_seed(3)
        got = convkit.randn(4, 5, dtype=convkit.float32 if dtype == torch.float32 else convkit.float64)
        assert np.array_equal(got.numpy(), want.numpy())
    torch.manual_seed(9)
    want = torch.rand(3, 2)
    convkit.manual_seed(9)
    assert np.array_equal(convkit.rand((3, 2)).numpy(), want.numpy())


def test_tensor_from_data_and_printing():
    t = convkit.tensor([[1.0, 2.0], [3.0, 4.5]])
    assert t.dtype == convkit.float32
    assert repr(t) == repr(torch.tensor([[1.0, 2.0], [3.0, 4.5]]))
    assert convkit.tensor(np.arange(3, dtype=np.float64)).dtype == convkit.float64
    assert convkit.tensor([1 + 2j]).dtype == convkit.complex64
    assert convkit.tensor([1, 2], dtype=convkit.bfloat16).dtype == convkit.bfloat16
    assert convkit.zeros(0, 3).shape == (0, 3)
    assert repr(convkit.float16) == "convkit.float16"
    assert convkit.float16 != None and convkit.float32 == convkit.float and convkit.float32 != "float32"  # noqa: E711
    with pytest.raises(TypeError):
        convkit.randn(2, "a")
