"""convkit.torch: torch.nn conv layers computed by convkit, checked against torch.nn itself
(outputs, every gradient, training, DistributedDataParallel)."""
import copy
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn as tnn

import convkit.torch as ct
from conftest import gradients_match, torch_close as close

CASES = [
    ("Conv1d", (2, 4, 19), dict(kernel_size=3, stride=2)),
    ("Conv1d", (4, 19), dict(kernel_size=4, padding="same", dilation=2, padding_mode="reflect")),  # unbatched
    ("Conv2d", (2, 4, 9, 8), dict(kernel_size=3, stride=(2, 1), padding=1, groups=2)),
    ("Conv2d", (2, 4, 9, 8), dict(kernel_size=(3, 2), padding="valid", bias=False, padding_mode="circular")),
    ("Conv2d", (2, 4, 9, 8), dict(kernel_size=3, padding=(1, 2), padding_mode="replicate", groups=4)),
    ("Conv3d", (1, 4, 6, 7, 5), dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2, 1))),
    ("ConvTranspose1d", (2, 4, 7), dict(kernel_size=3, stride=2, padding=1, output_padding=1, groups=2)),
    ("ConvTranspose2d", (2, 4, 5, 6), dict(kernel_size=(4, 3), stride=2, padding=1, dilation=(1, 2))),
    ("ConvTranspose3d", (1, 4, 3, 4, 3), dict(kernel_size=2, stride=2)),
]


def twins(name, kw, seed=0):
    torch.manual_seed(seed)
    theirs = getattr(tnn, name)(4, 8, **kw)
    ours = copy.deepcopy(theirs)
    ct.convert(ours)
    return ours, theirs


@pytest.fixture
def convkit_calls(monkeypatch):
    """Records every call into convkit ("p" a forward plan prepared, "f" an unplanned forward, "b"
    a backward): the twins' results agreeing proves nothing unless convkit computed one of them."""
    calls = []
    real_prepare, real_conv, real_backward = ct._convkit.prepare, ct._convkit.conv, ct._convkit.conv_backward
    monkeypatch.setattr(ct._convkit, "prepare", lambda *a: calls.append("p") or real_prepare(*a))
    monkeypatch.setattr(ct._convkit, "conv", lambda *a: calls.append("f") or real_conv(*a))
    monkeypatch.setattr(ct._convkit, "conv_backward", lambda *a: calls.append("b") or real_backward(*a))
    return calls


