"""The seed examples print the same under convkit as under PyTorch."""
import pathlib
import re
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "seed_examples.py"


def run(source):
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, check=True).stdout


def test_seed_examples_print_what_pytorch_prints():
    source = EXAMPLE.read_text()
    ours = run(source)
    theirs = run(source.replace("import convkit as torch", "import torch")
                       .replace("import convkit.nn as nn", "import torch.nn as nn"))
    # torch also prints autograd's bookkeeping, which convkit has no use for.
    theirs = re.sub(r",\s*grad_fn=<\w+>", "", theirs)
    assert ours == theirs
    assert "output shape: (20, 33, 24)" in ours
    assert "[-0.1682,  0.7688, -0.9502]" in ours
