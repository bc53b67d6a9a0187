"""python -m convkit.bench: convkit.torch against torch.nn, on the same layers, in one process.

Each layer of shapes.csv (the benchmark suite shipped with convkit, or --shapes FILE) runs as
torch.nn.ConvNd and as its convkit.torch twin (the same parameters), forward alone and forward
+ backward (input, weight and bias gradients), with 1 and 2 threads on both sides. Forward rows
are inference (torch.no_grad; convkit's layers prepacked, convert(..., prepack=True));
forward+backward rows pack the weights at every call, as a training step must. Times are
medians of interleaved rounds (the two implementations alternate, so a noisy neighbour slows
both), and the table shows torch's time over convkit's (> 1: convkit faster) and their
geometric means. Also the per-call time of the tutorial's tiny layer, which is Python overhead.
--dtype f32,bf16,f16,f64,c64 runs each layer in those dtypes (parameters and input converted on
both sides); torch 1.13 refuses float16 convolutions on the CPU, which the table says.
"""

import argparse
import copy
import csv
import math
import pathlib
import statistics
import sys
import time

import torch

import convkit
import convkit.torch as ct

SHAPES = pathlib.Path(__file__).with_name("shapes.csv")
if not SHAPES.exists():  # an editable install: the source tree's suite
    SHAPES = pathlib.Path(__file__).resolve().parents[2] / "bench" / "shapes.csv"


def read_shapes(path):
    """Rows of name,N,C_in,C_out,spatial,kernel,stride,padding,dilation,groups; AxB for 2-d."""
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            dims = lambda key: [int(v) for v in r[key].split("x")]  # noqa: E731
            rows.append(dict(name=r["name"], n=int(r["N"]), c_in=int(r["C_in"]), c_out=int(r["C_out"]),
                             spatial=dims("spatial"), kernel=dims("kernel"), stride=dims("stride"),
                             padding=dims("padding"), dilation=dims("dilation"), groups=int(r["groups"])))
    return rows


def layer_pair(row):
    rank = len(row["spatial"])
    torch.manual_seed(0)
    theirs = getattr(torch.nn, f"Conv{rank}d")(row["c_in"], row["c_out"], row["kernel"], stride=row["stride"],
                                              padding=row["padding"], dilation=row["dilation"],
                                              groups=row["groups"])
    return ct.convert(copy.deepcopy(theirs)), theirs