@pytest.mark.parametrize("name,shape,kw", CASES)
def test_outputs_and_gradients_match_torch_nn(name, shape, kw, convkit_calls):
    ours, theirs = twins(name, kw)
    assert type(ours).__name__ == name and isinstance(ours, getattr(tnn, name))
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x1 = torch.randn(*shape, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    y1, y2 = ours(x1), theirs(x2)
    gradients_match(ours, theirs, x1, x2, y1, y2)
    assert convkit_calls == ["f", "b"]


def test_channels_last_input_gives_channels_last_output_as_torch_nn():
    # A channels_last model's activations stay channels_last, as torch.nn's Conv2d keeps them,
    # with the values and gradients of torch.nn (the channels-last forward for 32 channels).
    torch.manual_seed(3)
    theirs = tnn.Conv2d(32, 16, 3, padding=1)
    ours = copy.deepcopy(theirs)
    ct.convert(ours)
    x1 = torch.randn(2, 32, 9, 7).to(memory_format=torch.channels_last).requires_grad_()
    x2 = x1.detach().clone().requires_grad_()
    y1, y2 = ours(x1), theirs(x2)
    assert y2.is_contiguous(memory_format=torch.channels_last)
    assert y1.is_contiguous(memory_format=torch.channels_last) and y1.stride() == y2.stride()
    gradients_match(ours, theirs, x1, x2, y1, y2)


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
@pytest.mark.parametrize("model_cl", [False, True])
@pytest.mark.parametrize("x_cl", [False, True])
def test_memory_formats_of_outputs_and_gradients_are_torch_nns(mode, model_cl, x_cl):
    # The output, the gradient reaching a non-leaf input and the weight's gradient have torch.nn's
    # strides: channels_last when the input is (read through zero padding) or the model's weights
    # are; with another padding mode the input's gradient is contiguous.
    torch.manual_seed(4)
    theirs = tnn.Conv2d(16, 24, 3, padding=1, padding_mode=mode)
    if model_cl:
        theirs = theirs.to(memory_format=torch.channels_last)
    ours = copy.deepcopy(theirs)
    ct.convert(ours)
    x0 = torch.randn(2, 16, 7, 6)
    if x_cl:
        x0 = x0.to(memory_format=torch.channels_last)
    strides = []
    for model in (ours, theirs):
        leaf = x0.detach().clone(memory_format=torch.preserve_format).requires_grad_()
        x = leaf * 1.0  # a non-leaf: its gradient is the layer's, not re-laid-out by autograd
        x.register_hook(lambda g: strides.append(g.stride()))
        # (the gradient the layer returns, before autograd lays .grad out like the parameter)
        hook = model.weight.register_hook(lambda g: strides.append(g.stride()))
        y = model(x)
        strides.append(y.stride())
        y.backward(torch.ones_like(y))
        hook.remove()
    assert strides[0:3] == strides[3:6]  # (output, input gradient, weight gradient)


def test_transposed_output_size_and_its_errors():
    ours, theirs = twins("ConvTranspose2d", dict(kernel_size=3, stride=2, padding=1))
    x = torch.randn(2, 4, 5, 6)
    close(ours(x, output_size=[10, 12]), theirs(x, output_size=[10, 12]))
    with pytest.raises(ValueError, match="requested an output size of"):
        ours(x, output_size=[20, 12])


def test_prepacked_plan_is_reused_until_the_weight_or_shape_changes(convkit_calls):
    ours, theirs = twins("Conv2d", dict(kernel_size=3, padding=1))
    ct.convert(ours, prepack=True)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        for _ in range(3):
            close(ours(x), theirs(x))
        assert convkit_calls == ["p"]
        for m in (ours, theirs):
            m.weight.mul_(-2.0)     # in place: torch bumps the version
            m.bias.add_(1.0)
        close(ours(x), theirs(x))
        assert convkit_calls == ["p", "p"]
        close(ours(x[:1]), theirs(x[:1]))
        assert convkit_calls == ["p", "p", "p"]
        ours.weight = tnn.Parameter(torch.randn(8, 4, 3, 3))  # a new tensor
        theirs.weight = tnn.Parameter(ours.weight.detach().clone())
        close(ours(x), theirs(x))
        assert convkit_calls == ["p", "p", "p", "p"]
        # Writes torch does not count (through .data) need release_plans, as documented.
        for m in (ours, theirs):
            m.weight.data.mul_(0.5)
        ct.release_plans(ours)
        close(ours(x), theirs(x))
        assert convkit_calls == ["p", "p", "p", "p", "p"]
    # Training with prepacking: every optimizer step makes a new plan, and the results stay torch's.
    torch.manual_seed(1)
    net, ref = Net(), None
    ref = copy.deepcopy(net)
    ct.convert(net, prepack=True)
    inputs, target = torch.randn(4, 3, 16, 16), torch.randn(4, 4)
    del convkit_calls[:]
    l1, l2 = train(net, inputs, target, steps=3), train(ref, inputs, target, steps=3)
    assert convkit_calls.count("p") == 3 * 5 and abs(l1 - l2) <= 1e-4 * (1 + abs(l2))
    assert "b" not in convkit_calls  # gradients through the plans' backward, which keeps its plans


def test_second_derivatives_are_refused_clearly():
    ours, _ = twins("Conv1d", dict(kernel_size=3))
    x = torch.randn(1, 4, 9, requires_grad=True)
    (g,) = torch.autograd.grad(ours(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|twice"):
        g.sum().backward()


def test_no_copies_for_contiguous_float_tensors():
    ours, _ = twins("Conv2d", dict(kernel_size=1, bias=False))
    x = torch.randn(1, 4, 3, 3)
    ck = ct._to_convkit(x)
    x[0, 0, 0, 0] = 123.0
    assert ck.numpy()[0, 0, 0, 0] == 123.0        # convkit reads torch's memory
    y = ours(x)
    back = ct._to_convkit(y)
    y[0, 0, 0, 0] = -7.0
    assert back.numpy()[0, 0, 0, 0] == -7.0       # and torch's output is convkit's memory


class Net(tnn.Module):
    """A small residual CNN with a transposed upsampling head."""

    def __init__(self):
        super().__init__()
        self.stem = tnn.Conv2d(3, 8, 3, padding=1)
        self.block = tnn.Sequential(tnn.Conv2d(8, 8, 3, padding=1, groups=2), tnn.ReLU(), tnn.Conv2d(8, 8, 1))
        self.down = tnn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.up = tnn.ConvTranspose2d(16, 4, 2, stride=2)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = torch.relu(h + self.block(h))
        return self.up(torch.relu(self.down(h))).mean(dim=(2, 3))


def train(model, x, t, steps=20):
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), t)
        loss.backward()
        opt.step()
    return loss.item()


def test_converted_model_trains_like_torch(convkit_calls):
    torch.manual_seed(1)
    theirs = Net()
    ours = ct.convert(copy.deepcopy(theirs))
    assert sum(isinstance(m, ct._ConvMixin) or isinstance(m, ct._ConvTransposeMixin) for m in ours.modules()) == 5
    x, t = torch.randn(8, 3, 16, 16), torch.randn(8, 4)
    l1 = train(ours, x, t)
    assert convkit_calls.count("f") == 20 * 5 and convkit_calls.count("b") == 20 * 5
    l2 = train(theirs, x, t)
    assert abs(l1 - l2) <= 1e-4 * (1 + abs(l2))
    for (n1, p1), (n2, p2) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert n1 == n2
        close(p1.detach(), p2.detach(), tol=1e-3)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, x, t, out):
    import torch.distributed as dist
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    import convkit
    convkit.set_num_threads(1)
    torch.manual_seed(1)
    model = torch.nn.parallel.DistributedDataParallel(ct.convert(Net()))
    half = x.shape[0] // world
    train(model, x[rank * half:(rank + 1) * half], t[rank * half:(rank + 1) * half], steps=5)
    out[rank] = {k: v.detach().clone() for k, v in model.module.state_dict().items()}
    dist.destroy_process_group()


