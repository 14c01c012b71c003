#!/usr/bin/env python3
"""Independent reader (numpy + struct, following Megatron's _IndexReader and lit-gpt's PackedDataset header layout)
for the files `steel tokenizer export` writes. Prints JSON.

Usage: python3 tokenizer/check_exports.py megatron PREFIX
       python3 tokenizer/check_exports.py litgpt FILE...
"""
import json
import struct
import sys

import numpy as np

MEGATRON_DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32, 8: np.uint16}
LIT_DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float32, 7: np.float64, 8: np.uint16}


def megatron(prefix):
    with open(prefix + ".idx", "rb") as f:
        assert f.read(9) == b"MMIDIDX\x00\x00", "bad magic"
        (version,) = struct.unpack("<Q", f.read(8))
        (code,) = struct.unpack("<B", f.read(1))
        (seq_count,) = struct.unpack("<Q", f.read(8))
        (doc_count,) = struct.unpack("<Q", f.read(8))
        offset = f.tell()
    buf = memoryview(open(prefix + ".idx", "rb").read())
    lengths = np.frombuffer(buf, dtype=np.int32, count=seq_count, offset=offset)
    pointers = np.frombuffer(buf, dtype=np.int64, count=seq_count, offset=offset + lengths.nbytes)
    doc_idx = np.frombuffer(buf, dtype=np.int64, count=doc_count, offset=offset + lengths.nbytes + pointers.nbytes)
    data = np.memmap(prefix + ".bin", dtype=MEGATRON_DTYPES[code], mode="r")
    seqs = [data[p // data.itemsize: p // data.itemsize + n].tolist() for p, n in zip(pointers.tolist(), lengths.tolist())]
    return {"version": version, "dtype": np.dtype(MEGATRON_DTYPES[code]).name, "sequences": seqs, "doc_idx": doc_idx.tolist()}


def litgpt(files):
    out = []
    for fn in files:
        with open(fn, "rb") as f:
            assert f.read(7) == b"LITPKDS", "bad magic"
            (version,) = struct.unpack("<Q", f.read(8))
            (code,) = struct.unpack("<B", f.read(1))
            (chunk_size,) = struct.unpack("<Q", f.read(8))
        arr = np.memmap(fn, dtype=LIT_DTYPES[code], mode="r", offset=24, shape=(chunk_size,))
        out.append({"version": version, "dtype": np.dtype(LIT_DTYPES[code]).name, "chunk_size": chunk_size, "tokens": arr.tolist()})
    return out


if __name__ == "__main__":
    kind = sys.argv[1]
    print(json.dumps(megatron(sys.argv[2]) if kind == "megatron" else litgpt(sys.argv[2:])))
