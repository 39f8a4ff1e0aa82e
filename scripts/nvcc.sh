#!/usr/bin/env bash
# Print the path of an nvcc to build the CUDA kernels with: $NVCC if set, else CUDA's compiler
# from PyPI, pinned to 13.0 (its PTX loads on driver 580; 13.5 writes PTX the driver cannot JIT),
# installed once into .cuda-venv/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${NVCC:-}" ]; then
    echo "$NVCC"
    exit 0
fi
if ! ls .cuda-venv/lib/python3*/site-packages/nvidia/cu13/bin/nvcc >/dev/null 2>&1; then
    python3 -m venv .cuda-venv >&2
    .cuda-venv/bin/pip install -q "nvidia-cuda-nvcc==13.0.88" "nvidia-cuda-crt==13.0.88" \
        "nvidia-cuda-runtime==13.0.*" "nvidia-nvvm==13.0.*" >&2
fi
ls "$PWD"/.cuda-venv/lib/python3*/site-packages/nvidia/cu13/bin/nvcc
