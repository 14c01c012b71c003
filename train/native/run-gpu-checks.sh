#!/usr/bin/env bash
# One command on a GPU host (repo root): build the CUDA addon, run the parity checks and the benchmark next to the
# PyTorch baselines (our twin bench/gpu-baseline.py, eager and torch.compile, and the project owner's reference
# bench/torch-ref/steel_ref.py under torch.compile), optionally the kill/resume run, and print a short table with our
# ratio against the faster torch.compile. Logs go to $OUT (default /tmp/steel-gpu-out).
# Needs: nvcc + cuBLASLt (CUDA 13), python3 with torch (for the torch sections), and either `node` on PATH or the staged
# runtime in .offline/ plus the bundles (scripts/gpu/bundle.sh [SHARDS]).
# Env: SECTIONS (default "attn attnab cpu torch finetune decode bench sftbench torchbench ref"; "attnab": the attention
# kernels' A/B and per-kernel TFLOP/s, train/native/dev/attn-ab.cu, with OLD_TREE also the first tree's kernels against
# this tree's (bit comparison, alternating rounds); also "resume": scripts/gpu/real-run.sh, needs
# .offline/shards; "decodebench": batched greedy decoding per preset and `steel eval` chat-gen's decoding (items/s, one
# question at a time vs ragged batches: the EVALGEN line), then transformers' generate on the same weights and
# prompts (bench/decode-peer.py; PEER_PRESETS narrows its presets, "none" skips it); "dpobench": DPO steps on steel-1b at cutoff 1536;
# "fte2e": `steel sft` and `steel dpo --backend cuda` end to end from a small exported model on the shards in $FTDATA
# (default .offline/ftdata, with sft-data/ and dpo-data/ from `steel sft-data`)), PRESETS (default steel-1b; comma list,
# e.g. steel-1b,qwen2-dense-1b; "ref" runs steel_ref.py --compile for each: steel-1b as is, qwen2-dense-1b with
# --dense --inter 3584, and the table ends with one line per preset: our tokens/s against the faster baseline), TORCH_VARIANTS (default
# eager,compile), BENCH_STEPS (10), REF_STEPS (15), BUILD (1; 0 reuses the addon already in train/native/build).
# "moeab" (not in the default): train/native/dev/moe-ab.cu, one Soft-MoE layer of steel-1b timed per phase, and the
# combine's fused RMSNorm checked bit for bit against rmsnormForward; with OLD_TREE also its first tree's moe-ab, and the two
# dumps compared tensor by tensor.
# "ceab" (not in the default): train/native/dev/ce-ab.cu, the cross-entropy over one steel-1b lm_head chunk and the
# optimizer pass (grad norm + AdamW over 1.12e9 parameters) timed with events, with the new header's other instantiations;
# with OLD_TREE also built against its first tree's headers (this ce-ab.cu copied there), old and new run alternating
# twice, and the dumps compared (new against old, and each build's two runs against each other).
# "benchab" (not in the default): an A/B of addons at the step level. OLD_TREE is a folder holding another
# train/native tree (e.g. `git archive COMMIT train/native | tar x -C DIR`), or several folders (space-separated: an
# A/B/C..., each named by its folder's name, a single one "old"); each build.sh builds its tree into its own
# DIR/train/native/build (train/native/build is not touched; OLD_BUILD=0 reuses an addon already built there; several
# trees build in parallel), then gpu-check's bench runs for each of PRESETS with the old addons and the new one
# alternating, AB_ROUNDS (2) rounds; one line per run (addon, preset, tok/s, median step ms) and, per preset and addon,
# whether its runs' losses are identical (determinism), then whether all addons' losses are (bit-identical kernels give
# identical losses). Logs and JSON in $OUT/benchab-*.
# "gemmab" (not in the default): dev/gemm-ab.cu times cuBLASLt's offered algorithms for every GEMM of the steel-1b and
# qwen2-dense-1b steps (first offer, which the addon runs, against the fastest; per-step totals).
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1 STEEL_CPU_THREADS=1
OUT=${OUT:-/tmp/steel-gpu-out}
mkdir -p "$OUT"
SECTIONS=${SECTIONS:-attn attnab cpu torch finetune decode bench sftbench torchbench ref}
PRESETS=${PRESETS:-steel-1b}
has() { [[ " $SECTIONS " == *" $1 "* ]]; }
NODE=${NODE:-}
if [[ -z $NODE ]]; then
  if command -v node >/dev/null; then NODE=node; else xz -dc .offline/node.xz > /tmp/node && chmod +x /tmp/node && NODE=/tmp/node; fi
