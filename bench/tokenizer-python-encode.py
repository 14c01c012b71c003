#!/usr/bin/env python3
"""Oracle and baseline for bench/tokenizer-encode.ts: Hugging Face's Python `tokenizers` (one thread) encodes every
document of TEXTS.jsonl (one JSON string per line) with TOKENIZER.json, no special tokens added, in batches of 256.
Writes the ids to IDS.bin (per document: uint32 count, then the ids; little-endian) and prints
{"docs", "tokens", "cpu"} (CPU seconds of the encoding only).

Usage: python3 bench/tokenizer-python-encode.py TEXTS.jsonl TOKENIZER.json IDS.bin"""
import json
import os
import resource
import struct
import sys

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"
from tokenizers import Tokenizer  # noqa: E402


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    texts_path, tok_path, ids_path = sys.argv[1:4]
    with open(texts_path, encoding="utf-8") as f:
        texts = [json.loads(line) for line in f]
    tok = Tokenizer.from_file(tok_path)
    c0 = cpu()
    encs = []
    for i in range(0, len(texts), 256):
        encs.extend(e.ids for e in tok.encode_batch(texts[i:i + 256], add_special_tokens=False))
    c = cpu() - c0
    with open(ids_path + ".tmp", "wb") as f:
        for ids in encs:
            f.write(struct.pack("<I", len(ids)))
            f.write(struct.pack(f"<{len(ids)}I", *ids))
    os.replace(ids_path + ".tmp", ids_path)
    print(json.dumps({"docs": len(texts), "tokens": sum(len(e) for e in encs), "cpu": c}))


if __name__ == "__main__":
    main()
