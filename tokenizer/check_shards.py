#!/usr/bin/env python3
"""Read a Steel shard folder with pyarrow and check it against manifest.json.

Usage: python3 tokenizer/check_shards.py SHARDS_DIR
Prints a JSON summary (per shard: rows, tokens, schema metadata, first document's tokens) and exits 1 on a mismatch.
Exit code 3 (and a message) when pyarrow is not installed.
"""
import hashlib
import json
import os
import sys

try:
    import pyarrow as pa
    import pyarrow.ipc as ipc
except ImportError:
    print("pyarrow not installed", file=sys.stderr)
    sys.exit(3)


def main(d):
    with open(os.path.join(d, "manifest.json")) as f:
        m = json.load(f)
    out = {"pyarrow": pa.__version__, "shards": []}
    problems = []
    for s in m["shards"]:
        p = os.path.join(d, s["file"])
        with open(p, "rb") as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != s["sha256"]:
            problems.append(f"{p}: sha256 mismatch")
        reader = ipc.open_file(pa.py_buffer(data))
        table = reader.read_all()
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        tokens = table.column("tokens")
        ntok = sum(len(c.values) for c in tokens.chunks)
        if table.num_rows != s["documents"]:
            problems.append(f"{p}: {table.num_rows} rows, manifest says {s['documents']}")
        if ntok != s["tokens"]:
            problems.append(f"{p}: {ntok} tokens, manifest says {s['tokens']}")
        if int(meta.get("steel.num_tokens", "-1")) != ntok:
            problems.append(f"{p}: steel.num_tokens {meta.get('steel.num_tokens')} != {ntok}")
        # the stream part (after the 8-byte file magic) must be readable sequentially too
        stream = ipc.open_stream(pa.py_buffer(data[8:]))
        srows = sum(b.num_rows for b in stream)
        if srows != table.num_rows:
            problems.append(f"{p}: stream reader saw {srows} rows")
        out["shards"].append({
            "file": s["file"],
            "rows": table.num_rows,
            "tokens": ntok,
            "types": {f.name: str(f.type) for f in table.schema},
            "metadata": meta,
            "first": {"id": table.column("id")[0].as_py(), "tokens": table.column("tokens")[0].as_py()} if table.num_rows else None,
        })
    out["problems"] = problems
    print(json.dumps(out))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
