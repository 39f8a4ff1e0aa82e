#!/usr/bin/env bash
# The Python package (bindings/python): builds its wheel as a user's `pip install` would (cargo
# builds libsaraphis in release, with the CUDA kernels when nvcc is found), installs it into a
# fresh virtual environment (target/python-venv) with numpy, ml_dtypes and pytest from PyPI, and
# runs bindings/python/tests (real MiniLM weights; the torch tests run where torch is installed
# in that environment, SARAPHIS_PYTHON_TORCH=1 installs the CPU wheel; CUDA tests on a GPU host).
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
if [ "${SARAPHIS_PYTHON_TORCH:-0}" = 1 ]; then
    "$venv/bin/pip" install -q torch --index-url https://download.pytorch.org/whl/cpu
fi
rm -rf "$wheels"
echo "=== building the wheel (pip wheel bindings/python)"
"$venv/bin/pip" wheel -q --no-deps -w "$wheels" ./bindings/python
"$venv/bin/pip" install -q --force-reinstall --no-deps "$wheels"/saraphis-*.whl
echo "=== pytest bindings/python/tests (installed wheel)"
# From outside the source tree, so that the installed package (not bindings/python) is tested.
cd "$root/target"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/bindings/python/tests"
echo "=== scripts/plot-bench.py (the pictures of docs/BENCHMARKS.md, from docs/bench) into target/plots"
"$venv/bin/python" "$root/scripts/plot-bench.py" --out "$root/target/plots"
