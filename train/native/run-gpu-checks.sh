#!/usr/bin/env bash
# One command on a GPU host (repo root): build the CUDA addon, run the parity checks and the benchmark next to the
# PyTorch baseline, print a short table. Logs go to $OUT (default /tmp/steel-gpu-out).
# Needs: nvcc + cuBLASLt (CUDA 13), python3 with torch (for the torch sections), and either `node` on PATH or the staged
# runtime in .offline/ (shared/scripts/stage-node-runtime.sh) plus the bundle .offline/gpu-check.mjs
# (npx esbuild train/native/gpu-check.ts --bundle --platform=node --format=esm --outfile=.offline/gpu-check.mjs).
# Env: SECTIONS (default "attn cpu torch bench torchbench"), PRESETS (default steel-1b; comma list, e.g.
# steel-1b,qwen2-dense-1b), TORCH_VARIANTS (default eager,compile), BENCH_STEPS (10).
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1 STEEL_CPU_THREADS=1
OUT=${OUT:-/tmp/steel-gpu-out}
mkdir -p "$OUT"
SECTIONS=${SECTIONS:-attn cpu torch bench torchbench}
has() { [[ " $SECTIONS " == *" $1 "* ]]; }
NODE=${NODE:-}
if [[ -z $NODE ]]; then
  if command -v node >/dev/null; then NODE=node; else xz -dc .offline/node.xz > /tmp/node && chmod +x /tmp/node && NODE=/tmp/node; fi
fi
if [[ -z ${NODE_INC:-} ]]; then
  mkdir -p /tmp/node-inc && tar xJf .offline/node-include.tar.xz -C /tmp/node-inc && export NODE_INC=/tmp/node-inc/include/node
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv; nvcc --version | tail -1; } 2>&1 | tee "$OUT/build.log"
t0=$(date +%s)
train/native/build.sh >> "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; echo "BUILD FAILED"; exit 1; }
grep -E "registers|spill" "$OUT/build.log" | grep -B0 -E "spill stores [1-9]" | head -5
echo "build: $(( $(date +%s) - t0 )) s"
export STEEL_CUDA_ADDON=$PWD/train/native/build/steel_cuda.node
BUNDLE=${BUNDLE:-.offline/gpu-check.mjs}
node_sections=""
for s in attn cpu torch bench; do has $s && node_sections="$node_sections $s"; done
if has torch; then
  t0=$(date +%s)
  python3 bench/gpu-baseline.py parity --dir /tmp/parity --layers 2 --B 3 --T 2048 --steps 50 2>&1 | tee "$OUT/torch-parity.log" | tail -5
  echo "torch parity dump: $(( $(date +%s) - t0 )) s"
fi
if [[ -n $node_sections ]]; then
  $NODE "$BUNDLE" $node_sections --preset "${PRESETS:-steel-1b}" --torch-dir /tmp/parity --bench-steps "${BENCH_STEPS:-10}" --json "$OUT/gpu-check.json" 2>&1 | tee "$OUT/gpu-check.log"
fi
if has torchbench; then
  python3 bench/gpu-baseline.py bench --preset "${PRESETS:-steel-1b}" --variants "${TORCH_VARIANTS:-eager,compile}" --steps "${BENCH_STEPS:-10}" --json "$OUT/torch-bench.json" 2>&1 | tee "$OUT/torch-bench.log" | grep -v Warning | tail -8
fi
python3 bench/gpu-table.py "$OUT/gpu-check.json" "$OUT/torch-bench.json" | tee "$OUT/table.md"
