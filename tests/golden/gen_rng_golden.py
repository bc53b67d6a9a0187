"""Records PyTorch's CPU random numbers for tests/test_random.cc.

Regenerate with:  /usr/bin/python3 tests/golden/gen_rng_golden.py
(Debian's python3-torch 1.13.1 on an x86-64 machine with AVX2+FMA; the output is committed so
CI needs no torch.) Values are stored as IEEE bit patterns in hex: exact comparisons.
"""
import json
import os
import struct

import torch

torch.set_num_threads(1)


def bits(t):
    t = t.detach().contiguous()
    if t.is_complex():
        t = torch.view_as_real(t)
    flat = t.flatten().tolist()
    if t.dtype == torch.float32:
        return ["%08x" % struct.unpack("<I", struct.pack("<f", v))[0] for v in flat]
    return ["%016x" % struct.unpack("<Q", struct.pack("<d", v))[0] for v in flat]


DT = {"float32": torch.float32, "float64": torch.float64,
      "complex64": torch.complex64, "complex128": torch.complex128}
cases = []


def add(name, seed, ops, dtype, tensor):
    cases.append({"name": name, "seed": seed, "ops": ops, "dtype": dtype, "bits": bits(tensor)})


# Sequences: after manual_seed(seed), run ops in order; the last op's result is recorded.
# op forms: ["randn", shape, dtype], ["rand", shape, dtype], ["uniform", shape, dtype, lo, hi],
# ["normal", shape, dtype, mean, std], ["normal_t", shape, dtype, mean, std] (fill the
# transpose of a contiguous [shape[1], shape[0]] tensor: non-contiguous),
# ["conv", dim, cin, cout, kernel, groups, bias, dtype, "weight"|"bias"].
def run(seed, ops):
    torch.manual_seed(seed)
    out = None
    for op in ops:
        kind = op[0]
        if kind == "randn":
            out = torch.randn(op[1], dtype=DT[op[2]])
        elif kind == "rand":
            out = torch.rand(op[1], dtype=DT[op[2]])
        elif kind == "uniform":
            out = torch.empty(op[1], dtype=DT[op[2]]).uniform_(op[3], op[4])
        elif kind == "normal":
            out = torch.empty(op[1], dtype=DT[op[2]]).normal_(op[3], op[4])
        elif kind == "normal_t":
            out = torch.empty(op[1][::-1], dtype=DT[op[2]]).t().normal_(op[3], op[4])
        elif kind == "conv":
            _, dim, cin, cout, k, groups, bias, dt, which = op
            cls = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dim]
            m = cls(cin, cout, k, groups=groups, bias=bias, dtype=DT[dt])
            out = m.weight if which == "weight" else m.bias
    return out


def case(name, seed, ops):
    out = run(seed, ops)
    last = ops[-1]
    dtype = last[7] if last[0] == "conv" else last[2]
    add(name, seed, ops, dtype, out)


for dt in ["float32", "float64"]:
    for n in [1, 2, 5, 15, 16, 17, 20, 31, 32, 33, 47, 100, 1000, 4099]:
        case(f"randn_{dt}_{n}", 666, [["randn", [n], dt]])
    case(f"randn_{dt}_2x3x7", 3, [["randn", [2, 3, 7], dt]])
    case(f"rand_{dt}_37", 5, [["rand", [37], dt]])
    case(f"uniform_{dt}_-3_7", 9, [["uniform", [40], dt, -3.0, 7.0]])
    case(f"uniform_{dt}_tiny", 9, [["uniform", [10], dt, -1e-3, 2e-3]])
    case(f"normal_{dt}_1.5_0.3_small", 11, [["normal", [7], dt, 1.5, 0.3]])
    case(f"normal_{dt}_1.5_0.3_large", 11, [["normal", [50], dt, 1.5, 0.3]])
    case(f"normal_t_{dt}", 12, [["normal_t", [5, 6], dt, 0.0, 1.0]])
    # The cached normal survives chunk-path calls and rand in between.
    case(f"cache_{dt}", 13, [["randn", [3], dt], ["randn", [40], dt], ["rand", [5], dt], ["randn", [1], dt]])
case("cache_shared_f32_then_f64", 14, [["randn", [1], "float32"], ["randn", [1], "float64"]])
for dt in ["complex64", "complex128"]:
    case(f"randn_{dt}_3", 21, [["randn", [3], dt]])
    case(f"randn_{dt}_20", 21, [["randn", [20], dt]])
    case(f"rand_{dt}_9", 22, [["rand", [9], dt]])

convs = [
    (1, 16, 33, 3, 1, True), (1, 2, 2, 3, 1, False), (1, 6, 9, 5, 3, True), (1, 4, 8, 31, 4, True),
    (2, 3, 8, 3, 1, True), (2, 4, 6, (2, 3), 2, True), (2, 32, 32, 3, 32, True), (2, 8, 16, 1, 1, False),
    (2, 3, 64, 7, 1, False), (3, 2, 4, (1, 2, 3), 1, True), (3, 4, 4, 3, 2, False),
]
for dt in ["float32", "float64"]:
    for seed in [0, 7]:
        for (dim, cin, cout, k, g, b) in convs:
            tag = f"conv{dim}d_{cin}_{cout}_k{'x'.join(map(str, k)) if isinstance(k, tuple) else k}_g{g}_{'b' if b else 'nb'}_{dt}_s{seed}"
            op = ["conv", dim, cin, cout, list(k) if isinstance(k, tuple) else k, g, b, dt]
            case(tag + "_weight", seed, [op + ["weight"]])
            if b:
                case(tag + "_bias", seed, [op + ["bias"]])
            # A module after another draw: the stream position carries on.
            if seed == 7 and dim == 2:
                case(tag + "_after_randn", seed, [["randn", [3], "float32"], op + ["weight"]])

# Complex modules: PyTorch fills real and imaginary parts as one real tensor of twice the size.
for dt in ["complex64", "complex128"]:
    case(f"conv1d_4_6_k3_g2_b_{dt}_weight", 5, [["conv", 1, 4, 6, 3, 2, True, dt, "weight"]])
    case(f"conv1d_4_6_k3_g2_b_{dt}_bias", 5, [["conv", 1, 4, 6, 3, 2, True, dt, "bias"]])

out = {"generator": "tests/golden/gen_rng_golden.py", "torch_version": torch.__version__, "cases": cases}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rng_golden.json")
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(out, f, separators=(",", ":"))
os.replace(tmp, path)
print(f"{len(cases)} cases, {os.path.getsize(path)} bytes -> {path}")
