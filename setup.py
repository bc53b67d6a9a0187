"""Builds the convkit Python package: the pure-Python part from python/convkit, and the
extension convkit._convkit by running this project's CMake (one build description for C++
and Python). Install with: pip install --no-build-isolation --no-index .
Environment: CONVKIT_PY_BUILD_DIR (the CMake build folder, default build-python/<python tag>),
CMAKE_BUILD_PARALLEL_LEVEL (default 2), CMAKE_ARGS (extra configure arguments)."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def version():
    text = (ROOT / "include/convkit/version.h").read_text()
    parts = [re.search(rf"#define CONVKIT_VERSION_{k} (\d+)", text).group(1) for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


class CMakeExtension(Extension):
    def __init__(self, name, target):
        super().__init__(name, sources=[])
        self.target = target


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        out = Path(self.get_ext_fullpath(ext.name)).resolve()
        tag = sysconfig.get_config_var("SOABI") or f"py{sys.version_info.major}{sys.version_info.minor}"
        # A fixed folder per interpreter: rebuilds are incremental (ccache too), and a changed
        # interpreter never reuses another's cache.
        build = Path(os.environ.get("CONVKIT_PY_BUILD_DIR", ROOT / "build-python" / tag))
        build.mkdir(parents=True, exist_ok=True)
        configure = ["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                     "-DCONVKIT_PYTHON=ON", "-DCONVKIT_BUILD_TOOLS=OFF", "-DCONVKIT_BUILD_TESTS=OFF",
                     "-DCONVKIT_BUILD_BENCH=OFF", "-DCONVKIT_INSTALL=OFF", "-DBUILD_SHARED_LIBS=OFF",
                     "-DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF", f"-DPython_EXECUTABLE={sys.executable}"]
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        configure += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        subprocess.run(configure, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.run(["cmake", "--build", str(build), "--target", ext.target, "-j", jobs], check=True)
        built = build / (ext.target + sysconfig.get_config_var("EXT_SUFFIX"))
        if not built.exists():
            raise RuntimeError(f"the CMake build made no {ext.target} module in {build}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, out)


class BuildPy(build_py):
    """Also ships the benchmark suite (bench/shapes.csv) as convkit/shapes.csv."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "convkit" / "shapes.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "bench" / "shapes.csv", target)


setup(
    name="convkit",
    version=version(),
    description="Convolution layers with PyTorch's semantics, for CPUs",
    python_requires=">=3.9",
    install_requires=["numpy"],
    package_dir={"": "python"},
    packages=["convkit", "convkit.nn"],
    package_data={"convkit": ["py.typed", "*.pyi"], "convkit.nn": ["*.pyi"]},
    ext_modules=[CMakeExtension("convkit._convkit", "_convkit")],
    cmdclass={"build_ext": CMakeBuild, "build_py": BuildPy},
    zip_safe=False,
)
