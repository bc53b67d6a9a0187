"""The type stubs describe what is there: every name they declare exists at run time, and every
public name of the package has a stub and a docstring."""
import ast
import importlib
import pathlib

import pytest

MODULES = ["convkit", "convkit._convkit", "convkit.nn", "convkit.nn.functional"]


def stub_names(module):
    path = pathlib.Path(importlib.import_module(module).__file__)
    stub = path.with_suffix(".pyi") if path.suffix == ".py" else path.parent / (module.split(".")[-1] + ".pyi")
    tree = ast.parse(stub.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname for a in node.names if a.asname)
    return {n for n in names if not n.startswith("_") or n in ("__version__",)}


@pytest.mark.parametrize("module", MODULES)
def test_stub_names_exist(module):
    m = importlib.import_module(module)
    for name in stub_names(module):
        assert hasattr(m, name), f"{module}.{name} is in the stub but not in the module"


@pytest.mark.parametrize("module", ["convkit", "convkit.nn", "convkit.nn.functional"])
def test_public_names_have_stubs_and_docstrings(module):
    m = importlib.import_module(module)
    declared = stub_names(module)
    for name in getattr(m, "__all__", []):
        assert name in declared, f"{module}.{name} has no stub"
        obj = getattr(m, name)
        if callable(obj):
            assert obj.__doc__, f"{module}.{name} has no docstring"
