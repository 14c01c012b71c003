#!/usr/bin/env bash
# `steel prep` on the bundled sample with 1 and 2 workers pinned to CORES (default 0,1) of a machine with no other
# load, alternating, ROUNDS (3) times: the wall-clock speed-up of `--workers 2` on two dedicated cores (issue 21's
# target), which the shared 2-core dev VM cannot show. For the GPU host (no Node, no npm packages): carry
# .offline/node.xz and .offline/prep/ (rt.tar.xz: dist/, the runtime packages prep loads, run-dist.mjs; built by
# scripts/gpu/bundle-prep.sh); run from the repository root. Prints one line per run (workers, wall s, CPU-s of the
# command) and each round's speed-up. INPUTS: input specs separated by spaces, each passed as `--input SPEC` (default:
# none, the bundled sample), e.g. INPUTS='sample=corpora-manifests/sample/*.jsonl.zst sample=.offline/prep/extra/*.zst'.
set -euo pipefail
CORES=${CORES:-0,1}
ROUNDS=${ROUNDS:-3}
inputs=()
for i in ${INPUTS:-}; do inputs+=(--input "$i"); done
N=/tmp/node-prep
[[ -x $N ]] || { xz -dc .offline/node.xz > $N && chmod +x $N; }
[[ -f run-dist.mjs ]] || tar xJf .offline/prep/rt.tar.xz
run() { # workers
  local t0 c
  t0=$(date +%s.%N)
  c=$( { TIMEFORMAT='%U %S'; time taskset -c "$CORES" $N run-dist.mjs prep --workers "$1" "${inputs[@]}" --out /tmp/prep-cores-$1 --fresh \
    > /tmp/prep-cores-$1.log 2>&1; } 2>&1 )
  awk -v w="$1" -v t0="$t0" -v t1="$(date +%s.%N)" -v c="$c" \
    'BEGIN {split(c, u, " "); printf "workers %s: %.2f s wall, %.2f CPU-s\n", w, t1 - t0, u[1] + u[2]}'
}
$N --version
nproc
for r in $(seq "$ROUNDS"); do run 1; run 2; done | tee /tmp/prep-cores.txt
awk '/workers 1/ {a[++i]=$3} /workers 2/ {b[++j]=$3} END {for (k = 1; k <= i; k++) printf "round %d: speed-up %.2fx\n", k, a[k]/b[k]}' /tmp/prep-cores.txt
