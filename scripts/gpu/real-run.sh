#!/usr/bin/env bash
# GPU acceptance run (on the GPU host, repo root, after train/native/build.sh): `steel train --backend cuda` on the
# bundled sample shards for 300 steps of a 260M Steel-kind model (scripts/gpu/steel-260m.json): run A straight through;
# run B killed with SIGKILL after step 150 (last checkpoint: step 100) and resumed with --resume to step 300.
# Then the per-step losses of A and B are compared (identical when the kernels are deterministic).
# Needs .offline/ from scripts/gpu/bundle.sh (node runtime, steel-train.mjs, steel-cuda-index.mjs, shards/).
set -uo pipefail
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/steel-gpu-out}
mkdir -p "$OUT"
NODE=${NODE:-/tmp/node}
RUN=${RUN:-/tmp/steel-run}
CFG=${CFG:-scripts/gpu/steel-260m.json}
STEPS=${STEPS:-300}
KILL_AT=${KILL_AT:-150}
export STEEL_CUDA_ADDON=${STEEL_CUDA_ADDON:-$PWD/train/native/build/steel_cuda.node}
train() { $NODE .offline/steel-train.mjs --config "$CFG" --data .offline/shards --backend cuda --steps "$STEPS" "$@"; }
rm -rf "$RUN" && mkdir -p "$RUN"
t0=$(date +%s)
train --out "$RUN/A" > "$RUN/A.log" 2>&1 || { tail -30 "$RUN/A.log"; echo "run A failed"; exit 1; }
echo "run A: $(( $(date +%s) - t0 )) s"; grep -E "^step (1|50|100|150|200|250|300)/|^done" "$RUN/A.log"
t0=$(date +%s)
# start node itself in the background (not a shell function: $! must be the trainer's own pid for the SIGKILL)
$NODE .offline/steel-train.mjs --config "$CFG" --data .offline/shards --backend cuda --steps "$STEPS" --out "$RUN/B" > "$RUN/B1.log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
  last=$(tail -1 "$RUN/B/metrics.jsonl" 2>/dev/null | sed -n 's/.*"step":\([0-9]*\).*/\1/p')
  if [[ -n $last && $last -ge $KILL_AT ]]; then kill -9 $pid; echo "run B: SIGKILL at step $last"; break; fi
  sleep 0.2
done
wait $pid 2>/dev/null; echo "killed trainer exit status: $? (137 = SIGKILL)"
sleep 1
if pgrep -f "steel-train.mjs.*$RUN/B" >/dev/null; then echo "FAIL: killed trainer still running"; exit 1; fi
echo "checkpoints after the kill: $(ls "$RUN/B/checkpoints" | tr '\n' ' ')"
grep -q "^done" "$RUN/B1.log" && { echo "FAIL: run B finished before the kill"; exit 1; }
echo "metrics lines written before the kill: $(wc -l < "$RUN/B/metrics.jsonl")"
train --out "$RUN/B" --resume > "$RUN/B2.log" 2>&1 || { tail -30 "$RUN/B2.log"; echo "resume failed"; exit 1; }
echo "run B (kill + resume): $(( $(date +%s) - t0 )) s"; head -3 "$RUN/B2.log"; tail -2 "$RUN/B2.log"
python3 - "$RUN/A/metrics.jsonl" "$RUN/B/metrics.jsonl" <<'PY'
import json, sys
a = {r["step"]: r for r in map(json.loads, open(sys.argv[1]))}
b = {r["step"]: r for r in map(json.loads, open(sys.argv[2]))}
common = sorted(set(a) & set(b))
diffs = [abs(a[s]["loss"] - b[s]["loss"]) for s in common]
exact = sum(1 for s in common if a[s]["loss"] == b[s]["loss"])
print(f"resume check: {len(common)} common steps, {exact} bit-identical losses, max |dloss| {max(diffs):.3e}")
print("loss A: " + " ".join(f"{s}:{a[s]['loss']:.4f}" for s in (1, 50, 100, 150, 200, 250, 300) if s in a))
print("loss B: " + " ".join(f"{s}:{b[s]['loss']:.4f}" for s in (1, 50, 100, 150, 200, 250, 300) if s in b))
tps = [a[s]["tokens_per_s"] for s in common if s > 5]
print(f"run A tokens/s median {sorted(tps)[len(tps)//2]:,}")
PY
cp "$RUN/A/metrics.jsonl" "$OUT/runA-metrics.jsonl" 2>/dev/null || true
cat "$RUN/A.log" "$RUN/B1.log" "$RUN/B2.log" > "$OUT/real-run.log" 2>/dev/null || true
