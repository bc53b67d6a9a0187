"""convkit's random fills against PyTorch's, in one run on this machine.

Usage: /usr/bin/python3 bench/rng_vs_torch.py [path/to/rng_bench] [n]
Prints ns per element (median) for each and the ratio torch_time / convkit_time
(>= 1 means convkit is at least as fast). PyTorch runs single-threaded like its RNG kernels.
"""
import statistics
import subprocess
import sys
import time

import torch

exe = sys.argv[1] if len(sys.argv) > 1 else "build/rng_bench"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
torch.set_num_threads(1)
torch.manual_seed(0)
f32 = torch.empty(n, dtype=torch.float32)
f64 = torch.empty(n, dtype=torch.float64)
cases = {
    "randn_float32": lambda: f32.normal_(0, 1),
    "randn_float64": lambda: f64.normal_(0, 1),
    "rand_float32": lambda: f32.uniform_(0, 1),
    "rand_float64": lambda: f64.uniform_(0, 1),
    "uniform_float32": lambda: f32.uniform_(-0.3, 0.3),
}


def torch_ns(f):
    f()
    times = []
    start = time.perf_counter()
    while len(times) < 7 or (time.perf_counter() - start < 0.5 and len(times) < 200):
        a = time.perf_counter()
        f()
        times.append((time.perf_counter() - a) * 1e9 / n)
    return statistics.median(times)


ROUNDS = 5  # alternate convkit and torch rounds so machine noise hits both alike
ck_runs = {name: [] for name in cases}
torch_runs = {name: [] for name in cases}
for _ in range(ROUNDS):
    out = subprocess.run([exe, str(n)], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.strip():
            ck_runs[line.split()[0]].append(float(line.split()[1]))
    for name, f in cases.items():
        torch_runs[name].append(torch_ns(f))
print(f"n = {n}, torch {torch.__version__}, 1 thread; ns/element, median of {ROUNDS} alternating rounds")
print(f"{'case':18} {'convkit':>9} {'torch':>9} {'torch/convkit':>14}")
worst = None
ck = {name: statistics.median(v) for name, v in ck_runs.items()}
for name in cases:
    t = statistics.median(torch_runs[name])
    ratio = t / ck[name]
    worst = ratio if worst is None else min(worst, ratio)
    print(f"{name:18} {ck[name]:9.3f} {t:9.3f} {ratio:14.2f}")
print(f"slowest ratio: {worst:.2f}")