fi
export NODE
if [[ -z ${NODE_INC:-} ]]; then
  mkdir -p /tmp/node-inc && tar xJf .offline/node-include.tar.xz -C /tmp/node-inc && export NODE_INC=/tmp/node-inc/include/node
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv; nvcc --version | tail -1; date -u; } 2>&1 | tee "$OUT/build.log"
if has gemmab; then
  nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/gemm-ab train/native/dev/gemm-ab.cu \
    -L"${CUDA_HOME:-/usr/local/cuda}/lib64" -lcublasLt > "$OUT/gemm-ab.log" 2>&1 &&
    /tmp/gemm-ab >> "$OUT/gemm-ab.log" 2>&1
  grep -E "^GEMMs per step|rror" "$OUT/gemm-ab.log"
fi
t0=$(date +%s)
if [[ ${BUILD:-1} == 1 ]]; then
  train/native/build.sh >> "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; echo "BUILD FAILED"; exit 1; }
  grep -B1 -E "[1-9][0-9]* bytes spill stores" "$OUT/build.log" | head -10
  echo "build: $(( $(date +%s) - t0 )) s"
else
  [[ -f train/native/build/steel_cuda.node ]] || { echo "BUILD=0 but no train/native/build/steel_cuda.node"; exit 1; }
  echo "build: reusing train/native/build/steel_cuda.node (BUILD=0)"
fi
export STEEL_CUDA_ADDON=$PWD/train/native/build/steel_cuda.node
if has attnab; then  # per attention kernel: ms and TFLOP/s, and the dev wgmma backward against the production one
  # with OLD_TREE: its first tree's attention.cuh renamed (attn* -> oattn*) and compiled in, the old-vs-new A/B (AB lines)
  AB_OLD=()
  if [[ -n ${OLD_TREE:-} ]]; then
    sed -e '/^#include/d' -e '/^#pragma once/d' -e 's/\battn/oattn/g' "${OLD_TREE%% *}/train/native/attention.cuh" > /tmp/attn-old.cuh
    AB_OLD=(-DATTN_OLD='"/tmp/attn-old.cuh"')
  fi
  nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a "${AB_OLD[@]}" -o /tmp/attn-ab train/native/dev/attn-ab.cu > "$OUT/attn-ab.log" 2>&1 \
    && /tmp/attn-ab >> "$OUT/attn-ab.log" 2>&1; grep -E "production|candidate|^AB| vs |FAIL|ALL OK|error" "$OUT/attn-ab.log"
fi
if has moeab; then  # Soft-MoE layer: per phase, the fused norm's check, and with OLD_TREE the other tree's build and dump
  nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/moe-ab train/native/dev/moe-ab.cu -lcublasLt > "$OUT/moe-ab.log" 2>&1 \
    && /tmp/moe-ab run /tmp/moe-new.bin >> "$OUT/moe-ab.log" 2>&1
  if [[ -n ${OLD_TREE:-} ]]; then
    MOE_OLD=${OLD_TREE%% *}
    nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o /tmp/moe-ab-old "$MOE_OLD/train/native/dev/moe-ab.cu" -lcublasLt \
      > "$OUT/moe-ab-old.log" 2>&1 && /tmp/moe-ab-old run /tmp/moe-old.bin >> "$OUT/moe-ab-old.log" 2>&1 \
      && /tmp/moe-ab cmp /tmp/moe-new.bin /tmp/moe-old.bin >> "$OUT/moe-ab.log" 2>&1
    grep -E "^MOE|error" "$OUT/moe-ab-old.log" | sed 's/^/old: /'
  fi
  grep -E "^(MOE|CAND|CMP)|error" "$OUT/moe-ab.log"
