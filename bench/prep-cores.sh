#!/usr/bin/env bash
# `steel prep` with 1 and 2 workers pinned to CORES (default 0,1) of a machine with no other load, alternating, ROUNDS
# (3) times: the CPU-seconds of a 1-worker run on a quiet machine, and the wall-clock speed-up of `--workers 2` on two
# dedicated cores (issue 21's target), which the shared 2-core dev VM cannot show. For the GPU host (no Node, no npm
# packages): carry .offline/node.xz and .offline/prep/ (built by scripts/gpu/bundle-prep.sh); run from the repository
# root.
#   TREES: the trees to run, alternating within each round (default "."): "." is this checkout with
#     .offline/prep/rt.tar.xz (dist/, the runtime packages, run-dist.mjs) unpacked into it; NAME=FILE.tar.xz is a
#     whole other tree (bundle-prep.sh TREE NAME), unpacked under /tmp, with this checkout's bundled sample.
#   INPUTS: input specs separated by spaces, each passed as `--input SPEC` (default: none, the bundled sample); a
#     relative path is resolved from this checkout.
#   RECIPE: a recipe file passed as `--recipe` (default: none, the default zh-web recipe); a relative path is resolved
#     from this checkout. bench/prep.ts's map-only recipe (zh-web without its global steps) measures the map steps.
#   STATS: a folder to keep each run's stats.json in (TREE-WORKERS-ROUND.json; default: not kept).
#   ONE_CORE=1: each round also runs 1 worker pinned to the first of CORES alone ("1c"), the baseline of per-core
#     scaling: a 1-worker run keeps more than one core busy (V8's compiler and GC threads), so on the same two cores
#     its wall time already uses part of the second.
#   RUNS: the runs of each tree in a round, in order (default "1 2", with ONE_CORE=1 "1c 1 2"); e.g. RUNS="1c 2" for
#     issue 21's ratio alone.
#   MAX_COMPUTE_S: stop (exit 3) when the host check's compute loop takes longer (e.g. 2.45 on an H100 host).
# Each tree runs once before the first round, not counted (a fresh machine's first run is slower).
# Prints one line per run (tree, workers, wall s, CPU-s of the command) and, per tree, the medians.
set -euo pipefail
CORES=${CORES:-0,1}
ROUNDS=${ROUNDS:-3}
ROOT=$PWD
N=/tmp/node-prep
[[ -x $N ]] || { xz -dc .offline/node.xz > $N && chmod +x $N; }
inputs=()
for i in ${INPUTS:-}; do
  case $i in */*) [[ ${i#*=} = /* ]] || i="${i%%=*}=$ROOT/${i#*=}" ;; esac
  inputs+=(--input "$i")
done
recipe=()
if [[ -n ${RECIPE:-} ]]; then
  [[ $RECIPE = /* ]] || RECIPE=$ROOT/$RECIPE
  recipe=(--recipe "$RECIPE")
fi
declare -A dir
names=()
for t in ${TREES:-.}; do
  if [[ $t == . ]]; then
    [[ -f run-dist.mjs ]] || tar xJf .offline/prep/rt.tar.xz
    dir[this]=$ROOT
    names+=(this)
  else
    n=${t%%=*}
    d=/tmp/prep-tree-$n
    if [[ ! -f $d/run-dist.mjs ]]; then
      rm -rf "$d" && mkdir -p "$d" && tar xJf "${t#*=}" -C "$d"
      [[ -e $d/corpora-manifests/sample ]] || ln -s "$ROOT/corpora-manifests/sample" "$d/corpora-manifests/sample"
    fi
    dir[$n]=$d
    names+=("$n")
  fi
done
run() { # tree workers round ("1c": 1 worker on the first core of CORES)
  local t0 c cores=$CORES w=$2
  [[ $w == 1c ]] && { cores=${CORES%%,*}; w=1; }
  t0=$(date +%s.%N)
  c=$( { TIMEFORMAT='%U %S'; time (cd "${dir[$1]}" && taskset -c "$cores" $N run-dist.mjs prep --workers "$w" \
    "${recipe[@]}" "${inputs[@]}" --out "/tmp/prep-cores-$1-$2" --fresh > "/tmp/prep-cores-$1-$2.log" 2>&1); } 2>&1 )
  awk -v n="$1" -v w="$2" -v t0="$t0" -v t1="$(date +%s.%N)" -v c="$c" \
    'BEGIN {split(c, u, " "); printf "%s workers %s: %.2f s wall, %.2f CPU-s\n", n, w, t1 - t0, u[1] + u[2]}'
  if [[ -n ${STATS:-} && $3 != 0 ]]; then mkdir -p "$STATS" && cp "/tmp/prep-cores-$1-$2/stats.json" "$STATS/$1-$2-$3.json"; fi
}
$N --version
nproc
# the host's speed first: bench/core-contention.mjs's compute loop pinned to the first core (2.29 CPU-s on a clean
# H100 host; 2.59-2.76 on the slow, noisy hosts of session 23, whose 1-worker runs of one tree ranged over 25-30 s):
# with MAX_COMPUTE_S set, a slower host stops the script (exit 3) before its runs
c=$(taskset -c "${CORES%%,*}" $N bench/core-contention.mjs --kind compute)
echo "host check: compute loop $c CPU-s"
if [[ -n ${MAX_COMPUTE_S:-} ]] && awk -v c="$c" -v m="$MAX_COMPUTE_S" 'BEGIN {exit !(c > m)}'; then
  echo "host slower than MAX_COMPUTE_S=$MAX_COMPUTE_S: stopped"
  exit 3
fi
# one run of each tree before the first round, not counted: on a fresh GPU host the first run was slower in CPU, not
# only in wall (its map tasks up to 2× their later CPU: the inputs read from disk, the guest's memory touched for the
# first time)
for n in "${names[@]}"; do run "$n" 2 0 > /dev/null; done
RUNS=${RUNS:-${ONE_CORE:+1c }1 2}
for r in $(seq "$ROUNDS"); do for n in "${names[@]}"; do
  for w in $RUNS; do run "$n" "$w" "$r"; done
done; done | tee /tmp/prep-cores.txt
for n in "${names[@]}"; do
  awk -v n="$n" '
    function med(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
    $1 == n && $3 == "1:" {w1[++i] = $4; c1[i] = $7; s[i] = $4}
    $1 == n && $3 == "1c:" {w0[++h] = $4; c0[h] = $7; s0[h] = $4}
    $1 == n && $3 == "2:" {w2[++j] = $4; c2[j] = $7; s[j] = s[j] / $4; if (j <= h) s0[j] = s0[j] / $4}
    END {if (i) printf "%s: 1 worker %.2f s wall, %.2f CPU-s; 2 workers %.2f s, %.2f CPU-s; speed-up %.2fx (medians of %d)\n",
      n, med(w1, i), med(c1, i), med(w2, j), med(c2, j), med(s, j), i
      if (h && j) printf "%s: 1 worker on 1 core %.2f s wall, %.2f CPU-s; 2 workers on 2 cores: speed-up %.2fx over it (median of %d)\n",
        n, med(w0, h), med(c0, h), med(s0, h), h}' /tmp/prep-cores.txt
done
