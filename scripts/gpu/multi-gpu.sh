#!/usr/bin/env bash
# Multi-GPU acceptance (issue 9) on one host with N >= 2 GPUs, repo root, after scripts/gpu/bundle.sh on the dev
# machine (.offline/: node runtime + headers, steel-train.mjs, steel-cuda-index.mjs, shards/):
#  1. builds the addon; a 3-step NCCL smoke run of the 261M Steel config on N GPUs;
#  2. Steel-LLM-1B, the same global batch (M micro-batches of 8 x 2048) on 1 GPU (grad-accum M) and on N GPUs
#     (grad-accum M/N each): loss traces side by side and tokens/s per GPU (scaling efficiency), for M = 8 and M = N;
#  3. the 261M config trained 20 steps on N GPUs (checkpoint at 10), then its step-10 checkpoint resumed on 1 GPU:
#     the losses of steps 11-20 compared with the N-GPU run.
# Logs and multi-gpu.json go to $OUT. Env: STEPS (1B steps, default 12), NODE, SKIP_BUILD=1, NVCC_EXTRA (build.sh).
set -uo pipefail
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:-/tmp/steel-gpu-out}
RUN=${RUN:-/tmp/steel-mg}
STEPS=${STEPS:-12}
mkdir -p "$OUT" && rm -rf "$RUN" && mkdir -p "$RUN" && rm -f "$OUT/mg-runs.log"
NODE=${NODE:-}
if [[ -z $NODE ]]; then
  if command -v node >/dev/null; then NODE=node; else xz -dc .offline/node.xz > /tmp/node && chmod +x /tmp/node && NODE=/tmp/node; fi
fi
if [[ -z ${NODE_INC:-} ]]; then
  mkdir -p /tmp/node-inc && tar xJf .offline/node-include.tar.xz -C /tmp/node-inc && export NODE_INC=/tmp/node-inc/include/node
fi
NG=$(nvidia-smi -L | wc -l)
{ nvidia-smi --query-gpu=index,name,memory.total --format=csv; nvidia-smi topo -m; } 2>&1 | tee "$OUT/mg-host.log"
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  t0=$(date +%s)
  train/native/build.sh > "$OUT/mg-build.log" 2>&1 || { tail -40 "$OUT/mg-build.log"; echo "BUILD FAILED"; exit 1; }
  echo "build: $(( $(date +%s) - t0 )) s"
fi
export STEEL_CUDA_ADDON=$PWD/train/native/build/steel_cuda.node
T() { $NODE .offline/steel-train.mjs --data .offline/shards --backend cuda --log-every 1 "$@"; }
step() { # name, then train args: runs, times, keeps the log
  local name=$1; shift
  local t0=$(date +%s)
  T "$@" > "$RUN/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc, $(( $(date +%s) - t0 )) s; $(grep -E '^(\[rank 0\] )?(done|stopped)' "$RUN/$name.log" | tail -1)"
  { echo "===== $name: $*"; cat "$RUN/$name.log"; } >> "$OUT/mg-runs.log"
  [[ $rc == 0 ]] || { tail -30 "$RUN/$name.log"; return 1; }
}
S260=scripts/gpu/steel-260m.json
S1B=scripts/gpu/steel-1b-dp.json
step smoke --config $S260 --out "$RUN/smoke" --steps 3 --gpus $NG || { echo "NCCL SMOKE FAILED"; exit 1; }
grep -h -E "nccl|NCCL|data parallel" "$RUN/smoke.log" | head -5
for M in 8 $NG; do
  step 1b-m$M-g1 --config $S1B --out "$RUN/1b-m$M-g1" --steps $STEPS --grad-accum $M
  step 1b-m$M-g$NG --config $S1B --out "$RUN/1b-m$M-g$NG" --steps $STEPS --grad-accum $(( M / NG )) --gpus $NG
  rm -rf "$RUN"/1b-m$M-*/checkpoints  # 13.5 GB each
done
step r260-g$NG --config $S260 --out "$RUN/r260-g$NG" --steps 20 --ckpt-every 10 --grad-accum 1 --gpus $NG
mkdir -p "$RUN/r260-g1/checkpoints"
ln -s "$RUN/r260-g$NG/checkpoints/step-00000010" "$RUN/r260-g1/checkpoints/step-00000010"
cp "$RUN/r260-g$NG/metrics.jsonl" "$RUN/r260-g1/metrics.jsonl"
step r260-resume-g1 --out "$RUN/r260-g1" --resume --steps 20
python3 - "$RUN" "$NG" "$OUT/multi-gpu.json" <<'PY'
import json, sys, os, statistics
run, ng, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def metrics(name):
    p = os.path.join(run, name, "metrics.jsonl")
    return {r["step"]: r for r in map(json.loads, open(p))} if os.path.exists(p) else {}
res = {"gpus": ng, "pairs": []}
for M in sorted({8, ng}):
    a, b = metrics(f"1b-m{M}-g1"), metrics(f"1b-m{M}-g{ng}")
    if not a or not b: continue
    common = sorted(set(a) & set(b))
    rel = [abs(a[s]["loss"] - b[s]["loss"]) / abs(a[s]["loss"]) for s in common]
    t1 = statistics.median(a[s]["tokens_per_s"] for s in common if s > 2)
    tn = statistics.median(b[s]["tokens_per_s"] for s in common if s > 2)
    eff = tn / ng / t1
    res["pairs"].append({"M": M, "steps": len(common), "maxRelLossDiff": max(rel), "firstLoss": [a[1]["loss"], b[1]["loss"]],
                         "lastLoss": [a[common[-1]]["loss"], b[common[-1]]["loss"]], "tokPerS1": t1, "tokPerSN": tn, "scaling": eff,
                         "loss1": [a[s]["loss"] for s in common], "lossN": [b[s]["loss"] for s in common],
                         "gnorm1": [a[s]["grad_norm"] for s in common], "gnormN": [b[s]["grad_norm"] for s in common]})
    print(f"steel-1b M={M}: 1 GPU {t1:,.0f} tok/s, {ng} GPUs {tn:,.0f} tok/s = {tn/ng:,.0f}/GPU, scaling {eff*100:.1f}%; "
          f"loss max rel diff {max(rel):.2e} over {len(common)} steps ({a[common[-1]]['loss']:.4f} vs {b[common[-1]]['loss']:.4f})")
a, b = metrics(f"r260-g{ng}"), metrics("r260-g1")
rs = [s for s in range(11, 21) if s in a and s in b]
if rs:
    rel = [abs(a[s]["loss"] - b[s]["loss"]) / abs(a[s]["loss"]) for s in rs]
    res["resume"] = {"steps": rs, "maxRelLossDiff": max(rel), "lossN": [a[s]["loss"] for s in rs], "loss1": [b[s]["loss"] for s in rs]}
    print(f"resume of the {ng}-GPU step-10 checkpoint on 1 GPU: steps 11-20 loss max rel diff {max(rel):.2e} "
          f"({a[20]['loss']:.4f} on {ng} GPUs vs {b[20]['loss']:.4f} resumed on 1)")
json.dump(res, open(out, "w"), indent=1)
PY
