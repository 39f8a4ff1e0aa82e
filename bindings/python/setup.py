"""Builds the native library with cargo and bundles it in the package.

`pip install ./bindings/python` runs `cargo build --release --lib` in the repository root (two
folders up, or SARAPHIS_SOURCE_DIR), which compiles the CUDA kernels when nvcc is found (NVCC,
CUDA_HOME/CUDA_PATH, PATH), as build.rs does for every build, and copies
target/release/libsaraphis.so into the package. SARAPHIS_LIBRARY=/path/libsaraphis.so bundles
that file instead (no cargo needed). The wheel is platform-specific (it holds a native library)
but not interpreter-specific (ctypes, no extension module): tagged py3-none-<platform>.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
LIB = {"darwin": "libsaraphis.dylib"}.get(sys.platform, "libsaraphis.so")


def native_library() -> Path:
    given = os.environ.get("SARAPHIS_LIBRARY")
    if given:
        return Path(given)
    root = Path(os.environ.get("SARAPHIS_SOURCE_DIR", HERE.parent.parent))
    if not (root / "Cargo.toml").exists():
        sys.exit(f"saraphis: no Cargo.toml in {root}: set SARAPHIS_SOURCE_DIR to the repository "
                 "or SARAPHIS_LIBRARY to a built libsaraphis")
    if shutil.which("cargo") is None:
        sys.exit("saraphis: building the native library needs cargo (https://rustup.rs), "
                 "or set SARAPHIS_LIBRARY to a built libsaraphis")
    subprocess.run(["cargo", "build", "--release", "--lib"], cwd=root, check=True)
    return root / "target" / "release" / LIB


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = native_library()
        dest = Path(self.build_lib) / "saraphis" / LIB
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib, dest)


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel


class PlatformWheel(bdist_wheel):
    """Any Python 3 (the package loads the library with ctypes), one platform."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(
    cmdclass={"build_py": BuildWithLibrary, "bdist_wheel": PlatformWheel},
    distclass=BinaryDistribution,
)
