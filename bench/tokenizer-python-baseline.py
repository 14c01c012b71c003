#!/usr/bin/env python3
"""Baseline for bench/tokenizer-throughput.ts: Hugging Face's Python `tokenizers` (same Rust engine, one thread)
encoding the same texts with the same tokenizer.json. Input: a JSON file {"zh": [texts], "en": [texts]}.
Prints one JSON line per language: bytes, tokens, cpu seconds, wall seconds."""
import json
import os
import resource
import sys
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"
from tokenizers import Tokenizer  # noqa: E402


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    texts = json.load(open(sys.argv[1], encoding="utf-8"))
    tok = Tokenizer.from_file(sys.argv[2])
    for name in ("zh", "en"):
        t = texts[name]
        b = sum(len(x.encode("utf-8")) for x in t)
        tok.encode_batch(t[:50], add_special_tokens=False)
        c0, w0, n = cpu(), time.time(), 0
        for i in range(0, len(t), 256):
            for e in tok.encode_batch(t[i:i + 256], add_special_tokens=False):
                n += len(e.ids)
        print(json.dumps({"lang": name, "bytes": b, "tokens": n, "cpu": cpu() - c0, "wall": time.time() - w0}))


if __name__ == "__main__":
    main()
