#!/usr/bin/env bash
# Every kernels/*.cu compiles on its own (shared device code comes from the .cuh headers it
# includes, never from another .cu glued before it by build.rs). Run by .ci/run; needs nvcc
# (scripts/nvcc.sh installs CUDA's compiler from PyPI into .cuda-venv/ when NVCC is unset).
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-$(scripts/nvcc.sh)}
status=0
for f in kernels/*.cu; do
    if "$NVCC" -arch=sm_80 -c "$f" -o /dev/null; then
        echo "check-kernels: $f compiles on its own"
    else
        echo "check-kernels: $f does NOT compile on its own" >&2
        status=1
    fi
done
exit $status
