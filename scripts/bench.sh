#!/usr/bin/env bash
# Benchmark on all-MiniLM-L6-v2: ratios, one-core and all-core throughput beside zstd,
# and the CLI's peak memory. Writes bench-out/minilm.json (see docs/BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${SARAPHIS_DEMO_DIR:-target/demo}
if [ ! -f "$work/model.safetensors" ]; then
    scripts/demo.sh >/dev/null   # fetches the model into $work
fi
cargo build --release --quiet --bin saraphis
cargo bench --bench minilm -- "$work/model.safetensors" --out bench-out/minilm.json "$@"
