#!/usr/bin/env bash
# ZipNN and Saraphis (layouts v1 and v2) on one CPU thread, whole all-MiniLM-L6-v2, in one run:
# scripts/cpu-peers.sh [MODEL] [--repeats N] [--out FILE] [--segment-elems N]. Installs zipnn into target/peers-venv (PyPI) and
# fetches the model with scripts/demo.sh's steps if needed. Writes bench-out/cpu-peers.json.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${SARAPHIS_DEMO_DIR:-target/demo}
model=${1:-$work/model.safetensors}
[ $# -gt 0 ] && shift
if [ ! -f "$model" ]; then
    scripts/demo.sh >/dev/null   # fetches the model into $work
fi
venv=target/peers-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "zipnn==0.5.4" numpy safetensors
fi
cargo build --release --quiet --bin saraphis
"$venv/bin/python" scripts/cpu-peers.py "$model" "$@"
