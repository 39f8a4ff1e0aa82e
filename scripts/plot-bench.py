#!/usr/bin/env python3
"""Pictures of the benchmarks, drawn from the JSON they write (docs/bench/), as SVG.

Usage: scripts/plot-bench.py [--bench DIR] [--out DIR]   (defaults: docs/bench, docs/plots)
Needs matplotlib (pip install matplotlib). Each picture names its JSON, machine and date; peers
are drawn only from rows measured in the same run as ours (that is how the JSON keeps them).

  rate-distortion-cpu.svg   p-adic codec on all-MiniLM-L6-v2 F32: compression ratio (original /
                            compressed bytes) against the measured max |x' - x| at each absolute
                            bound, with the lossless ratios (v1, v2) for reference
  throughput-cpu.svg        one thread, whole MiniLM: compress and decompress MB/s of original
                            data, Saraphis layouts v1/v2 beside ZipNN (same run), F32 and BF16
  throughput-gpu.svg        H200, 1 GiB tile of real weights: decode GB/s of output, Saraphis
                            layout v2 beside nvCOMP 6 ANS and DFloat11's kernel (same run)
  model-gpu.svg             H200, whole MiniLM in BF16: decode time (ms) of every tensor,
                            batched and tensor by tensor, through the archive API, and DFloat11
                            per transformer block (same run)
"""
import argparse
import datetime
import json
import sys
from pathlib import Path

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot-bench.py: needs matplotlib (pip install matplotlib)")


def load(p):
    return json.loads(Path(p).read_text())


def when(d):
    t = d.get("unix_time")
    return datetime.datetime.utcfromtimestamp(t).strftime("%Y-%m-%d") if t else ""


def note(ax, text):
    """The source line under the picture, wrapped to its width."""
    import textwrap

    fig = ax.figure
    lines = textwrap.wrap(text, width=int(fig.get_figwidth() * 17))
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=6.5, va="bottom", color="#555")
    fig.tight_layout(rect=(0, 0.035 * (len(lines) + 1), 1, 1))


def rate_distortion(bench, out):
    src = bench / "minilm-cpu-2026-11-21.json"
    d = load(src)
    r = d["results"]
    pts = sorted(
        (v["max_abs_error"], v["ratio"], k)
        for k, v in r.items()
        if k.startswith("padic_abs") and k.endswith("_t1") and "_f32" in k
    )
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color="#1f6feb", label="Saraphis p-adic (abs bound)")
    for e, ratio, k in pts:
        bound = k.split("_")[1].replace("abs", "")
        ax.annotate(f"bound {bound}\n{ratio:.2f}x", (e, ratio), textcoords="offset points", xytext=(6, 4), fontsize=7)
    for key, label, style in (("lossless_f32_t1", "Saraphis lossless v1", "--"),):
        if key in r:
            ax.axhline(r[key]["ratio"], ls=style, color="#888", lw=1)
            ax.text(pts[0][0], r[key]["ratio"] * 1.04, f"{label}: {r[key]['ratio']:.4f}x (error 0)", fontsize=7, color="#555")
    ax.set_xscale("log")
    ax.set_xlabel("max |x' - x| measured over every element")
    ax.set_ylabel("compression ratio (original / compressed)")
    ax.set_title("Rate-distortion, all-MiniLM-L6-v2 F32 (22.7 M values)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    note(ax, f"{src.name}: {d['machine'].get('cpu', '')}, {when(d)}, one thread, p = 251, automatic precision; "
             "every bound held for every element")
    fig.savefig(out / "rate-distortion-cpu.svg", metadata={"Date": None})
    plt.close(fig)


def bars(ax, groups, series, values, colors):
    n = len(series)
    w = 0.8 / n
    for i, s in enumerate(series):
        xs = [g + (i - (n - 1) / 2) * w for g in range(len(groups))]
        vs = [values.get((grp, s)) for grp in groups]
        xs2 = [x for x, v in zip(xs, vs) if v is not None]
        vs2 = [v for v in vs if v is not None]
        b = ax.bar(xs2, vs2, w, label=s, color=colors[i % len(colors)])
        ax.bar_label(b, fmt="%.0f", fontsize=6)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)


COLORS = ["#1f6feb", "#79b8ff", "#d73a49", "#f9a825", "#6f42c1", "#2da44e"]


