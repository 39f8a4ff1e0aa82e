#!/usr/bin/env python3
"""Estimate (entropy-based, not the coder) of what a per-segment table choice would save in
lossless-v2 containers on all-MiniLM-L6-v2 (issue 11; docs/design/format-v2.md, "Per-segment
table choice").

Usage: scripts/v2_table_choice_estimate.py MODEL.safetensors   (needs numpy and safetensors)

Layout v2 today codes every segment of a plane with the tensor's one table (or stores the plane
raw for the whole tensor). For each plane and 2^16-element segment this script compares the cost
of the segment's symbols under the tensor's table (probabilities floored at 1/4096, as 12-bit
tables are) with (a) the segment's own table (its empirical entropy plus 12 bits per present
symbol for the table; an optimistic table cost) and (b) raw bytes, and prints the bytes the best
choice per segment would save, for F32 and BF16 (round to nearest even). It also prints the
saving of a per-tensor bank of two tables (2-means over the segments' histograms) with raw as a
third choice. Costs are in bytes of payload; final states, index entries and padding are the same
for every choice and left out.
"""
import sys

import numpy as np
from safetensors.numpy import load_file

S = 1 << 16


def entropy_bits(c):
    c = c[c > 0]
    return float(-(c * np.log2(c / c.sum())).sum())


def cost_bits(cs, table):
    p = np.maximum(table / table.sum(), 1 / 4096)
    p = p / p.sum()
    return float(-(cs * np.log2(p)).sum())


def planes(u, bf16):
    if bf16:
        return [(u >> 7) & 255, ((u >> 15) << 7) | (u & 127)]
    return [(u >> 23) & 255, ((u >> 31) << 7) | ((u >> 16) & 127), (u >> 8) & 255, u & 255]


def main():
    model = load_file(sys.argv[1])
    for bf16 in (False, True):
        base = own = bank = 0.0
        for a in model.values():
            if a.dtype != np.float32:
                continue
            u = a.view(np.uint32).ravel().astype(np.uint64)
            if bf16:
                u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
            for arr in planes(u, bf16):
                arr = arr.astype(np.int64)
                segs = [np.bincount(arr[s:s + S], minlength=256).astype(float) for s in range(0, len(arr), S)]
                table = sum(segs)
                tensor = sum(cost_bits(cs, table) for cs in segs)
                raw = 8.0 * len(arr)
                today = min(tensor, raw)
                base += today
                own += today - sum(min(cost_bits(cs, table), entropy_bits(cs) + 12 * (cs > 0).sum(), 8 * cs.sum())
                                   for cs in segs)
                if len(segs) >= 2:
                    ta = table.copy()
                    tb = segs[int(np.argmax([cost_bits(cs, table) - entropy_bits(cs) for cs in segs]))].copy()
                    for _ in range(6):
                        ga = [cs for cs in segs if cost_bits(cs, ta) <= cost_bits(cs, tb)]
                        gb = [cs for cs in segs if cost_bits(cs, ta) > cost_bits(cs, tb)]
                        ta = sum(ga) if ga else ta
                        tb = sum(gb) if gb else tb
                    two = sum(min(cost_bits(cs, ta), cost_bits(cs, tb), 8 * cs.sum()) for cs in segs)
                    two += 16 * ((ta > 0).sum() + (tb > 0).sum())
                    bank += max(0.0, today - two)
        name = "BF16" if bf16 else "F32"
        print(f"{name}: planes today {base / 8e6:.3f} MB; per-segment own/tensor/raw saves {own / 8e6:.3f} MB; "
              f"per-tensor bank of two (+ raw) saves {bank / 8e6:.3f} MB")


if __name__ == "__main__":
    main()