fi
if has ceab; then  # cross-entropy chunk and optimizer pass: new headers (and the first OLD_TREE's), alternating, dumps compared
  CE_NVCC=(nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a)
  "${CE_NVCC[@]}" -o /tmp/ce-ab train/native/dev/ce-ab.cu > "$OUT/ce-ab.log" 2>&1 & ce_pid=$!
  if [[ -n ${OLD_TREE:-} ]]; then
    CE_OLD=${OLD_TREE%% *}
    mkdir -p "$CE_OLD/train/native/dev" && cp train/native/dev/ce-ab.cu "$CE_OLD/train/native/dev/ce-ab.cu"
    "${CE_NVCC[@]}" -o /tmp/ce-ab-old "$CE_OLD/train/native/dev/ce-ab.cu" > "$OUT/ce-ab-old.log" 2>&1
  fi
  wait $ce_pid
  if [[ -n ${OLD_TREE:-} ]]; then
    for r in 1 2; do
      /tmp/ce-ab-old run /tmp/ce-old-$r.bin >> "$OUT/ce-ab-old.log" 2>&1
      /tmp/ce-ab run /tmp/ce-new-$r.bin >> "$OUT/ce-ab.log" 2>&1
    done
    grep -E "^(CE|ADAMW)|rror" "$OUT/ce-ab-old.log" | sed 's/^/old: /'
    { echo "CMP new against old"; /tmp/ce-ab cmp /tmp/ce-new-1.bin /tmp/ce-old-1.bin
      echo "CMP new run 2 against run 1"; /tmp/ce-ab cmp /tmp/ce-new-2.bin /tmp/ce-new-1.bin | tail -1
      echo "CMP old run 2 against run 1"; /tmp/ce-ab cmp /tmp/ce-old-2.bin /tmp/ce-old-1.bin | tail -1; } >> "$OUT/ce-ab.log" 2>&1
    rm -f /tmp/ce-*.bin
  else /tmp/ce-ab run /tmp/ce-new-1.bin >> "$OUT/ce-ab.log" 2>&1; fi
  grep -E "^(CE|ADAMW|CMP)|rror" "$OUT/ce-ab.log"