def timed(fn, min_time):
    """Seconds per call: repeats fn for at least min_time."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls


def compare(fa, fb, min_time, rounds=5):
    """Medians of interleaved rounds: (seconds of fa, seconds of fb)."""
    a, b = [], []
    for _ in range(rounds):
        a.append(timed(fa, min_time / rounds))
        b.append(timed(fb, min_time / rounds))
    return statistics.median(a), statistics.median(b)


DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16, "f64": torch.float64,
          "c64": torch.complex64}


def parse_dtypes(text):
    names = [t.strip() for t in text.split(",")]
    for n in names:
        if n not in DTYPES:
            raise SystemExit(f"--dtype {text!r}: unknown dtype {n!r}; expected a comma-separated list of "
                             + ", ".join(DTYPES))
    return list(dict.fromkeys(names))


def work(model, x, backward):
    # Forward rows measure inference: convkit's layers keep their weights packed (prepack);
    # forward+backward rows measure a training step's convolutions, packing at every call.
    if hasattr(model, "convkit_prepack"):
        model.convkit_prepack = not backward

    def run():
        if backward:
            x.grad = None
            model.zero_grad(set_to_none=True)
            y = model(x)
            (y.real if y.is_complex() else y).sum().backward()
        else:
            with torch.no_grad():
                model(x)
    return run


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m convkit.bench", description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default=str(SHAPES), help="CSV of layer shapes (default: convkit's suite)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--min-time", type=float, default=0.5, help="seconds per implementation and case")
    p.add_argument("--filter", default="", help="only layers whose name contains this")
    p.add_argument("--dtype", default="f32", help="comma-separated dtypes: f32, bf16, f16, f64, c64 (default f32)")
    p.add_argument("--csv", help="write one row per layer, pass and thread count")
    args = p.parse_args(argv)
    dtypes = parse_dtypes(args.dtype)
    threads = [int(t) for t in args.threads.split(",")]
    rows = [r for r in read_shapes(args.shapes) if args.filter in r["name"]]
    results = []
    print(f"convkit {convkit.__version__} vs torch {torch.__version__}; time per call in ms, speed-up = torch / convkit")
    print(f"{'layer':28} {'pass':8} {'dtype':5} {'thr':>3} {'torch':>9} {'convkit':>9} {'speed-up':>8}")
    for row in rows:
        for name in dtypes:
            dt = DTYPES[name]
            ours, theirs = (m.to(dt) for m in layer_pair(row))
            shape = [row["n"], row["c_in"]] + row["spatial"]
            for backward in (False, True):
                x = torch.randn(*shape).to(dt).requires_grad_(backward)
                for t in threads:
                    torch.set_num_threads(t)
                    convkit.set_num_threads(t)
                    label = "fwd+bwd" if backward else "fwd"
                    try:  # torch refusing the dtype (float16 in 1.13): time convkit alone
                        work(theirs, x, backward)()
                        refused = None
                    except RuntimeError as e:
                        refused = str(e).splitlines()[0][:60]
                    if refused is None:
                        t_theirs, t_ours = compare(work(theirs, x, backward), work(ours, x, backward), args.min_time)
                    else:
                        print(f"{row['name']:28} {label:8} {name:5} {t:>3}   torch: {refused}")
                        t_theirs, t_ours = math.nan, timed(work(ours, x, backward), args.min_time)
                    results.append(dict(layer=row["name"], pass_=label, dtype=name, threads=t, torch_ms=t_theirs * 1e3,
                                        convkit_ms=t_ours * 1e3, speedup=t_theirs / t_ours))
                    print(f"{row['name']:28} {label:8} {name:5} {t:>3} {t_theirs * 1e3:9.3f} {t_ours * 1e3:9.3f} "
                          f"{t_theirs / t_ours:8.2f}", flush=True)
    for name in dtypes:
        for label in ("fwd", "fwd+bwd"):
            for t in threads:
                s = [r["speedup"] for r in results
                     if r["pass_"] == label and r["threads"] == t and r["dtype"] == name and not math.isnan(r["speedup"])]
                if s:
                    geo = math.exp(sum(math.log(v) for v in s) / len(s))
                    print(f"{'geomean':28} {label:8} {name:5} {t:>3} {'':9} {'':9} {geo:8.2f}   (lowest {min(s):.2f})")
    # The Python overhead of a tiny layer (the tutorial's Conv1d(2, 2, 3) on (2, 2, 5)).
    torch.set_num_threads(1)
    convkit.set_num_threads(1)
    tiny_ours, tiny_theirs = layer_pair(dict(c_in=2, c_out=2, kernel=[3], stride=[1], padding=[0], dilation=[1],
                                             groups=1, spatial=[5]))
    x = torch.randn(2, 2, 5)
    t_theirs, t_ours = compare(work(tiny_theirs, x, False), work(tiny_ours, x, False), args.min_time)
    print(f"tiny layer per call: torch {t_theirs * 1e6:.1f} us, convkit {t_ours * 1e6:.1f} us "
          f"({t_ours / t_theirs:.2f}x torch's)")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["layer", "pass", "dtype", "threads", "torch_ms", "convkit_ms", "speedup"])
            w.writeheader()
            for r in results:
                w.writerow({"layer": r["layer"], "pass": r["pass_"], "dtype": r["dtype"], "threads": r["threads"],
                            "torch_ms": f"{r['torch_ms']:.4f}", "convkit_ms": f"{r['convkit_ms']:.4f}",
                            "speedup": f"{r['speedup']:.3f}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
