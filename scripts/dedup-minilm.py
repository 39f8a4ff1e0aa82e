#!/usr/bin/env python3
"""Identical tensors stored once (docs/FORMAT.md section 5, archive 1.2), on all-MiniLM-L6-v2 with
a tied masked-language-model decoder, as BERT checkpoints save it (`cls.predictions.decoder.weight`
is the word embedding; pytorch_model.bin files of BERT-style models hold both copies).

Usage: scripts/dedup-minilm.py MODEL.safetensors SARAPHIS_CLI OUT.json   (needs numpy, safetensors)

The model and the model plus the tied copy are compressed by the CLI (lossless, and p-adic abs
1e-3); `saraphis verify` and a byte comparison of `decompress`'s output check each archive. The
archive without sharing is given by arithmetic: the plain model's archive plus the shared
container's length (the copy would have been coded to the same bytes).
"""
import filecmp, json, os, subprocess, sys, tempfile, time

from safetensors.numpy import load_file, save_file


def main():
    model, cli, out = sys.argv[1], sys.argv[2], sys.argv[3]
    m = load_file(model)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tied = os.path.join(d, "tied.safetensors")
        m["cls.predictions.decoder.weight"] = m["embeddings.word_embeddings.weight"].copy()
        save_file(m, tied)
        for args in (["--lossless"], ["--abs", "1e-3"]):
            sizes = {}
            for label, src in (("model", model), ("tied", tied)):
                sph = os.path.join(d, f"{label}.sph")
                t0 = time.time()
                r = subprocess.run([cli, "compress", src, "-o", sph, "--json", "-q"] + args,
                                   capture_output=True, text=True, check=True)
                secs = time.time() - t0
                rep = json.loads(r.stdout)
                subprocess.run([cli, "verify", sph, "--against", src, "-q"], capture_output=True, check=True)
                if args == ["--lossless"]:
                    back = os.path.join(d, "back.safetensors")
                    subprocess.run([cli, "decompress", sph, "-o", back, "-q"], capture_output=True, check=True)
                    assert filecmp.cmp(back, src, shallow=False), "restored file differs"
                shared = [t for t in rep["tensors"] if t.get("shared_with")]
                sizes[label] = {"bytes": os.path.getsize(sph), "ratio": rep["ratio"],
                                "original_bytes": rep["original_bytes"], "compress_s": round(secs, 3),
                                "shared": [(t["name"], t["shared_with"], t["compressed_bytes"]) for t in shared]}
            shared_len = sum(s[2] for s in sizes["tied"]["shared"])
            without = sizes["model"]["bytes"] + shared_len
            row = {"args": " ".join(args), **sizes,
                   "tied_without_sharing_bytes": without,
                   "tied_without_sharing_ratio": sizes["tied"]["original_bytes"] / without}
            rows.append(row)
            print(f"{row['args']:12} model {sizes['model']['ratio']:.4f}  tied {sizes['tied']['ratio']:.4f} "
                  f"({sizes['tied']['bytes']} B; without sharing {without} B, ratio "
                  f"{row['tied_without_sharing_ratio']:.4f})", flush=True)
    with open(out + ".tmp", "w") as f:
        json.dump({"model": os.path.basename(model), "date": time.strftime("%Y-%m-%d"),
                   "machine": os.uname().nodename, "rows": rows}, f, indent=1)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