fi
BUNDLE=${BUNDLE:-.offline/gpu-check.mjs}
if has benchab; then
  trees=() names=() pids=()
  for t in ${OLD_TREE:-}; do
    [[ -f $t/train/native/build.sh ]] || { echo "benchab: OLD_TREE $t must hold train/native/build.sh"; exit 1; }
    trees+=("$(cd "$t" && pwd)") names+=("$(basename "$t")")  # absolute: the addon is require()d
  done
  ((${#trees[@]})) || { echo "benchab: OLD_TREE must name a tree"; exit 1; }
  ((${#trees[@]} == 1)) && names=(old)
  for i in "${!trees[@]}"; do
    if [[ ${OLD_BUILD:-1} == 0 && -f ${trees[$i]}/train/native/build/steel_cuda.node ]]; then echo "benchab: reusing ${names[$i]}'s addon (OLD_BUILD=0)"
    else bash "${trees[$i]}/train/native/build.sh" > "$OUT/benchab-build-${names[$i]}.log" 2>&1 & pids+=($!); fi
  done
  for p in "${pids[@]}"; do wait "$p" || { tail -30 "$OUT"/benchab-build-*.log; echo "benchab: OLD BUILD FAILED"; exit 1; }; done
  ab_json=()
  for round in $(seq 1 "${AB_ROUNDS:-2}"); do
    for i in "${!trees[@]}" new; do
      if [[ $i == new ]]; then side=new addon=$STEEL_CUDA_ADDON; else side=${names[$i]} addon=${trees[$i]}/train/native/build/steel_cuda.node; fi
      j=$OUT/benchab-$round-$side.json
      STEEL_CUDA_ADDON=$addon $NODE "$BUNDLE" bench --preset "$PRESETS" --bench-steps "${BENCH_STEPS:-10}" --json "$j" \
        > "$OUT/benchab-$round-$side.log" 2>&1 || { tail -20 "$OUT/benchab-$round-$side.log"; echo "benchab: $side run $round failed"; }
      ab_json+=("$side=$j")
    done
  done
  $NODE -e '
    const fs = require("fs"), losses = {};
    for (const a of process.argv.slice(1)) {
      const [side, f] = [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)];
      if (!fs.existsSync(f)) { console.log(`BENCHAB ${side} ${f}: no result`); continue; }
      for (const [k, r] of Object.entries(JSON.parse(fs.readFileSync(f, "utf8"))).filter(([k]) => k.startsWith("bench-"))) {
        console.log(`BENCHAB ${side} ${r.preset}: ${Math.round(r.tokensPerS)} tok/s, median step ${r.stepMsMedian.toFixed(1)} ms`);
        ((losses[r.preset] ??= {})[side] ??= []).push(JSON.stringify(r.losses));
      }
    }
    for (const [p, bySide] of Object.entries(losses)) {
      for (const [side, l] of Object.entries(bySide))
        console.log(`BENCHAB ${p} ${side}: losses ${new Set(l).size === 1 ? "identical" : "DIFFER"} across its ${l.length} runs`);
      const all = Object.values(bySide).flat();
      console.log(`BENCHAB ${p}: losses ${new Set(all).size === 1 ? "identical" : "DIFFER"} across all ${all.length} runs`);
    }
  ' "${ab_json[@]}" | tee "$OUT/benchab.txt"
fi
node_sections=""
for s in attn cpu torch finetune decode decodebench dpobench bench sftbench; do has $s && node_sections="$node_sections $s"; done
if has torch; then
  t0=$(date +%s)
  python3 bench/gpu-baseline.py parity --dir /tmp/parity --layers 2 --B 3 --T 2048 --steps 50 2>&1 | tee "$OUT/torch-parity.log" | tail -5
  echo "torch parity dump: $(( $(date +%s) - t0 )) s"
fi
if [[ -n $node_sections ]]; then
  $NODE "$BUNDLE" $node_sections --preset "$PRESETS" --torch-dir /tmp/parity --bench-steps "${BENCH_STEPS:-10}" --decode-dir "${DECODE_DIR:-/tmp/steel-decode}" --json "$OUT/gpu-check.json" 2>&1 | tee "$OUT/gpu-check.log" | grep -v "^PASS"
fi
if has decodebench && [[ ${PEER_PRESETS:-} != none ]]; then
  python3 bench/decode-peer.py --dir "${DECODE_DIR:-/tmp/steel-decode}" --presets "${PEER_PRESETS:-$PRESETS}" --json "$OUT/decode-peer.json" 2>&1 | tee "$OUT/decode-peer.log" | grep -E "^PEER|Error|error" | tail -6
fi
if has fte2e; then
  F=/tmp/steel-ft FTDATA=${FTDATA:-.offline/ftdata}
  rm -rf "$F" && mkdir -p "$F"
  t0=$(date +%s)
  { $NODE .offline/steel-ft.mjs start "$F/start" &&
    $NODE .offline/steel-ft.mjs sft --from "$F/start" --data "$FTDATA/sft-data" --out "$F/sft" --backend cuda --epochs 2 \
      --batch 16 --micro-batch 16 --lr 1e-3 --log-every 8 &&
    $NODE .offline/steel-ft.mjs dpo --from "$F/sft" --data "$FTDATA/dpo-data" --out "$F/dpo" --backend cuda --epochs 1 \
      --batch 16 --micro-batch 8 --lr 1e-4 --log-every 4; } > "$OUT/fte2e.log" 2>&1
  echo "fte2e: exit $? in $(( $(date +%s) - t0 )) s"; grep -E "^(sft|dpo) step|start model|done|rror" "$OUT/fte2e.log" | tail -12
fi
if has resume; then
  t0=$(date +%s)
  NODE=$NODE scripts/gpu/real-run.sh 2>&1 | tee "$OUT/resume.log" | tail -12
  echo "kill/resume run: $(( $(date +%s) - t0 )) s"
fi
if has torchbench; then
  python3 bench/gpu-baseline.py bench --preset "$PRESETS" --variants "${TORCH_VARIANTS:-eager,compile}" --steps "${BENCH_STEPS:-10}" --json "$OUT/torch-bench.json" 2>&1 | tee "$OUT/torch-bench.log" | grep -v Warning | tail -4
fi
if has ref; then  # the project owner's reference implementation, torch.compile, same card
  : > "$OUT/steel-ref.jsonl"
  for p in ${PRESETS//,/ }; do
    case $p in
      steel-1b) args="" ;;
      qwen2-dense-1b) args="--dense --inter 3584" ;;
      *) echo "ref: no steel_ref.py shape for preset $p"; continue ;;
    esac
    t0=$(date +%s)
    python3 bench/torch-ref/steel_ref.py --compile --steps "${REF_STEPS:-15}" $args 2> "$OUT/steel-ref-$p.err" | grep '^{' | sed "s/^{/{\"preset\": \"$p\", /" | tee -a "$OUT/steel-ref.jsonl" || tail -5 "$OUT/steel-ref-$p.err"
    echo "steel_ref.py $p: $(( $(date +%s) - t0 )) s"
  done
fi
python3 bench/gpu-table.py "$OUT/gpu-check.json" "$OUT/torch-bench.json" "$OUT/steel-ref.jsonl" | tee "$OUT/table.md"
