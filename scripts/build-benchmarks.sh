#!/usr/bin/env bash
# Rebuilds BENCHMARKS.md: the summary (bench/results/SUMMARY.md) followed by each area's results file
# (bench/results/*.md, written by the benchmark scripts with command, machine and date).
set -euo pipefail
cd "$(dirname "$0")/.."
{
  cat bench/results/SUMMARY.md
  for area in foundation prep filters prep-eval dedup tokenizer-encode tokenizer train finetune gpu decode multi-gpu collect eval startup; do
    f=bench/results/$area.md
    [ -f "$f" ] || continue
    echo
    echo "---"
    echo
    # demote headings one level so the areas nest under this page's title
    sed -e 's/^#/##/' "$f"
  done
} > BENCHMARKS.md.tmp
mv BENCHMARKS.md.tmp BENCHMARKS.md