def throughput_cpu(bench, out):
    src = bench / "cpu-peers-2026-12-02.json"
    d = load(src)
    r = d["results"]
    rows = {"Saraphis v1": "lossless_{}_t1", "Saraphis v2": "lossless_v2_{}_t1", "ZipNN 0.5.4": "zipnn_{}_t1"}
    groups, values = [], {}
    for dt in ("f32", "bf16"):
        for op in ("compress", "decompress"):
            g = f"{dt.upper()}\n{op}"
            groups.append(g)
            for name, key in rows.items():
                v = r.get(key.format(dt))
                if v:
                    values[(g, name)] = v[f"{op}_mb_s"]
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    bars(ax, groups, list(rows), values, COLORS[0:2] + COLORS[2:3])
    ax.set_ylabel("MB/s of original data (one thread)")
    ax.set_title("CPU, whole all-MiniLM-L6-v2, one thread, same run", fontsize=10)
    ax.legend(fontsize=8)
    ratios = ", ".join(
        f"{name} {dt.upper()} {r[key.format(dt)]['ratio']:.4f}"
        for dt in ("f32", "bf16") for name, key in rows.items() if key.format(dt) in r
    )
    note(ax, f"{src.name}: {d.get('machine', {}).get('cpu', '')} {when(d)}. Ratios: {ratios}")
    fig.savefig(out / "throughput-cpu.svg", metadata={"Date": None})
    plt.close(fig)


def throughput_gpu(bench, out):
    src = bench / "gpu-lossless-h200-2026-12-02.json"
    peers_src = bench / "gpu-peers-h200-2026-12-02.jsonl"
    r = load(src)["results"]
    peers = [json.loads(l) for l in peers_src.read_text().splitlines() if l.strip()]
    values, series = {}, ["Saraphis v2 (checksums on)", "nvCOMP 6 ANS typed", "nvCOMP 6 ANS bytes", "DFloat11 0.5.0 kernel"]
    for dt in ("bf16", "f32"):
        g = dt.upper()
        values[(g, series[0])] = r[f"lossless_v2_decode_{dt}_api"]["decompress_gb_s_of_output"]
        for p in peers:
            if p.get("data") != dt:
                continue
            name = p.get("peer", "")
            if name.startswith("nvcomp6-ANS-<"):
                values[(g, series[1])] = p["decomp_GBps"]
            elif name == "nvcomp6-ANS":
                values[(g, series[2])] = p["decomp_GBps"]
            elif name.startswith("dfloat11"):
                values[(g, series[3])] = p["decomp_GBps"]
    copy = next((p["GBps_read_plus_write"] for p in peers if p.get("peer") == "d2d-copy"), 0.0)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    bars(ax, ["BF16", "F32"], series, values, COLORS)
    ax.set_ylabel("decode GB/s of output")
    ax.set_ylim(top=max(values.values()) * 1.45)
    ax.set_title("H200, 1 GiB of real weights (BF16 0.5 GiB for the peers), same run", fontsize=10)
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    note(ax, f"{src.name} + {peers_src.name}, 2026-12-02; device copy {copy:.0f} GB/s read + written")
    fig.savefig(out / "throughput-gpu.svg", metadata={"Date": None})
    plt.close(fig)


def model_gpu(bench, out):
    src = bench / "gpu-model-h200-2026-12-02.json"
    d = load(src)
    m = d["results"]["model_bf16"]
    rows = [("Saraphis v2, one batched call", m["batched_ms"])]
    arch = bench / "minilm-archive-gpu-2026-12-02.json"
    if arch.exists():
        a = load(arch)["results"]["model_bf16"]
        rows.append(("Saraphis v2, archive API batch (warm, other run)", a["archive_batched_ms"]))
    rows += [(f"DFloat11 per block ({p['groups']} calls)", p["ms"]) for p in d.get("peers_same_run", [])]
    rows.append(("Saraphis v2, tensor by tensor (103 calls)", m["tensor_by_tensor_ms"]))
    fig, ax = plt.subplots(figsize=(8.6, 3.6))
    names = [n for n, _ in rows]
    b = ax.barh(names, [v for _, v in rows], color=[COLORS[0], COLORS[1], COLORS[3], COLORS[0]][: len(rows)])
    ax.bar_label(b, fmt="%.3f ms", fontsize=7)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("ms for all 103 tensors (45.4 MB of BF16), log scale")
    ax.set_xlim(right=max(v for _, v in rows) * 4)
    ax.set_title("H200, whole all-MiniLM-L6-v2 in BF16 on one stream", fontsize=10)
    note(ax, f"{src.name} (DFloat11 in the same run), {arch.name}; 2026-12-02")
    fig.savefig(out / "model-gpu.svg", metadata={"Date": None})
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    ap.add_argument("--bench", type=Path, default=root / "docs" / "bench")
    ap.add_argument("--out", type=Path, default=root / "docs" / "plots")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    plt.rcParams["svg.hashsalt"] = "saraphis"  # stable ids: the same JSON gives the same file
    plt.rcParams["svg.fonttype"] = "none"
    for f in (rate_distortion, throughput_cpu, throughput_gpu, model_gpu):
        f(a.bench, a.out)
    for p in sorted(a.out.glob("*.svg")):
        print(f"plot-bench.py: wrote {p}")


if __name__ == "__main__":
    main()
