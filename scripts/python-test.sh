#!/usr/bin/env bash
# The Python package (bindings/python): builds its wheel as a user's `pip install` would (cargo
# builds libsaraphis in release, with the CUDA kernels when nvcc is found), installs it into a
# fresh virtual environment (target/python-venv) with numpy, ml_dtypes and pytest from PyPI, and
# runs bindings/python/tests (real MiniLM weights, numpy and torch; the CUDA tests on a GPU host).
# torch comes from PyPI (its Linux wheel brings the CUDA libraries: ~5 GB installed, about a
# minute here; CPU tensors work without a GPU); SARAPHIS_PYTHON_TORCH=0 leaves it out, and the
# torch tests then say SKIPPED with the reason.
# Without python3's venv module the step is SKIPPED with a line saying why, unless
# SARAPHIS_REQUIRE_ALL=1 (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    echo "--- SKIPPED: Python package tests (python3 with venv not found: apt-get install python3-venv)"
    [ "${SARAPHIS_REQUIRE_ALL:-0}" = 1 ] && exit 1
    exit 0
fi
venv=$root/target/python-venv
wheels=$root/target/python-wheels
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null
"$venv/bin/pip" install -q numpy ml_dtypes pytest matplotlib
if [ "${SARAPHIS_PYTHON_TORCH:-1}" = 1 ] && ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "=== installing torch from PyPI into $venv (~5 GB with its CUDA libraries; SARAPHIS_PYTHON_TORCH=0 skips)"
    if ! "$venv/bin/pip" install -q torch; then
        echo "--- torch could not be installed from PyPI: the torch tests will be SKIPPED"
        [ "${SARAPHIS_REQUIRE_ALL:-0}" = 1 ] && exit 1
    fi
fi
rm -rf "$wheels"
echo "=== building the wheel (pip wheel bindings/python)"
"$venv/bin/pip" wheel -q --no-deps -w "$wheels" ./bindings/python
"$venv/bin/pip" install -q --force-reinstall --no-deps "$wheels"/saraphis-*.whl
echo "=== pytest bindings/python/tests (installed wheel)"
# From outside the source tree, so that the installed package (not bindings/python) is tested.
cd "$root/target"
"$venv/bin/python" -m pytest -q -rs -p no:cacheprovider "$root/bindings/python/tests"
echo "=== scripts/plot-bench.py (the pictures of docs/BENCHMARKS.md, from docs/bench) into target/plots"
"$venv/bin/python" "$root/scripts/plot-bench.py" --out "$root/target/plots"