def test_distributed_data_parallel_over_converted_model():
    torch.manual_seed(2)
    x, t = torch.randn(8, 3, 16, 16), torch.randn(8, 4)
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_ddp_worker, args=(2, _free_port(), x, t, out), nprocs=2, join=True)
        ranks = [dict(out[0]), dict(out[1])]
    torch.manual_seed(1)
    single = ct.convert(Net())
    train(single, x, t, steps=5)  # the whole batch in one process: DDP averages the two halves' gradients
    for k, v in single.state_dict().items():
        assert torch.equal(ranks[0][k], ranks[1][k]), k
        close(ranks[0][k], v, tol=1e-4)


def test_bench_runs_on_the_shipped_suite(tmp_path):
    # The tool works end to end (its numbers are for people to read, not for a test to judge).
    import convkit.bench
    out = tmp_path / "bench.csv"
    assert convkit.bench.main(["--filter", "seed_torch", "--threads", "1", "--min-time", "0.02", "--csv", str(out),
                               "--dtype", "f32,bf16,f16,f64,c64"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "layer,pass,dtype,threads,torch_ms,convkit_ms,speedup" and len(lines) == 1 + 5 * 2
    rows = [line.split(",") for line in lines[1:]]
    assert [r[2] for r in rows] == [d for d in ("f32", "bf16", "f16", "f64", "c64") for _ in range(2)]
    for r in rows:  # torch 1.13 refuses float16 on the CPU: its time is NaN, convkit's is not
        assert (r[4] == "nan") == (r[2] == "f16") and float(r[5]) > 0, r
    with pytest.raises(SystemExit):
        convkit.bench.main(["--dtype", "f32,half"])
