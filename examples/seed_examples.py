"""The examples of the documents convkit was started from (PyTorch, OneFlow, MegEngine, the
PyTorch Conv1d tutorial) with only the import lines changed: `import convkit as torch`.
They print the same numbers as under PyTorch (tests/python/test_seed_examples.py runs both)."""
import numpy as np

import convkit as torch
import convkit.nn as nn

# PyTorch / OneFlow: nn.Conv1d(16, 33, 3, stride=2) on a (20, 16, 50) input.
m = nn.Conv1d(16, 33, 3, stride=2)
input = torch.randn(20, 16, 50)
output = m(input)
print("output shape:", tuple(output.shape))

# MegEngine: Conv1d(in_channels=3, out_channels=1, kernel_size=3) on arange(24) as (2, 3, 4).
m = nn.Conv1d(in_channels=3, out_channels=1, kernel_size=3)
inp = torch.tensor(np.arange(0, 24).astype("float32").reshape(2, 3, 4))
oup = m(inp)
print("MegEngine output shape:", tuple(oup.shape))

# The PyTorch Conv1d tutorial.
torch.manual_seed(666)
x = torch.randn(2, 2, 5)
conv = nn.Conv1d(in_channels=2, out_channels=2, kernel_size=3, bias=False)
print("input:")
print(x)
print("weight:")
print(conv.weight)
print("output:")
print(conv(x))
